// Package otelwarren traces and measures warren's RPC with OpenTelemetry:
// a span per call and cast a client sends and per request a server
// handles, linked across services through W3C trace context carried in
// the request's headers, and metrics for both sides.
//
// It lives in a package of its own so that a program that does not import
// it pays nothing: the core packages (rpcclient, rpcserver, dispatcher)
// know nothing of OpenTelemetry, and only this package pulls in its API
// (go.opentelemetry.io/otel, never the SDK, which the program chooses).
// It is built on the interceptors the core offers to everyone:
//
//	c := rpcclient.New(tr, tgt, rpcclient.Interceptors(otelwarren.ClientInterceptor()))
//	srv := rpcserver.New(tr, tgt, d, rpcserver.Interceptors(
//		otelwarren.ServerInterceptor(), rpcserver.LogErrors(logger), rpcserver.Recover()))
//	stop, err := otelwarren.ObserveServer(srv)
//
// Without options the interceptors use the global providers
// (otel.GetTracerProvider, otel.GetMeterProvider), and propagate W3C
// traceparent, tracestate and baggage whatever the global propagator is,
// so that Go services agree on the wire without configuration.
//
// # Traces
//
// A client's span is named "call <topic>" or "cast <topic>", of kind client
// for a call and producer for a cast; a server's is "process <topic>", of
// kind server for a call and consumer for a cast, the child of the
// caller's span when the request carries one. A request without trace
// context, from an oslo.messaging peer for instance, starts a new trace
// (the values of the server's own ctx never make it a child). Attributes
// follow OpenTelemetry's messaging conventions: messaging.system
// ("rabbitmq" unless System says otherwise), messaging.destination.name
// (the topic), messaging.operation.name ("call", "cast" or "process"),
// messaging.operation.type ("send" or "process"), messaging.message.id
// (the request's _unique_id), with rpc.system "oslo_messaging",
// rpc.method, and warren.rpc.namespace, warren.rpc.version and
// warren.target.server when the request has them. A failed request sets
// the span's status to error and error.type to the remote exception's
// class or the condition (timeout, no_route, connection).
//
// Notifications get a producer span "send <event type>" per notification
// and topic from NotifyDriver, which wraps the notifier's driver, and a
// consumer span "process <event type>" per dispatch from
// ListenerInterceptor. Oslo's notification format has no headers, so no
// trace context travels with a notification: the listener's span starts a
// trace of its own.
//
// Oslo.messaging peers ignore the headers, so Python services on the bus
// keep working; they neither continue nor propagate a trace.
//
// # Metrics
//
// Clients record warren.client.requests (a counter) and
// warren.client.duration (a histogram, in seconds) by
// messaging.operation.name, rpc.method, messaging.destination.name and
// warren.outcome: "ok", "remote_error" (with error.type the exception
// class), "timeout", "no_route", "connection" (the connection was lost or
// closed, or the request was not sent, or its fate is unknown, or the
// broker blocks publishing) or "error"; and
// warren.client.calls.in_flight, the calls waiting for their reply.
// Servers record warren.server.requests and warren.server.duration by the
// same attributes, with warren.outcome "ok" or "error" (error.type the
// class the caller sees). ObserveServer adds warren.server.workers, the
// size of a server's pool, warren.server.workers.busy, the workers
// handling a request, and warren.server.requests.expired, the requests
// dropped because their deadline had passed.
//
// ConnectionStates gives the RabbitMQ driver's OnStateChange a function
// that reports its connection: warren.connection.state (1 for the current
// state, 0 for the others), warren.connection.drops and
// warren.connection.reconnects:
//
//	tr, err := rabbit.Dial(ctx, url, rabbit.OnStateChange(otelwarren.ConnectionStates()))
//
// Drops gives a driver's OnDrop (rabbit.OnDrop, memory.OnDrop) a function
// that counts warren.messages.dropped, the messages the driver rejected
// (too large or not valid) or dropped as duplicates, by
// warren.drop.reason:
//
//	tr, err := rabbit.Dial(ctx, url, rabbit.OnDrop(otelwarren.Drops()))
//
// Notifiers count warren.notifications.sent and listeners
// warren.notifications.handled, each with its duration, by
// warren.notification.priority and warren.outcome.
//
// A server takes a request only when a worker is free, so no request
// waits for a worker inside it: requests beyond its workers wait in the
// broker, where busy workers equal to the pool's size shows them.
package otelwarren
