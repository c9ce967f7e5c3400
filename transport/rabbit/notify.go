package rabbit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/driver"
	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

var _ transport.Notifications = (*Transport)(nil)

// maxTrackedRequeues bounds how many requeued notifications a transport
// counts at once; past it the count starts over.
const maxTrackedRequeues = 10000

// notifyState is what a transport remembers about notifications: the
// queues it declared as a publisher and the requeues it made as a
// listener.
type notifyState struct {
	declareSem chan struct{} // capacity 1: one declare at a time, waitable with a ctx

	mu       sync.Mutex
	declared map[string]transport.QueueLimits // by exchange + "\x00" + queue
	requeued map[string]int                   // by notification _unique_id
}

func newNotifyState() *notifyState {
	return &notifyState{
		declareSem: make(chan struct{}, 1),
		declared:   make(map[string]transport.QueueLimits),
		requeued:   make(map[string]int),
	}
}

// Notify publishes n as oslo.messaging's messagingv2 driver does: to the
// control exchange of tgt (topic, not durable) with routing key
// <topic>.<priority> in lower case, persistent, and waits for the
// broker's confirm within ctx. Before the first notification of a
// priority it declares, as oslo does, the queue <topic>.<priority> bound
// with that key (durable false, auto-delete false) with q's arguments
// x-max-length and x-message-ttl when set, so that notifications wait
// until a listener comes. When that queue was deleted since, Notify
// declares it again and publishes once more.
func (t *Transport) Notify(ctx context.Context, tgt target.Target, n *message.Notification, q transport.QueueLimits) error {
	if tgt.Topic == "" {
		return fmt.Errorf("rabbit: notify: %w: no topic", target.ErrInvalid)
	}
	if n.Priority == "" {
		return fmt.Errorf("rabbit: notify %s: no priority", n.EventType)
	}
	if q.MaxLength < 0 || q.TTL < 0 {
		return fmt.Errorf("rabbit: notify %s: negative queue limits %+v", n.EventType, q)
	}
	if err := t.usable(); err != nil {
		return err
	}
	body, err := wire.EncodeNotification(n)
	if err != nil {
		return fmt.Errorf("rabbit: encoding notification %s: %w", n.EventType, err)
	}
	if err := driver.CheckSize(len(body), t.s.maxMessageSize); err != nil {
		return err
	}
	ex := t.s.queues.topicExchange(topology.ControlExchange(tgt, t.s.controlExchange))
	key := topology.NotificationKey(tgt.Topic, strings.ToLower(n.Priority))
	for attempt := 0; ; attempt++ {
		if err := t.declareNotifyQueue(ctx, ex, key, q); err != nil {
			return err
		}
		err := t.publish(ctx, &ex, key, t.publishing(wire.NewID(), body))
		if attempt > 0 || !errors.Is(err, transport.ErrNoRoute) {
			return err
		}
		// Someone deleted the queue: declare it again.
		t.notes.mu.Lock()
		delete(t.notes.declared, ex.name+"\x00"+key)
		t.notes.mu.Unlock()
	}
}

// declareNotifyQueue declares queue name on exchange ex with limits q,
// once per transport, on a channel of its own within ctx.
func (t *Transport) declareNotifyQueue(ctx context.Context, ex exchangeDecl, name string, q transport.QueueLimits) error {
	id := ex.name + "\x00" + name
	t.notes.mu.Lock()
	had, ok := t.notes.declared[id]
	t.notes.mu.Unlock()
	if ok && had == q {
		return nil
	}
	select {
	case t.notes.declareSem <- struct{}{}:
		defer func() { <-t.notes.declareSem }()
	case <-ctx.Done():
		return fmt.Errorf("rabbit: declaring queue %q: %w", name, ctx.Err())
	}
	_, err := awaitBroker(ctx, t, "declaring queue "+name, func() (struct{}, error) {
		s, err := t.session(ctx)
		if err != nil {
			return struct{}{}, err
		}
		conn := s.pub
		ch, err := conn.Channel()
		if err != nil {
			return struct{}{}, t.failure(conn, "opening a channel", err)
		}
		defer func() { _ = ch.Close() }()
		if _, err := t.declareExchangeOn(conn, ch, ex); err != nil {
			return struct{}{}, t.failure(conn, fmt.Sprintf("declaring exchange %q", ex.name), err)
		}
		if err := t.s.queues.declareNotification(ch, name, limitArgs(q)); err != nil {
			var ae *amqp.Error
			switch {
			case !errors.As(err, &ae) || ae.Code != amqp.PreconditionFailed:
				return struct{}{}, t.failure(conn, fmt.Sprintf("declaring queue %q", name), err)
			case q != (transport.QueueLimits{}):
				return struct{}{}, fmt.Errorf("rabbit: declaring notification queue %q with limits %+v: it exists with other arguments (every publisher must use the same limits, or none and a broker policy): %w", name, q, err)
			}
			// It exists with other flags (a service with
			// amqp_durable_queues or rabbit_quorum_queue declared it):
			// it takes the notifications all the same. The 406 closed
			// ch: bind on another.
			if ch, err = conn.Channel(); err != nil {
				return struct{}{}, t.failure(conn, "opening a channel", err)
			}
		}
		if err := ch.QueueBind(name, name, ex.name, false, nil); err != nil {
			return struct{}{}, t.failure(conn, fmt.Sprintf("binding queue %q", name), err)
		}
		return struct{}{}, nil
	}, nil)
	if err != nil {
		return err
	}
	t.notes.mu.Lock()
	t.notes.declared[id] = q
	t.notes.mu.Unlock()
	return nil
}

// limitArgs returns the queue arguments of q, nil when it sets none.
// Values that fit are 32-bit, as Python clients send them, so that
// equivalent declarations compare equal on the broker.
func limitArgs(q transport.QueueLimits) amqp.Table {
	args := amqp.Table{}
	put := func(k string, v int64) {
		if v <= math.MaxInt32 {
			args[k] = int32(v)
		} else {
			args[k] = v
		}
	}
	if q.MaxLength > 0 {
		put("x-max-length", int64(q.MaxLength))
	}
	if q.TTL > 0 {
		put("x-message-ttl", q.TTL.Milliseconds())
	}
	if len(args) == 0 {
		return nil
	}
	return args
}

// ListenNotifications consumes subs as oslo.messaging's rabbit driver
// does, on one channel with basic.qos(prefetch) per consumer and manual
// acks:
//
//   - without a pool, one queue per subscription named <topic>.<priority>,
//     bound to the subscription's control exchange with that key;
//   - with a pool, one queue named pool, bound with every subscription's
//     key.
//
// Queues are durable false and auto-delete false, declared without
// arguments unless they exist already: a queue a publisher declared with
// limits, or a Python peer with other flags, is used as it is.
func (t *Transport) ListenNotifications(ctx context.Context, subs []transport.Subscription, pool string) (transport.NotificationListener, error) {
	if len(subs) == 0 {
		return nil, fmt.Errorf("rabbit: listen for notifications: %w: no subscription", target.ErrInvalid)
	}
	var keys []string
	for _, s := range subs {
		if s.Target.Topic == "" || s.Priority == "" {
			return nil, fmt.Errorf("rabbit: listen for notifications: %w: subscription %q needs a topic and a priority", target.ErrInvalid, topology.NotificationKey(s.Target.Topic, s.Priority))
		}
		keys = append(keys, topology.NotificationKey(s.Target.Topic, s.Priority))
	}
	if err := t.usable(); err != nil {
		return nil, err
	}
	var specs []queueSpec
	spec := func(name string) *queueSpec {
		for i := range specs {
			if specs[i].name == name {
				return &specs[i]
			}
		}
		specs = append(specs, queueSpec{name: name, declare: t.existingOr(name, func(ch *amqp.Channel) error {
			return t.s.queues.declareNotification(ch, name, nil)
		})})
		return &specs[len(specs)-1]
	}
	for _, s := range subs {
		q := spec(topology.NotificationQueue(s.Target.Topic, s.Priority, pool))
		b := bindSpec{t.s.queues.topicExchange(topology.ControlExchange(s.Target, t.s.controlExchange)), topology.NotificationKey(s.Target.Topic, s.Priority)}
		if !slices.Contains(q.binds, b) {
			q.binds = append(q.binds, b)
		}
	}
	name := "notifications " + strings.Join(keys, ",")
	if pool != "" {
		name += " in pool " + pool
	}
	l := &listener{t: t, name: name, specs: specs, cancelOnStop: true}
	if err := t.startListener(ctx, l, "listen for "+name); err != nil {
		return nil, err
	}
	return &notifyListener{l}, nil
}

// existingOr returns a declare of queue name that keeps the queue as it
// is when it exists (a passive declare on a channel of its own, since a
// miss closes the channel) and otherwise runs declare. It is for queues a
// listener shares with other services, which may have declared them with
// other options: consuming such a queue as it is, is safe.
func (t *Transport) existingOr(name string, declare func(ch *amqp.Channel) error) func(ch *amqp.Channel) error {
	return func(ch *amqp.Channel) error {
		conn, err := t.currentConn(fmt.Sprintf("probing queue %q", name))
		if err != nil {
			return err
		}
		if ok, err := existingQueue(conn, name); ok || err != nil {
			return err
		}
		return declare(ch)
	}
}

// notifyListener consumes notification queues; the user acks.
type notifyListener struct{ *listener }

// Next returns the next notification, unacked. A message that is too
// large or not a valid notification is rejected without requeue
// (dead-lettered if the broker has a policy for it), logged and reported
// to OnDrop, and Next goes on waiting.
func (l *notifyListener) Next(ctx context.Context) (transport.IncomingNotification, error) {
	for {
		d, err := l.receive(ctx)
		if err != nil {
			return nil, err
		}
		n, err := l.decode(&d)
		if err != nil {
			l.t.rejected(l.name, "notification", &d, "", err)
			if err := d.Reject(false); err != nil {
				l.t.log.Debug("rabbit: could not reject a message", "listener", l.name, "error", err)
			}
			l.t.dropped(transport.DropRejected, l.name, err)
			continue
		}
		return &incomingNotification{t: l.t, d: d, n: n, deliveries: l.t.deliveries(&d, n)}, nil
	}
}

func (l *notifyListener) decode(d *amqp.Delivery) (*message.Notification, error) {
	body, err := l.t.bodyOf(d)
	if err != nil {
		return nil, err
	}
	return wire.DecodeNotification(body)
}

// deliveries counts the deliveries of n: from the x-delivery-count header
// of a quorum queue, else from the requeues this transport made, else 2
// for a redelivered message.
func (t *Transport) deliveries(d *amqp.Delivery, n *message.Notification) int {
	if n, ok := deliveryCount(d); ok {
		return n + 1
	}
	t.notes.mu.Lock()
	c := t.notes.requeued[requeueKey(n)]
	t.notes.mu.Unlock()
	if c == 0 && d.Redelivered {
		return 2
	}
	return c + 1
}

func requeueKey(n *message.Notification) string {
	if n.UniqueID != "" {
		return n.UniqueID
	}
	return n.MessageID
}

// incomingNotification is one notification handed out by Next.
type incomingNotification struct {
	t          *Transport
	d          amqp.Delivery
	n          *message.Notification
	deliveries int
}

func (in *incomingNotification) Notification() *message.Notification { return in.n }

func (in *incomingNotification) Deliveries() int { return in.deliveries }

// Ack acks the delivery. It fails once the listener's channel closed: the
// broker has requeued the notification then.
func (in *incomingNotification) Ack() error {
	in.t.notes.mu.Lock()
	delete(in.t.notes.requeued, requeueKey(in.n))
	in.t.notes.mu.Unlock()
	if err := in.d.Ack(false); err != nil {
		return fmt.Errorf("rabbit: acking notification %s: %w", in.n.MessageID, in.t.channelError(err))
	}
	return nil
}

// Requeue rejects the delivery with requeue, and counts it.
func (in *incomingNotification) Requeue() error {
	in.t.notes.mu.Lock()
	if len(in.t.notes.requeued) >= maxTrackedRequeues {
		clear(in.t.notes.requeued)
	}
	in.t.notes.requeued[requeueKey(in.n)]++
	in.t.notes.mu.Unlock()
	if err := in.d.Reject(true); err != nil {
		return fmt.Errorf("rabbit: requeueing notification %s: %w", in.n.MessageID, in.t.channelError(err))
	}
	return nil
}

// channelError maps amqp091's closed-channel error to transport.ErrClosed.
func (t *Transport) channelError(err error) error {
	if errors.Is(err, amqp.ErrClosed) {
		if lost := t.usable(); lost != nil && !errors.Is(lost, transport.ErrClosed) {
			return lost
		}
		return transport.ErrClosed
	}
	return err
}
