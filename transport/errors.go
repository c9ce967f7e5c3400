package transport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/warrenrpc/warren/internal/wire"
)

// Conditions every driver reports. Match them with errors.Is.
var (
	// ErrClosed means the transport, listener or server was closed.
	ErrClosed = errors.New("transport: closed")
	// ErrTimeout means a call got no reply before its deadline. Errors
	// that match it also match context.DeadlineExceeded.
	ErrTimeout = errors.New("transport: timed out waiting for a reply")
	// ErrNoRoute means no queue could take the message: nobody listens on
	// that topic, server or fanout exchange. A call whose queue has no
	// consumer matches it too (see ErrNoConsumer).
	ErrNoRoute = errors.New("transport: no route to any queue")
	// ErrNoConsumer means a call's queue exists but no server has consumed
	// it for a while: the servers of that topic or server stopped and left
	// their queue behind. Errors that match it also match ErrNoRoute.
	ErrNoConsumer = errors.New("transport: no server consumes the queue")
	// ErrConnectionLost means the connection to the broker dropped and the
	// operation could not complete: a driver that reconnects reports it
	// when the operation's ctx ended before the connection was back, or
	// once it gave up reconnecting.
	ErrConnectionLost = errors.New("transport: connection lost")
	// ErrNoDeadline means a call was made with a context that has no
	// deadline.
	ErrNoDeadline = errors.New("transport: call context has no deadline")
	// ErrInvalidURL means a transport URL could not be parsed.
	ErrInvalidURL = errors.New("transport: invalid transport URL")
	// ErrMalformed means a message from the broker could not be decoded:
	// a call whose reply arrives malformed fails with it. It is the value
	// the wire codec reports, so every decoding failure matches it.
	ErrMalformed = wire.ErrMalformed
	// ErrUnsupportedEnvelope means a message from the broker has an
	// oslo.messaging envelope version other than 2.0. It is the value the
	// wire codec reports.
	ErrUnsupportedEnvelope = wire.ErrUnsupportedEnvelope
	// ErrInvalidHeader means a request's application header cannot be
	// sent: its name is empty, longer than 255 bytes, or starts with the
	// reserved prefix x-warren-.
	ErrInvalidHeader = errors.New("transport: invalid application header")
	// ErrMessageTooLarge means a message body is larger than the limit of
	// the driver that sends or receives it.
	ErrMessageTooLarge = errors.New("transport: message too large")
	// ErrReplied means Incoming.Reply was called a second time.
	ErrReplied = errors.New("transport: reply already sent")
	// ErrNotSent means a message did not reach the broker: it will not be
	// delivered, and sending it again cannot duplicate it.
	ErrNotSent = errors.New("transport: message not sent")
	// ErrOutcomeUnknown means a message was handed to the broker but the
	// broker did not confirm it before the connection dropped or the
	// context ended: it may or may not be delivered.
	ErrOutcomeUnknown = errors.New("transport: message sent, outcome unknown")
	// ErrBlocked means the broker holds publishes back (RabbitMQ's
	// connection.blocked, raised by a memory or disk alarm).
	ErrBlocked = errors.New("transport: the broker blocks publishing")
)

// BlockedError reports a publish that ended while the broker blocked the
// connection. It matches ErrBlocked.
type BlockedError struct {
	// Reason is the broker's reason, such as "low on memory".
	Reason string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("transport: the broker blocks publishing: %s", e.Reason)
}

// Is makes a BlockedError match ErrBlocked.
func (e *BlockedError) Is(target error) bool { return target == ErrBlocked }

// TimeoutError reports a call that got no reply in time. It matches
// ErrTimeout and context.DeadlineExceeded.
type TimeoutError struct {
	// MsgID is the call's message id.
	MsgID string
	// Heartbeat is true when the call-monitor interval, not the overall
	// deadline, ran out.
	Heartbeat bool
}

func (e *TimeoutError) Error() string {
	if e.Heartbeat {
		return fmt.Sprintf("transport: no heartbeat or reply within the call-monitor interval for message %s", e.MsgID)
	}
	return fmt.Sprintf("transport: timed out waiting for a reply to message %s", e.MsgID)
}

// Is makes a TimeoutError match ErrTimeout and context.DeadlineExceeded.
func (e *TimeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// NoRouteError reports a message that no queue could take. It matches
// ErrNoRoute.
type NoRouteError struct {
	// Exchange and RoutingKey are where the message was published.
	Exchange, RoutingKey string
}

func (e *NoRouteError) Error() string {
	return fmt.Sprintf("transport: no queue is bound to exchange %q with routing key %q", e.Exchange, e.RoutingKey)
}

// Is makes a NoRouteError match ErrNoRoute.
func (e *NoRouteError) Is(target error) bool { return target == ErrNoRoute }

// NoConsumerError reports a call to a queue that exists but has had no
// consumer for at least Idle: the servers of the target stopped and left
// their queue behind, so no reply can come. It matches ErrNoConsumer and
// ErrNoRoute. Whether the request was left in the queue is told by the
// error that wraps it: ErrNotSent when the call failed before publishing,
// ErrOutcomeUnknown when it was published and waited (a server that comes
// back before the request expires still runs it).
type NoConsumerError struct {
	// Exchange and RoutingKey are where the call was published.
	Exchange, RoutingKey string
	// Queue is the queue without a consumer.
	Queue string
	// Idle is how long the queue was seen without a consumer.
	Idle time.Duration
}

// Error does not show Idle, so that the failures of calls to one queue
// read the same.
func (e *NoConsumerError) Error() string {
	return fmt.Sprintf("transport: queue %q (exchange %q, routing key %q) has no consumer: its servers are gone",
		e.Queue, e.Exchange, e.RoutingKey)
}

// Is makes a NoConsumerError match ErrNoConsumer and ErrNoRoute.
func (e *NoConsumerError) Is(target error) bool {
	return target == ErrNoConsumer || target == ErrNoRoute
}
