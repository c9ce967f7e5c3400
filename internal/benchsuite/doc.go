// Package benchsuite measures warren against the best hand-written
// amqp091-go code on the same broker, in the same run, interleaved: RPC
// calls (a private reply queue and Direct Reply-to, correlation ids, many
// calls in flight on one connection, a tuned prefetch, multiple acks) and
// a cast publisher with streamed publisher confirms, against warren's
// Call and confirmed Cast at several concurrencies, payload sizes and a
// fanout to three servers. Every variant runs in the one process, so CPU
// seconds and allocations count client and server together.
//
// Run it with ./scripts/bench; its smoke test runs under go test -short.
package benchsuite
