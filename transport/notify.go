package transport

import (
	"context"
	"time"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
)

// Notifications moves oslo.messaging notifications: oslo's
// send_notification and listen_for_notifications. Every Transport
// implements it. It is safe for concurrent use by multiple
// goroutines.
type Notifications interface {
	// Notify publishes n to the control exchange of tgt (tgt.Exchange, or
	// the transport's default) with routing key <tgt.Topic>.<priority>,
	// the priority in lower case, and returns once the driver handed it
	// to the broker (with RabbitMQ: once the broker confirmed it) or ctx
	// ended. Like an oslo.messaging publisher, it first declares the queue
	// <tgt.Topic>.<priority> bound with that key, so notifications wait
	// there until a listener comes; q bounds that queue.
	Notify(ctx context.Context, tgt target.Target, n *message.Notification, q QueueLimits) error
	// ListenNotifications consumes the notifications of every
	// subscription. With pool empty, each subscription consumes the
	// queue <topic>.<priority>, which every pool-less listener shares;
	// with a pool, one queue named pool is bound to every
	// <topic>.<priority> key, shared by the listeners of that pool.
	ListenNotifications(ctx context.Context, subs []Subscription, pool string) (NotificationListener, error)
}

// Subscription is one (target, priority) pair a notification listener
// consumes.
type Subscription struct {
	// Target names the topic (Target.Topic, required) and the control
	// exchange (Target.Exchange; zero means the transport's default).
	// Its other fields are ignored.
	Target target.Target
	// Priority is the priority in lower case, such as "info". Required.
	Priority string
}

// QueueLimits bound the queue a notification publisher declares. Zero
// values mean no limit, as oslo.messaging declares it. A broker refuses
// to declare an existing queue with other arguments (406
// PRECONDITION_FAILED): every publisher and pool-less listener of a queue
// must use the same limits, or the limits must come from a broker policy.
type QueueLimits struct {
	// MaxLength is the most messages the queue holds (x-max-length); the
	// oldest are dropped beyond it. Zero means no limit.
	MaxLength int
	// TTL is how long a message may wait in the queue (x-message-ttl,
	// whole milliseconds). Zero means forever.
	TTL time.Duration
}

// NotificationListener hands out the notifications that reach a
// listener. Next may be called by one goroutine at a time; Stop and Close
// by any.
type NotificationListener interface {
	// Next blocks until a notification arrives, ctx ends, or the listener
	// is stopped or closed (then it returns ErrClosed). Messages that are
	// not valid notifications are rejected by the driver and skipped. The
	// notification stays unacknowledged until Ack or Requeue.
	Next(ctx context.Context) (IncomingNotification, error)
	// Stop stops consuming. Notifications already returned by Next can
	// still be acked or requeued until Close. It is idempotent.
	Stop() error
	// Close stops consuming and releases the listener; the broker
	// requeues every notification not acked by then. It is idempotent.
	Close() error
}

// IncomingNotification is one notification received by a listener. Its
// methods may be called from any goroutine, one at a time; exactly one of
// Ack and Requeue should be called.
type IncomingNotification interface {
	// Notification returns the decoded notification. The caller must not
	// modify it.
	Notification() *message.Notification
	// Deliveries counts the times this notification was delivered: 1 the
	// first time, more after Requeue. Drivers count what they can see:
	// requeues by the same transport, or the broker's delivery count when
	// it keeps one.
	Deliveries() int
	// Ack tells the broker the notification was handled.
	Ack() error
	// Requeue gives the notification back to the broker, which delivers
	// it again to a listener of the same queue.
	Requeue() error
}
