// Package rpcserver runs the server side of RPC: it listens on a target
// through a transport, hands each request to a bounded pool of workers
// (goroutines started as requests need them, up to Workers, that live
// until Serve stops taking requests, as oslo's executor threads do),
// dispatches it to an endpoint method with package dispatcher, and sends
// the result or the error back to the caller. It is oslo.messaging's RPC
// server for Go.
//
// Its lifecycle follows net/http. Listen starts consuming and returns once
// the server is reachable; Serve handles requests until its ctx ends (and
// listens first when Listen was not called); Shutdown stops taking
// requests and lets those in flight finish and reply; Close stops at once.
// A service's main needs no more than this:
//
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	srv := rpcserver.New(tr, target.Target{Topic: "calculator", Server: host}, d)
//	if err := srv.Serve(ctx); !errors.Is(err, rpcserver.ErrServerClosed) {
//		log.Fatal(err)
//	}
//
// The end of Serve's ctx is the graceful path: the server stops taking
// requests, lets running handlers finish and reply for up to its grace
// period (GracePeriod, DefaultGracePeriod unless set), then cancels the
// rest. A call whose handler was cancelled by shutdown, or by Close, gets a
// failure of class ServerShuttingDown (rpcerr.ErrServerShuttingDown) at
// once instead of waiting out its deadline. Serve returns ErrServerClosed
// on every clean stop.
//
// # Requests
//
// A handler's ctx carries the request's deadline, when the caller sent one,
// and the caller's request context: typed with
// serializer.RequestContextFrom, as a map with endpoints.RequestContext,
// and the values of Serve's ctx. The server's Serializer (package
// serializer; plain JSON unless set) decodes the request context and the
// arguments before the interceptors run and encodes the result; what it
// cannot decode reaches the caller as an error, and the handler does not
// run. A request whose deadline passed before a worker could take it is
// dropped without running: its caller has given up. While a call runs, the
// server sends the heartbeats the caller asked for with a call-monitor
// interval.
//
// # Interceptors
//
// The server wraps every request it dispatches in its interceptors
// (dispatcher.Interceptor), which see even requests that reach no method.
// By default they are LogErrors with the server's Logger (a failing call at
// debug level, a failing cast at warn, at most once a second per method, a
// panic at error), then Recover, which turns a handler's panic into a
// failure and keeps the server serving. The Interceptors option replaces
// them: include Recover (and LogErrors, if wanted) among your own. Each
// request they see carries the server's Target and the message's ids, for
// tracing (package otelwarren).
//
// # Introspection
//
// With the Introspection option a server answers InfoMethod
// ("warren_rpc_server_info") with a ServerInfo: its target, host, pid and
// start time, its worker use and request counts (Stats), and the
// namespaces, versions and methods it serves, with argument names where
// typed handlers know them. It is off by default, so that a server serves
// exactly its endpoints, as a Python server does.
//
// # At-least-once casts
//
// When the transport hands a cast out as a transport.Settler (a driver's
// at-least-once mode, such as rabbit.AtLeastOnce), the server settles it
// with the handler's result once the handler returns: a cast handled
// without error is acked (its result, sent nowhere, is not even encoded),
// and one whose handler returned an error, panicked (with Recover) or was
// cancelled by shutdown goes back to the broker for another attempt, up to
// the driver's delivery limit. Graceful shutdown lets running casts finish
// and settle before the listener closes; Close, or a process that dies,
// leaves them to the broker, which gives them to another server. Handlers
// of such casts should be idempotent (an interceptor sees the request's
// UniqueID in dispatcher.Request), since a cast whose ack was lost with a
// connection may run again on another server.
//
// # Errors sent to callers
//
// Errors become failures with rpcerr.FailureOf: an error that names an
// exception class (rpcerr.Classed, such as *rpcerr.Error or the
// dispatcher's errors) reaches the caller with that class and module; any
// other error reaches it as a builtins.RuntimeError with the error's text.
// A recovered panic is a RuntimeError "panic: ..." whose traceback is the Go
// stack. A reply the transport refuses as too large
// (transport.ErrMessageTooLarge) is replaced by a small failure of class
// MessageTooLarge (rpcerr.ErrReplyTooLarge).
//
// # Options
//
// Options are bare names (Workers, GracePeriod, Logger, Interceptors,
// Introspection).
// Leaving one out, or its zero value, means its default; a value out of
// range (a negative number of workers or grace period, a nil interceptor)
// is never silently replaced: Listen and Serve fail with it.
package rpcserver
