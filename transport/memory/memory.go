package memory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/warrenrpc/warren/internal/driver"
	"github.com/warrenrpc/warren/internal/replywait"
	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

var _ transport.Transport = (*Transport)(nil)

// Transport is an in-process transport.Transport on a Bus. It is safe for
// concurrent use by multiple goroutines.
type Transport struct {
	bus      *Bus
	exchange string
	limit    int
	replyQ   string
	waiters  *replywait.Waiters
	replier  *driver.Replier
	onDrop   func(transport.Drop) // nil: drops are not reported
	// deliveryLimit is AtLeastOnce's limit; zero: at-most-once.
	deliveryLimit int

	mu        sync.Mutex
	closed    bool
	done      chan struct{} // closed by Close
	listeners map[*listener]struct{}
}

type options struct {
	bus      *Bus
	exchange string
	limit    int
	onDrop   func(transport.Drop)
	// deliveryLimit is set by AtLeastOnce.
	deliveryLimit int
}

// Option configures a Transport.
type Option func(*options)

// OnBus puts the transport on b, where it reaches every other transport on
// b. Without it (or with nil) the transport gets a Bus of its own, which
// serves a client and servers that share the one transport.
func OnBus(b *Bus) Option {
	return func(o *options) { o.bus = b }
}

// ControlExchange sets the exchange used for targets that name none.
// An empty name keeps the default, transport.DefaultControlExchange.
func ControlExchange(name string) Option {
	return func(o *options) {
		if name != "" {
			o.exchange = name
		}
	}
}

// MaxMessageSize sets the largest message body, in bytes, the transport
// sends: larger requests and replies are refused with
// transport.ErrMessageTooLarge, as the RabbitMQ driver refuses them. Zero
// or less keeps the default, transport.DefaultMaxMessageSize.
func MaxMessageSize(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.limit = n
		}
	}
}

// OnDrop sets a function the transport calls with every message it drops
// instead of handing it out: one that is not a valid request, reply or
// notification, and a duplicate request, as the RabbitMQ driver's OnDrop
// reports them. f runs on the goroutine that took the message (a
// listener's Next, or a server's Reply for a reply): it must return
// quickly and must not call the transport.
func OnDrop(f func(transport.Drop)) Option {
	return func(o *options) { o.onDrop = f }
}

// New returns a transport on the Bus given by OnBus, or on a new Bus of its
// own. It does no I/O.
func New(opts ...Option) *Transport {
	o := options{exchange: transport.DefaultControlExchange, limit: transport.DefaultMaxMessageSize}
	for _, opt := range opts {
		opt(&o)
	}
	if o.bus == nil {
		o.bus = NewBus()
	}
	t := &Transport{
		bus:           o.bus,
		exchange:      o.exchange,
		limit:         o.limit,
		onDrop:        o.onDrop,
		deliveryLimit: o.deliveryLimit,
		replyQ:        topology.ReplyQueue(),
		waiters:       replywait.New(),
		done:          make(chan struct{}),
		listeners:     make(map[*listener]struct{}),
	}
	t.replier = &driver.Replier{Name: "memory", Limit: o.limit, Publish: t.sendReply}
	t.bus.addReplyQueue(t.replyQ, t)
	return t
}

// Cast sends a copy of req to tgt without waiting for an answer. It
// returns once the request is queued, blocking while a queue it goes to is
// full. A request no queue can take fails with a *transport.NoRouteError.
// The request carries no deadline.
func (t *Transport) Cast(ctx context.Context, tgt target.Target, req *message.Request) error {
	if err := tgt.ValidateCast(); err != nil {
		return fmt.Errorf("memory: cast: %w", err)
	}
	if t.isClosed() {
		return transport.ErrClosed
	}
	c, err := driver.CastCopy(ctx, req)
	if err != nil {
		return fmt.Errorf("memory: cast %s: %w", req.Method, err)
	}
	m, err := t.envelope(c, time.Time{})
	if err != nil {
		return fmt.Errorf("memory: cast %s: %w", req.Method, err)
	}
	return t.bus.send(ctx, t.done, topology.RouteOf(tgt, t.exchange), m)
}

// Call sends a copy of req to tgt, with a new MsgID and the transport's
// reply queue, and waits for the final reply until ctx ends. The request
// carries ctx's deadline, to the millisecond.
func (t *Transport) Call(ctx context.Context, tgt target.Target, req *message.Request) (*message.Reply, error) {
	// Many calls may wait at once, each on its caller's goroutine: the
	// frame that waits is kept small, so that those stacks shrink.
	w, monitor, err := t.startCall(ctx, &tgt, req)
	if err != nil {
		return nil, err
	}
	return w.Wait(ctx, monitor)
}

// startCall sends a copy of req, registered for its reply, and returns
// its waiter and call-monitor timeout.
func (t *Transport) startCall(ctx context.Context, tgt *target.Target, req *message.Request) (*replywait.Waiter, time.Duration, error) {
	if err := tgt.ValidateCall(); err != nil {
		return nil, 0, fmt.Errorf("memory: call: %w", err)
	}
	c, deadline, err := driver.CallCopy(ctx, req)
	if err != nil {
		return nil, 0, fmt.Errorf("memory: call %s: %w", req.Method, err)
	}
	c.ReplyTo = t.replyQ
	m, err := t.envelope(c, deadline)
	if err != nil {
		return nil, 0, fmt.Errorf("memory: call %s: %w", req.Method, err)
	}
	w, err := t.register(c.MsgID)
	if err != nil {
		return nil, 0, err
	}
	if err := t.bus.send(ctx, t.done, topology.RouteOf(*tgt, t.exchange), m); err != nil {
		w.Cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, 0, &transport.TimeoutError{MsgID: c.MsgID}
		}
		return nil, 0, err
	}
	return w, c.CallMonitor, nil
}

// envelope encodes req for the Bus, with deadline and a copy of its
// headers beside the body.
func (t *Transport) envelope(req *message.Request, deadline time.Time) (*envelope, error) {
	body, err := driver.Encode(req, t.limit)
	if err != nil {
		return nil, err
	}
	var headers map[string]string
	if len(req.Headers) > 0 {
		headers = maps.Clone(req.Headers)
	}
	return &envelope{body: body, deadline: deadline, headers: headers}, nil
}

// register reserves msgID for a call, unless the transport is closed:
// Close fails every call registered before it.
func (t *Transport) register(msgID string) (*replywait.Waiter, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, transport.ErrClosed
	}
	return t.waiters.Register(msgID), nil
}

// Listen declares the queues of server tgt (tgt needs a topic and a server)
// and returns a listener consuming them: the topic's shared queue, the
// server's own queue and a new fanout queue.
func (t *Transport) Listen(ctx context.Context, tgt target.Target) (transport.Listener, error) {
	if err := tgt.ValidateServer(); err != nil {
		return nil, fmt.Errorf("memory: listen: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: listen on %s: %w", tgt, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, transport.ErrClosed
	}
	l := newListener(t)
	if t.deliveryLimit > 0 {
		l.alo = &atLeastOnce{limit: t.deliveryLimit}
		l.release = func() { l.alo.requeueUnsettled(t.bus) }
	}
	t.bus.listen(l, topology.ServerOf(tgt, t.exchange))
	t.listeners[l] = struct{}{}
	return l, nil
}

// Close closes the transport's listeners, fails its pending calls with
// transport.ErrClosed and removes its reply queue from the Bus. Later
// operations return transport.ErrClosed. It is idempotent and always
// returns nil.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.done)
	ls := make([]*listener, 0, len(t.listeners))
	for l := range t.listeners {
		ls = append(ls, l)
	}
	t.mu.Unlock()

	for _, l := range ls {
		l.Close()
	}
	t.bus.removeReplyQueue(t.replyQ)
	t.waiters.FailAll(transport.ErrClosed)
	return nil
}

func (t *Transport) isClosed() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

func (t *Transport) removeListener(l *listener) {
	t.mu.Lock()
	delete(t.listeners, l)
	t.mu.Unlock()
}

// sendReply sends an encoded reply or heartbeat to reply queue name. A
// queue that is gone gives a *transport.NoRouteError.
func (t *Transport) sendReply(ctx context.Context, name string, body []byte) error {
	if t.isClosed() {
		return transport.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return t.bus.reply(name, body)
}

// receiveReply decodes a reply that reached t's reply queue and hands it
// to the call waiting for it. A reply nobody waits for is dropped, as a
// RabbitMQ consumer drops a late reply.
func (t *Transport) receiveReply(body []byte) error {
	m, err := wire.DecodeReply(body)
	if err != nil {
		t.dropped(transport.DropRejected, t.replyQ, err)
		return fmt.Errorf("memory: reply cannot be decoded: %w", err)
	}
	t.waiters.Deliver(m)
	return nil
}

// dropped reports a dropped message to OnDrop, if set.
func (t *Transport) dropped(reason transport.DropReason, source string, err error) {
	if t.onDrop != nil {
		t.onDrop(transport.Drop{Reason: reason, Source: source, Err: err})
	}
}
