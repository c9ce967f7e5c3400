package transport

import "fmt"

// DropReason says why a driver dropped a message instead of handing it out.
type DropReason int

const (
	// DropRejected is a message that is too large or cannot be decoded as
	// what its queue carries: the RabbitMQ driver rejects it without
	// requeue (dead-lettered if the broker has a policy for it), or moves
	// it to its dead-letter queue in at-least-once mode.
	DropRejected DropReason = iota + 1
	// DropDuplicate is a request whose _unique_id the listener handed out
	// already.
	DropDuplicate
	// DropDeliveryLimit is an at-least-once cast that was delivered as
	// many times as its delivery limit allows without being handled: its
	// handler kept failing, or its server kept dying while handling it.
	// The RabbitMQ driver moves it to the dead-letter queue.
	DropDeliveryLimit
)

// String returns "rejected", "duplicate" or "delivery-limit".
func (r DropReason) String() string {
	switch r {
	case DropRejected:
		return "rejected"
	case DropDuplicate:
		return "duplicate"
	case DropDeliveryLimit:
		return "delivery-limit"
	}
	return fmt.Sprintf("DropReason(%d)", int(r))
}

// Drop is one message a driver dropped, as the drivers' OnDrop options
// report it.
type Drop struct {
	// Reason is why the message was dropped.
	Reason DropReason
	// Source is where the message came from: the queue, or the target or
	// topics of the listener that consumed it, as the driver names it in
	// its logs; empty when the driver does not know.
	Source string
	// Err is why a rejected message could not be taken, or the last
	// handler error of a cast past its delivery limit (nil when its server
	// died handling it); nil for a duplicate.
	Err error
}
