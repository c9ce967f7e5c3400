package memory

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

var _ transport.Notifications = (*Transport)(nil)

// Notify declares the queue <topic>.<priority> on the Bus, bound to the
// exchange with that key, and puts n on every queue bound to the key. It
// blocks while one of them is full, until ctx ends. A queue declared
// before with other limits fails the notify, as RabbitMQ answers 406.
func (t *Transport) Notify(ctx context.Context, tgt target.Target, n *message.Notification, q transport.QueueLimits) error {
	if tgt.Topic == "" {
		return fmt.Errorf("memory: notify: %w: no topic", target.ErrInvalid)
	}
	if n.Priority == "" {
		return fmt.Errorf("memory: notify %s: no priority", n.EventType)
	}
	if t.isClosed() {
		return transport.ErrClosed
	}
	body, err := wire.EncodeNotification(n)
	if err != nil {
		return fmt.Errorf("memory: notify %s: %w", n.EventType, err)
	}
	ex := topology.ControlExchange(tgt, t.exchange)
	key := topology.NotificationKey(tgt.Topic, strings.ToLower(n.Priority))
	if err := t.bus.declareNotifyQueue(ex, key, key, q); err != nil {
		return err
	}
	return t.bus.send(ctx, t.done, topology.Route{Exchange: ex, Key: key}, &envelope{body: body})
}

// ListenNotifications declares the queues of subs on the Bus, as the
// RabbitMQ driver does, and returns a listener consuming them.
func (t *Transport) ListenNotifications(ctx context.Context, subs []transport.Subscription, pool string) (transport.NotificationListener, error) {
	if err := validateSubscriptions(subs); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, transport.ErrClosed
	}
	l := newListener(t)
	if err := t.bus.listenNotifications(l, t.exchange, subs, pool); err != nil {
		return nil, err
	}
	nl := &notifyListener{l: l, unacked: make(map[*incomingNotification]struct{})}
	l.release = nl.requeueUnacked
	t.listeners[l] = struct{}{}
	return nl, nil
}

func validateSubscriptions(subs []transport.Subscription) error {
	if len(subs) == 0 {
		return fmt.Errorf("memory: listen for notifications: %w: no subscription", target.ErrInvalid)
	}
	for _, s := range subs {
		if s.Target.Topic == "" || s.Priority == "" {
			return fmt.Errorf("memory: listen for notifications: %w: subscription %q needs a topic and a priority", target.ErrInvalid, topology.NotificationKey(s.Target.Topic, s.Priority))
		}
	}
	return nil
}

// declareNotifyQueue declares queue name bound to exchange with key.
func (b *Bus) declareNotifyQueue(exchange, name, key string, limits transport.QueueLimits) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, err := b.notifyQueue(exchange, name, key, limits)
	return err
}

// notifyQueue returns queue name bound to exchange with key, declaring
// it with limits when new. The caller holds b.mu.
func (b *Bus) notifyQueue(exchange, name, key string, limits transport.QueueLimits) (*queue, error) {
	q, ok := b.queues[name]
	if !ok {
		q = &queue{name: name, limits: limits}
		b.queues[name] = q
	} else if q.limits != limits {
		return nil, fmt.Errorf("memory: queue %q exists with limits %+v, not %+v", name, q.limits, limits)
	}
	b.bind(exchange, key, q)
	return q, nil
}

// listenNotifications declares the queues of subs, one per subscription
// or the pool's one, and subscribes l to them.
func (b *Bus) listenNotifications(l *listener, defaultExchange string, subs []transport.Subscription, pool string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var qs []*queue
	for _, s := range subs {
		ex := topology.ControlExchange(s.Target, defaultExchange)
		name := topology.NotificationQueue(s.Target.Topic, s.Priority, pool)
		q, err := b.notifyQueue(ex, name, topology.NotificationKey(s.Target.Topic, s.Priority), b.limitsOf(name))
		if err != nil {
			return err
		}
		if !containsQueue(qs, q) {
			qs = append(qs, q)
		}
	}
	l.queues = qs
	for _, q := range qs {
		q.subscribe(l)
	}
	return nil
}

// limitsOf returns the limits of queue name, zero when it does not exist:
// a listener declares a queue as it finds it. The caller holds b.mu.
func (b *Bus) limitsOf(name string) transport.QueueLimits {
	if q, ok := b.queues[name]; ok {
		return q.limits
	}
	return transport.QueueLimits{}
}

func containsQueue(qs []*queue, q *queue) bool {
	for _, x := range qs {
		if x == q {
			return true
		}
	}
	return false
}

// notifyListener consumes notification queues and keeps what it handed
// out until it is acked or requeued.
type notifyListener struct {
	l *listener

	mu      sync.Mutex
	unacked map[*incomingNotification]struct{}
	closed  bool
}

// Next returns the next notification. Messages that are not valid
// notifications are dropped and reported to OnDrop. It may be called by one goroutine at a time.
func (nl *notifyListener) Next(ctx context.Context) (transport.IncomingNotification, error) {
	for {
		d, err := nl.l.receive(ctx)
		if err != nil {
			return nil, err
		}
		n, err := wire.DecodeNotification(d.m.body)
		if err != nil {
			nl.l.t.dropped(transport.DropRejected, d.q.name, err)
			continue
		}
		in := &incomingNotification{nl: nl, d: d, n: n}
		nl.mu.Lock()
		if nl.closed {
			nl.mu.Unlock()
			nl.requeue(d)
			return nil, transport.ErrClosed
		}
		nl.unacked[in] = struct{}{}
		nl.mu.Unlock()
		return in, nil
	}
}

// Stop stops consuming; handed-out notifications can still be acked. It
// is idempotent and returns nil.
func (nl *notifyListener) Stop() error { return nl.l.Stop() }

// Close stops consuming and requeues every notification not acked yet. It
// is idempotent and returns nil.
func (nl *notifyListener) Close() error { return nl.l.Close() }

// requeueUnacked requeues what was handed out and not acked; later acks
// and requeues fail. Closing the listener or its transport runs it.
func (nl *notifyListener) requeueUnacked() {
	nl.mu.Lock()
	nl.closed = true
	pending := nl.unacked
	nl.unacked = nil
	nl.mu.Unlock()
	for in := range pending {
		nl.requeue(in.d)
	}
}

// settle forgets in, reporting whether it was still unacked.
func (nl *notifyListener) settle(in *incomingNotification) bool {
	nl.mu.Lock()
	defer nl.mu.Unlock()
	if _, ok := nl.unacked[in]; !ok {
		return false
	}
	delete(nl.unacked, in)
	return true
}

// requeue puts d back on its queue, counting one more delivery.
func (nl *notifyListener) requeue(d delivery) {
	b := nl.l.t.bus
	m := *d.m
	m.deliveries++
	b.mu.Lock()
	if !d.q.deleted {
		d.q.put(&m)
	}
	b.mu.Unlock()
}

// incomingNotification is one notification handed out by Next.
type incomingNotification struct {
	nl *notifyListener
	d  delivery
	n  *message.Notification
}

func (in *incomingNotification) Notification() *message.Notification { return in.n }

func (in *incomingNotification) Deliveries() int { return in.d.m.deliveries + 1 }

// Ack drops the notification. Acking one that was acked, requeued, or
// requeued by Close fails with transport.ErrClosed.
func (in *incomingNotification) Ack() error {
	if !in.nl.settle(in) {
		return fmt.Errorf("memory: ack: notification %s: %w", in.n.MessageID, transport.ErrClosed)
	}
	return nil
}

// Requeue puts the notification back on its queue for the next consumer.
func (in *incomingNotification) Requeue() error {
	if !in.nl.settle(in) {
		return fmt.Errorf("memory: requeue: notification %s: %w", in.n.MessageID, transport.ErrClosed)
	}
	in.nl.requeue(in.d)
	return nil
}
