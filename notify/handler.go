package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/warrenrpc/warren/message"
)

// ErrRequeue is what a handler returns, or wraps, to give a notification
// back to the broker for another try: oslo's NotificationResult.REQUEUE.
var ErrRequeue = errors.New("notify: requeue the notification")

// Notification is one received notification.
type Notification struct {
	// PublisherID names the sender, such as "compute.host1".
	PublisherID string
	// EventType names the event, such as "compute.instance.create.end".
	EventType string
	// Priority is the notification's priority.
	Priority Priority
	// Payload is the event's data as JSON; nil when the sender sent null.
	Payload json.RawMessage
	// Context is the sender's request context, keyed without the
	// _context_ prefix; nil when there is none.
	Context map[string]any
	// MessageID identifies the notification (a UUID with dashes).
	MessageID string
	// Timestamp is when the sender sent it, in UTC; zero when it sent none.
	Timestamp time.Time
	// Deliveries counts how many times the notification was delivered: 1
	// the first time, more after requeues.
	Deliveries int
}

// Decode decodes the payload into v, as encoding/json does.
func (n *Notification) Decode(v any) error {
	if len(n.Payload) == 0 {
		return nil
	}
	if err := json.Unmarshal(n.Payload, v); err != nil {
		return fmt.Errorf("notify: decoding the payload of %s into %T: %w", n.EventType, v, err)
	}
	return nil
}

// fromMessage converts what the transport decoded; Listener.decode then
// deserializes it.
func fromMessage(m *message.Notification, deliveries int) (*Notification, error) {
	p, err := ParsePriority(m.Priority)
	if err != nil {
		return nil, err
	}
	return &Notification{
		PublisherID: m.PublisherID,
		EventType:   m.EventType,
		Priority:    p,
		Payload:     m.Payload,
		Context:     m.Context,
		MessageID:   m.MessageID,
		Timestamp:   m.Timestamp,
		Deliveries:  deliveries,
	}, nil
}

// Handler handles notifications of a Listener. HandleNotification returns
// nil when the notification is handled (the listener then acks it), an
// error matching ErrRequeue to have it delivered again, and any other
// error when it failed, which the listener logs and requeues as oslo does.
// A panic counts as a failure. Requeues are bounded by MaxRequeues. ctx
// ends when the listener is closed.
type Handler interface {
	HandleNotification(ctx context.Context, n *Notification) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, n *Notification) error

// HandleNotification calls f(ctx, n).
func (f HandlerFunc) HandleNotification(ctx context.Context, n *Notification) error { return f(ctx, n) }

// Typed adapts a function that takes the payload decoded into P. A
// payload that does not decode into P is logged and dropped, not
// requeued: it would fail again.
func Typed[P any](f func(ctx context.Context, n *Notification, payload P) error) Handler {
	return HandlerFunc(func(ctx context.Context, n *Notification) error {
		var p P
		if err := n.Decode(&p); err != nil {
			return &dropError{err}
		}
		return f(ctx, n, p)
	})
}

// dropError is a failure that requeueing cannot fix.
type dropError struct{ err error }

func (e *dropError) Error() string { return e.err.Error() }
func (e *dropError) Unwrap() error { return e.err }

// BatchHandler handles notifications in batches, all of one priority, as
// oslo's batch listener endpoints. It returns nil when the batch is
// handled; an error (ErrRequeue or a failure) requeues the whole batch,
// within MaxRequeues for each notification.
type BatchHandler interface {
	HandleNotifications(ctx context.Context, ns []*Notification) error
}

// BatchHandlerFunc adapts a function to BatchHandler.
type BatchHandlerFunc func(ctx context.Context, ns []*Notification) error

// HandleNotifications calls f(ctx, ns).
func (f BatchHandlerFunc) HandleNotifications(ctx context.Context, ns []*Notification) error {
	return f(ctx, ns)
}

// Endpoint is a set of handlers by priority, seeing only what its Filter
// selects: oslo's notification endpoint with its filter_rule.
type Endpoint struct {
	// Filter selects the notifications the handlers see; the zero Filter
	// selects all.
	Filter Filter
	// Handlers maps each priority the endpoint handles to its handler.
	Handlers map[Priority]Handler
}

// BatchEndpoint is an Endpoint for a batch listener.
type BatchEndpoint struct {
	// Filter selects the notifications the handlers see; the zero Filter
	// selects all.
	Filter Filter
	// Handlers maps each priority the endpoint handles to its handler.
	Handlers map[Priority]BatchHandler
}
