package rpcclient

import (
	"context"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
)

// Invocation is one call or cast on its way to the transport, as
// interceptors see it.
type Invocation struct {
	// Target is where the request goes.
	Target target.Target
	// Request is the request, built for this invocation alone: an
	// interceptor may change its fields before calling next, for instance
	// to add a traceparent to Headers, which a server's interceptors see
	// as dispatcher.Request.Headers. Its maps may be shared with the
	// client: replace them, never write into them.
	Request *message.Request
	// Cast is true for a cast, which gets no reply, and false for a call.
	Cast bool
}

// Invoker sends an invocation: the next step an Interceptor calls. For a
// call it returns the reply (whose Failure, if any, the client turns into
// an error); for a cast, a nil reply.
type Invoker func(ctx context.Context, inv *Invocation) (*message.Reply, error)

// Interceptor wraps every call and cast a client sends, for tracing,
// metrics, logging or authentication, as grpc's UnaryClientInterceptor
// does. It calls next to send the invocation (or does not, to refuse it)
// and returns what next returned, or its own reply or error. The client
// may run an interceptor from many goroutines at once.
type Interceptor func(ctx context.Context, inv *Invocation, next Invoker) (*message.Reply, error)
