package transport

import (
	"context"
	"encoding/json"
	"time"

	"github.com/warrenrpc/warren/target"
)

// Transport moves RPC requests and replies. Drivers implement it; the RPC
// client and server are written against it. A Transport is safe for
// concurrent use by multiple goroutines.
type Transport interface {
	// Cast publishes req to tgt and returns once the driver has handed it
	// to the broker (with RabbitMQ: once the broker confirmed it). With
	// tgt.Fanout it reaches every server of tgt.Topic. A request no queue
	// can take fails with an error matching ErrNoRoute.
	Cast(ctx context.Context, tgt target.Target, req *Request) error
	// Call publishes req to tgt and waits, until ctx ends, for the final
	// reply. The driver fills req.MsgID and req.ReplyTo. A call without a
	// ctx deadline is refused: callers choose the timeout. When
	// req.CallMonitor is set, the call also fails if no heartbeat or reply
	// arrives within that interval. On timeout the error matches both
	// ErrTimeout and context.DeadlineExceeded.
	Call(ctx context.Context, tgt target.Target, req *Request) (*Reply, error)
	// Listen starts consuming what the server tgt should receive: the
	// topic's shared queue, the server's own queue and its fanout queue.
	// tgt must name a topic and a server.
	Listen(ctx context.Context, tgt target.Target) (Listener, error)
	// Close releases the transport. Pending calls fail with ErrClosed.
	// It is idempotent.
	Close() error
}

// Listener hands a server the requests that reach it. Next may be called by
// one goroutine at a time; Stop and Close by any.
type Listener interface {
	// Next blocks until a request arrives, ctx ends, or the listener is
	// stopped or closed (then it returns ErrClosed). Messages that are not
	// valid requests are rejected by the driver and skipped; an error from
	// Next means the listener will deliver nothing more. The driver acks the
	// request as it hands it out (at-most-once, as oslo.messaging does),
	// so a request that Next never returns is not lost: it goes back to
	// the broker for another server.
	Next(ctx context.Context) (Incoming, error)
	// Stop stops consuming. Requests already returned by Next can still
	// reply. It is idempotent.
	Stop() error
	// Close stops consuming and releases the listener. It is idempotent.
	Close() error
}

// Incoming is one request received by a listener. Its methods may be called
// from any goroutine, one at a time.
type Incoming interface {
	// Request returns the decoded request. The caller must not modify it.
	Request() *Request
	// Reply sends the final reply to the caller. For a cast it does
	// nothing and returns nil. It may be called once; later calls return
	// an error matching ErrReplied.
	Reply(ctx context.Context, r *Reply) error
	// Heartbeat tells a call-monitoring caller the request is still being
	// worked on. For a cast, or a call without CallMonitor, it does nothing.
	Heartbeat(ctx context.Context) error
}

// Request is one RPC request, a call or a cast, as plain data.
type Request struct {
	// Method is the endpoint method to run. Required.
	Method string
	// Args holds the keyword arguments as a JSON object. Nil sends {}.
	Args json.RawMessage
	// Namespace selects endpoints; zero sends none.
	Namespace string
	// Version is the requested API version; zero sends none.
	Version string
	// Context is the request context, sent as _context_<key> entries.
	// Nil sends none.
	Context map[string]any
	// Deadline is when the caller stops waiting. Zero means none: casts
	// usually have none. A server does not run a request whose deadline
	// has passed.
	Deadline time.Time
	// CallMonitor, on a call, asks the server to send heartbeats every
	// half of it while the method runs (oslo's call_monitor_timeout, sent
	// as _timeout). Zero asks for none.
	CallMonitor time.Duration
	// MsgID identifies a call and its replies. Drivers set it on calls; it
	// is empty on casts.
	MsgID string
	// ReplyTo is where replies to a call go. Drivers set it.
	ReplyTo string
	// UniqueID identifies this message for duplicate detection. Drivers
	// set it when empty.
	UniqueID string
}

// IsCall reports whether r expects a reply.
func (r *Request) IsCall() bool { return r.MsgID != "" }

// Reply is the final answer to a call: a result or a failure.
type Reply struct {
	// Result is the method's return value as JSON. Nil or "null" means
	// none.
	Result json.RawMessage
	// Failure describes the error the method raised. Nil on success.
	Failure *Failure
}

// Failure is a remote exception as oslo.messaging serializes it.
type Failure struct {
	// Class is the exception class name, such as "ValueError".
	Class string `json:"class"`
	// Module is the module that defines Class, such as "builtins".
	Module string `json:"module"`
	// Message is the exception's text.
	Message string `json:"message"`
	// Traceback holds the remote stack, one entry per frame.
	Traceback []string `json:"tb"`
	// Args are the exception's positional arguments.
	Args []any `json:"args"`
	// Kwargs are the exception's keyword arguments.
	Kwargs map[string]any `json:"kwargs"`
}

// Notification is one oslo.messaging notification as plain data.
type Notification struct {
	// MessageID identifies the notification: a UUID with dashes. Encoders
	// make one when it is empty.
	MessageID string
	// PublisherID names the sender, such as "compute.host1".
	PublisherID string
	// EventType names the event, such as "compute.instance.create.end".
	EventType string
	// Priority is the upper-case priority: AUDIT, DEBUG, INFO, WARN,
	// ERROR, CRITICAL or SAMPLE.
	Priority string
	// Payload is the event's data as JSON. Nil sends null.
	Payload json.RawMessage
	// Timestamp is when the event happened. Zero means now on encoding.
	Timestamp time.Time
	// Context is the request context, sent as _context_<key> entries.
	Context map[string]any
	// UniqueID identifies this message for duplicate detection. Encoders
	// make one when it is empty.
	UniqueID string
}
