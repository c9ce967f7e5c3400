// Package benchsuite measures warren against the best hand-written
// amqp091-go code on the same broker, in the same run, interleaved: RPC
// calls (a private reply queue and Direct Reply-to, correlation ids, many
// calls in flight on one connection, a tuned prefetch, multiple acks; a
// server that echoes the request's bytes, and a pair that encodes and
// decodes oslo.messaging's messages with encoding/json) and a cast
// publisher with streamed publisher confirms, against warren's
// Call and confirmed Cast at several concurrencies, payload sizes, a
// fanout to three servers, and with the quorum ("modern") queue preset.
//
// The servers of both sides run in processes of their own: the program
// that runs the suite is started again in a server role (ServeIfChild),
// and answers the parent's questions about its CPU time on a pipe. Each
// row thus reports the CPU seconds of the client process and of the
// server process apart, and those of the broker's process when it runs
// on this machine; allocations are counted in the client process.
// Each side has one server for the call rows (the baseline's one
// consumer, warren's one rpcserver) and three for the fanout row. In the
// cast rows both publishers' casts go to the baseline's consumer, so that
// the rows compare the publishers, except in the row "to rpcserver",
// whose warren casts go to warren's rpcserver.
//
// Run it with ./scripts/bench; its smoke test runs under go test -short.
package benchsuite
