// Package rpcserver runs the server side of RPC: it listens on a target
// through a transport, hands each request to a bounded pool of workers,
// dispatches it to an endpoint method with package dispatcher, and sends
// the result or the error back to the caller. It is oslo.messaging's RPC
// server for Go.
//
// Its lifecycle follows net/http: Serve blocks while the server runs,
// Shutdown stops taking requests and lets those in flight finish and reply,
// Close stops at once.
//
//	d, err := dispatcher.New([]*endpoints.Endpoint{calc})
//	...
//	srv := rpcserver.New(tr, target.Target{Topic: "calculator", Server: host}, d)
//	go func() { errc <- srv.Serve(ctx) }()
//	...
//	err = srv.Shutdown(shutdownCtx)
//
// # Requests
//
// A handler's ctx carries the request's deadline, when the caller sent one,
// and the caller's request context: typed with
// serializer.RequestContextFrom, as a map with endpoints.RequestContext.
// The server's Serializer (package serializer; plain JSON unless set)
// decodes the request context and the arguments before the handler runs
// and encodes its result; what it cannot decode reaches the caller as an
// error, and the handler does not run. A request
// whose deadline passed before a worker could take it is dropped without
// running: its caller has given up. While a call runs, the server sends the
// heartbeats the caller asked for with a call-monitor interval.
//
// # Errors sent to callers
//
// An error that names an exception class (endpoints.Classed, such as
// *endpoints.Error or the dispatcher's errors) reaches the caller with that
// class and module; any other error reaches it as a builtins.RuntimeError
// with the error's text. A handler that panics is reported as a
// RuntimeError "panic: ..." whose traceback is the Go stack; the server
// keeps serving.
package rpcserver
