// Package rpcclient sends RPC requests to the servers of a target: calls,
// which wait for a reply, casts, which do not, and fanout casts, which reach
// every server of a topic. It is oslo.messaging's RPCClient for Go.
//
// A Client is built once from a transport and a target with New. Prepare
// derives a Client that differs in some settings (server, version,
// timeout, ...) without changing the original, as oslo's prepare() does:
//
//	c := rpcclient.New(tr, target.Target{Topic: "calculator"}, rpcclient.VersionCap("1.3"))
//	var sum int
//	err := c.Prepare(rpcclient.Version("1.2")).Call(ctx, "add", map[string]int{"a": 1, "b": 2}, &sum)
//
// Arguments travel as a JSON object of keyword arguments; the reply is
// decoded from JSON into the pointer given to Call. The client's Serializer
// (package serializer; plain JSON unless set) encodes the arguments and the
// request context and prepares the result for decoding.
//
// # Request context
//
// The request context (oslo's ctxt) travels on the call's ctx:
//
//	ctx = serializer.WithRequestContext(ctx, &serializer.RequestContext{UserID: "u1", RequestID: "req-1"})
//
// It is laid key by key over the map of the RequestContext option, so a
// client can carry fixed entries and each call add its own. A handler that
// calls on with its own ctx passes its caller's context on.
//
// # Deadlines
//
// A call's timeout is its ctx deadline. When ctx has none, the client's
// Timeout (60 s unless set) applies. The deadline travels with the request:
// the server's handler sees it, and a server does not run a request whose
// deadline has passed. A call that gets no reply in time fails with an error
// matching both ErrTimeout and context.DeadlineExceeded. With CallMonitor a
// call also fails when the server stops sending heartbeats.
//
// # Typed results
//
// Call decodes the result into the pointer it is given; the generic Call
// function returns it as a value of the type asked for:
//
//	sum, err := rpcclient.Call[int](ctx, c, "add", map[string]int{"a": 1, "b": 2})
//
// Numbers decoded into an interface value are json.Number, so integers
// beyond 2^53 (which Python sends as they are) keep every digit.
//
// # Errors
//
// An error the remote method returned wraps a *rpcerr.RemoteError with the
// exception class, module and message the server sent. Failures of the
// server's dispatcher match rpcerr.ErrNoSuchMethod and
// rpcerr.ErrUnsupportedVersion, whether the server is in Go or Python; a
// warren server's refusals match rpcerr.ErrServerShuttingDown and
// rpcerr.ErrReplyTooLarge. With Errors, a failure of a registered class
// unwraps to a value of the service's own error type, so errors.As finds
// it. Transport conditions are the transport's sentinels, matched as they
// are: transport.ErrTimeout, transport.ErrClosed, transport.ErrNoRoute,
// transport.ErrConnectionLost and so on; this package defines no copies. A
// bad target matches target.ErrInvalid; a message above the version cap is
// a *VersionCapError.
//
// # Interceptors
//
// An Interceptor wraps every call and cast of a client, seeing its target
// and its request (which it may change, to add a header for instance)
// before the transport does, as grpc's client interceptors do. Tracing,
// metrics and authentication belong there; package otelwarren has the
// OpenTelemetry ones.
//
// # Options
//
// Options are bare names (Topic, Timeout, Interceptors, ...). Leaving one
// out, or its zero value, means its default; a value out of range (a
// negative Timeout, a nil interceptor) is not silently replaced: every
// Call and Cast of the client fails with it.
package rpcclient
