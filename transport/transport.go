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
	// the broker for another server. In a driver's at-least-once mode a
	// cast is a Settler instead, acked only once settled.
	Next(ctx context.Context) (Incoming, error)
	// Stop stops consuming. Requests already returned by Next can still
	// reply. It is idempotent.
	Stop() error
	// Close stops consuming and releases the listener. It is idempotent.
	Close() error
}

// DefaultDeliveryLimit is how many times a driver in at-least-once mode
// hands out a cast before it gives up on it (dead-letters it), unless
// configured otherwise. It is RabbitMQ 4's default delivery limit of
// quorum queues.
const DefaultDeliveryLimit = 20

// Settler is an Incoming that its driver settles only once the server has
// handled it: a cast received in a driver's at-least-once mode (calls are
// at-most-once and never Settlers). Until Settle, the broker keeps the
// cast, and gives it to another server if this one dies or loses its
// connection. An RPC server calls Settle when the handler returns; a
// program that reads a Listener itself must do the same.
type Settler interface {
	Incoming
	// Settle ends the handling with its outcome. With a nil err the cast
	// is done: the driver acks it and remembers its _unique_id, so that a
	// redelivery of it is dropped as a duplicate. With an error the driver
	// hands it out again (to this server or another) until its delivery
	// limit, then dead-letters it and reports it with DropDeliveryLimit.
	// Only the first Settle counts; it never blocks on the handler's
	// work, and failures to reach the broker are the driver's to log
	// (the broker then redelivers the cast).
	Settle(err error)
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
