// Package warren is a library for Go services that talk over RabbitMQ,
// shaped after OpenStack's oslo.messaging and speaking its 2.0 wire format,
// so Go and Python services can share one bus.
//
// A client calls (request and reply, bounded by the ctx deadline), casts (fire
// and forget) or fanout-casts (to every server of a topic) to a target.
// Servers of one topic share its requests round-robin; each is also reachable
// by name. A dispatcher routes each request to an endpoint method by
// namespace, version and method name.
//
//	call:  rpcclient.Client.Call ─▶ transport.Transport.Call ─▶ driver (rabbit | memory) ─▶ broker
//	serve: broker ─▶ driver listener ─▶ rpcserver.Server (worker pool) ─▶ dispatcher ─▶ endpoints
//	reply: endpoint result | error ─▶ Incoming.Reply ─▶ caller's reply queue ─▶ waiter by _msg_id ─▶ Call returns
//	notify: notify.Notifier ─▶ transport.Notifications.Notify ─▶ broker ─▶ notify.Listener (workers) ─▶ handlers by priority
//
// The packages, from the bottom up:
//
//   - target: where a message goes (exchange, topic, namespace, version,
//     server, fanout) and oslo's version rule.
//   - transport: the interface drivers implement, transport URLs, Config
//     from WARREN_* variables, sentinel errors.
//   - transport/rabbit: the RabbitMQ driver; transport/memory: the
//     in-process driver for tests, examples and demos.
//   - endpoints and dispatcher: declaring handlers and routing requests to
//     them.
//   - rpcerr: the errors that cross the wire, matched the same way on
//     both sides.
//   - serializer: oslo's Serializer hook, which clients and servers take: how
//     arguments, results and the request context are turned into JSON and
//     back; plain JSON by default, with a typed RequestContext and a codec for
//     oslo.versionedobjects' versioned objects.
//   - rpcclient and rpcserver: the client and the server.
//   - notify: the notifier and the notification listener (pools, filters,
//     requeues, batches).
//
// This package only opens a transport from a Config, which is what most
// programs need:
//
//	cfg, err := transport.ConfigFromEnv() // WARREN_TRANSPORT_URL, WARREN_CONTROL_EXCHANGE
//	tr, err := warren.Dial(ctx, cfg, warren.Logger(log), warren.Rabbit(rabbit.Prefetch(10)))
//
// A Config without URL is an error: the in-process memory driver is chosen
// only by the URL memory://, so a service that forgot WARREN_TRANSPORT_URL
// fails at start instead of running alone. Options follow one convention in
// this package, transport and the drivers: a zero argument keeps the
// default, and a value out of range is an error from Dial.
package warren
