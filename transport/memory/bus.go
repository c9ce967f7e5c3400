package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/transport"
)

// QueueCapacity is how many messages one queue of a Bus holds, counting
// those pushed to a listener that its Next has not returned yet. A send
// that finds a queue full blocks until a Next takes a message from it, the
// send's ctx ends or its transport closes. A fanout cast waits until every
// fanout queue of the topic has room, then lands in all of them at once.
const QueueCapacity = 1024

// Bus is the in-process broker that transports share. Create it with
// NewBus; the zero value is not usable. A Bus is safe for concurrent use.
type Bus struct {
	mu       sync.Mutex
	queues   map[string]*queue     // topic and server queues, by name
	bindings map[route][]*queue    // topic exchanges: (exchange, routing key) -> bound queues
	fanouts  map[string][]*queue   // fanout exchanges: name -> bound queues
	replies  map[string]*Transport // reply queues: name -> owning transport
}

// route is a binding of a topic exchange.
type route struct {
	exchange, key string
}

// NewBus returns an empty Bus.
func NewBus() *Bus {
	return &Bus{
		queues:   make(map[string]*queue),
		bindings: make(map[route][]*queue),
		fanouts:  make(map[string][]*queue),
		replies:  make(map[string]*Transport),
	}
}

// envelope is one request as it sits on the Bus: the encoded body, and
// the deadline and application headers that travel beside it as AMQP
// properties do. It is never modified once sent, so a fanout cast shares
// one message between queues.
type envelope struct {
	body     []byte
	deadline time.Time
	headers  map[string]string
	// deliveries counts the earlier deliveries of a requeued
	// notification.
	deliveries int
}

func (m *envelope) expired(now time.Time) bool {
	return !m.deadline.IsZero() && !now.Before(m.deadline)
}

// delivery is a message pushed to a listener, with the queue it came from:
// it still counts against that queue until Next takes it, and goes back
// there if the listener stops first.
type delivery struct {
	m *envelope
	q *queue
}

// queue is a FIFO of messages and the listeners consuming it, in rotation.
// Messages wait in items only while nobody consumes the queue; otherwise
// each goes at once to the inbox of the consumer whose turn it is. Its
// fields are guarded by Bus.mu.
type queue struct {
	name      string
	items     []*envelope
	consumers []*listener
	turn      int           // index in consumers of the next one served
	held      int           // messages of q in consumers' inboxes
	space     chan struct{} // closed when a message leaves; nil when nobody waits for room
	deleted   bool
	limits    transport.QueueLimits // of a notification queue; zero for others
}

// put gives m to the consumer whose turn it is, or keeps it for the next
// consumer when there is none. A queue with a length limit drops its
// oldest waiting message to make room, as RabbitMQ's x-max-length does.
func (q *queue) put(m *envelope) {
	if len(q.consumers) == 0 {
		if q.limits.MaxLength > 0 && len(q.items) >= q.limits.MaxLength {
			q.items = slices.Delete(q.items, 0, len(q.items)-q.limits.MaxLength+1)
		}
		q.items = append(q.items, m)
		return
	}
	l := q.consumers[q.turn]
	q.turn = (q.turn + 1) % len(q.consumers)
	q.held++
	l.push(delivery{m: m, q: q})
}

// subscribe adds l to the rotation and hands it the messages waiting for
// a consumer.
func (q *queue) subscribe(l *listener) {
	q.consumers = append(q.consumers, l)
	waiting := q.items
	q.items = nil
	for _, m := range waiting {
		q.put(m)
	}
}

// unsubscribe takes l out of the rotation.
func (q *queue) unsubscribe(l *listener) {
	i := slices.Index(q.consumers, l)
	if i < 0 {
		return
	}
	q.consumers = slices.Delete(q.consumers, i, i+1)
	if i < q.turn {
		q.turn--
	}
	if q.turn >= len(q.consumers) {
		q.turn = 0
	}
}

// taken accounts for a message of q leaving a consumer's inbox.
func (q *queue) taken() {
	q.held--
	q.freed()
}

// full reports whether q has no room. Expired messages that wait for a
// consumer are dropped first, as RabbitMQ drops expired messages.
func (q *queue) full(now time.Time) bool {
	if q.limits.MaxLength > 0 || len(q.items)+q.held < QueueCapacity {
		return false
	}
	q.items = slices.DeleteFunc(q.items, func(m *envelope) bool { return m.expired(now) })
	return len(q.items)+q.held >= QueueCapacity
}

// stamp returns m as q keeps it: with the message TTL of a notification
// queue as its deadline.
func (q *queue) stamp(m *envelope, now time.Time) *envelope {
	if q.limits.TTL <= 0 {
		return m
	}
	c := *m
	if d := now.Add(q.limits.TTL); c.deadline.IsZero() || d.Before(c.deadline) {
		c.deadline = d
	}
	return &c
}

// freed wakes the senders waiting for room.
func (q *queue) freed() {
	if q.space != nil {
		close(q.space)
		q.space = nil
	}
}

// roomSignal returns a channel closed when a message leaves q.
func (q *queue) roomSignal() <-chan struct{} {
	if q.space == nil {
		q.space = make(chan struct{})
	}
	return q.space
}

// declare returns the queue called name, bound to exchange with routing
// key name, creating the queue and the binding as needed. Queues are
// global to the Bus, as queues are to a broker's virtual host: servers of
// one topic on two exchanges share the queue.
func (b *Bus) declare(exchange, name string) *queue {
	q, ok := b.queues[name]
	if !ok {
		q = &queue{name: name}
		b.queues[name] = q
	}
	b.bind(exchange, name, q)
	return q
}

// bind binds q to exchange with key, once.
func (b *Bus) bind(exchange, key string, q *queue) {
	r := route{exchange, key}
	if !slices.Contains(b.bindings[r], q) {
		b.bindings[r] = append(b.bindings[r], q)
	}
}

// listen declares what server l consumes, in order: the server's queue,
// the shared topic queue and a new fanout queue, and subscribes l to them.
func (b *Bus) listen(l *listener, srv topology.Server) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fq := &queue{name: srv.FanoutQueue}
	b.fanouts[srv.FanoutExchange] = append(b.fanouts[srv.FanoutExchange], fq)
	l.fanout = srv.FanoutExchange
	l.queues = []*queue{
		b.declare(srv.ControlExchange, srv.ServerQueue),
		b.declare(srv.ControlExchange, srv.TopicQueue),
		fq,
	}
	for _, q := range l.queues {
		q.subscribe(l)
	}
}

// deleteFanout removes fq from fanout exchange fx and drops its messages.
func (b *Bus) deleteFanout(fx string, fq *queue) {
	qs := b.fanouts[fx]
	if i := slices.Index(qs, fq); i >= 0 {
		qs = slices.Delete(qs, i, i+1)
	}
	if len(qs) == 0 {
		delete(b.fanouts, fx) // fanout exchanges are auto-delete
	} else {
		b.fanouts[fx] = qs
	}
	fq.deleted = true
	fq.items = nil
	fq.consumers = nil
	fq.freed()
}

// send puts m on every queue r leads to, all at once, waiting while one of
// them is full. A fanout exchange ignores r.Key. A ctx that has ended fails
// the send before anything is queued, as the RabbitMQ driver publishes
// nothing then.
func (b *Bus) send(ctx context.Context, closed <-chan struct{}, r topology.Route, m *envelope) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: sending to exchange %q: %w", r.Exchange, err)
	}
	exchange, key := r.Exchange, r.Key
	for {
		b.mu.Lock()
		var qs []*queue
		if r.Fanout {
			qs = b.fanouts[exchange]
		} else {
			qs = b.bindings[route{exchange, key}]
		}
		if len(qs) == 0 {
			b.mu.Unlock()
			return &transport.NoRouteError{Exchange: exchange, RoutingKey: key}
		}
		now := time.Now()
		var full *queue
		for _, q := range qs {
			if q.full(now) {
				full = q
				break
			}
		}
		if full == nil {
			for _, q := range qs {
				q.put(q.stamp(m, now))
			}
			b.mu.Unlock()
			return nil
		}
		room := full.roomSignal()
		b.mu.Unlock()
		select {
		case <-room:
		case <-closed:
			return transport.ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("memory: queue %q is full: %w", full.name, ctx.Err())
		}
	}
}

func (b *Bus) addReplyQueue(name string, t *Transport) {
	b.mu.Lock()
	b.replies[name] = t
	b.mu.Unlock()
}

func (b *Bus) removeReplyQueue(name string) {
	b.mu.Lock()
	delete(b.replies, name)
	b.mu.Unlock()
}

// reply hands an encoded reply to the transport that owns reply queue
// name.
func (b *Bus) reply(name string, body []byte) error {
	b.mu.Lock()
	t, ok := b.replies[name]
	b.mu.Unlock()
	if !ok {
		return &transport.NoRouteError{Exchange: "", RoutingKey: name}
	}
	return t.receiveReply(body)
}
