package transport

import (
	"context"
	"time"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
)

// DefaultMaxMessageSize is the largest message body, in bytes, a driver
// sends or accepts unless configured otherwise. Larger requests and replies
// are refused with ErrMessageTooLarge.
const DefaultMaxMessageSize = 16 << 20

// ReservedHeaderPrefix starts the names of the headers warren itself puts
// on messages, such as x-warren-deadline. Request.Headers may not use it.
const ReservedHeaderPrefix = "x-warren-"

// Transport moves RPC requests and replies, and notifications. Drivers
// implement it; the RPC client and server, the notifier and the listener
// are written against it. A Transport is safe for
// concurrent use by multiple goroutines.
type Transport interface {
	// Cast publishes req to tgt and returns once the driver has handed it
	// to the broker (with RabbitMQ: once the broker confirmed it). With
	// tgt.Fanout it reaches every server of tgt.Topic. A request no queue
	// can take fails with an error matching ErrNoRoute. ctx bounds only the
	// hand-over: a cast carries no deadline, as in oslo.messaging, and a
	// ctx that has already ended fails the cast with an error matching
	// ctx.Err(). A Cast that returns another error may still have been
	// delivered: an error matching ErrNotSent means the request never
	// reached the broker, one matching ErrOutcomeUnknown that it did,
	// unconfirmed.
	//
	// Cast never modifies req: the driver sends a copy with a new
	// _unique_id when req.UniqueID is empty, so a request sent twice is
	// two messages; one sent twice with the same UniqueID is handed out
	// once by a listener (duplicate detection). An application header named with ReservedHeaderPrefix
	// fails with ErrInvalidHeader.
	Cast(ctx context.Context, tgt target.Target, req *message.Request) error
	// Call publishes req to tgt and waits, until ctx ends, for the final
	// reply. ctx's deadline is the call's deadline, the one source of it:
	// a call without one is refused with ErrNoDeadline, and the server
	// sees it as Incoming.Deadline. When req.CallMonitor is set, the call
	// also fails if no heartbeat or reply arrives within that interval. On
	// timeout the error matches both ErrTimeout and
	// context.DeadlineExceeded.
	//
	// Call never modifies req: the driver sends a copy with its own MsgID,
	// ReplyTo and (when req.UniqueID is empty) a new UniqueID.
	Call(ctx context.Context, tgt target.Target, req *message.Request) (*message.Reply, error)
	// Listen starts consuming what the server tgt should receive: the
	// topic's shared queue, the server's own queue and its fanout queue.
	// tgt must name a topic and a server.
	Listen(ctx context.Context, tgt target.Target) (Listener, error)
	// Close releases the transport. Pending calls fail with ErrClosed.
	// It is idempotent.
	Close() error
	// Notifications publishes and consumes oslo.messaging notifications.
	Notifications
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
	// Its Headers hold the application headers the caller set (string
	// values only), without warren's own x-warren- headers; nil when
	// there are none.
	Request() *message.Request
	// Deadline returns when the caller stops waiting, as precise as a
	// millisecond; zero means none (a cast). A server need not run a
	// request whose deadline has passed.
	Deadline() time.Time
	// Reply sends the final reply to the caller. For a cast it does
	// nothing and returns nil. It may be called once; later calls return
	// an error matching ErrReplied. A reply larger than the driver's limit
	// fails with ErrMessageTooLarge and counts as not sent, so a smaller
	// one can follow. A reply whose caller is gone (its transport closed)
	// is dropped and Reply returns nil, as for a reply that comes too
	// late.
	Reply(ctx context.Context, r *message.Reply) error
	// Heartbeat tells a call-monitoring caller the request is still being
	// worked on. For a cast, a call without CallMonitor, or after Reply,
	// it does nothing.
	Heartbeat(ctx context.Context) error
}
