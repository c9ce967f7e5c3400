package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/warrenrpc/warren/internal/replywait"
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
	maxSize  int
	replyQ   string
	waiters  *replywait.Waiters

	mu        sync.Mutex
	closed    bool
	done      chan struct{} // closed by Close
	listeners map[*listener]struct{}
}

type options struct {
	bus      *Bus
	exchange string
	maxSize  int
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
// transport.ErrMessageTooLarge, and a refused reply counts as not sent, so
// a smaller one can follow, as with the rabbit driver. Zero, the default,
// means no limit.
func MaxMessageSize(n int) Option {
	return func(o *options) { o.maxSize = n }
}

// New returns a transport on the Bus given by OnBus, or on a new Bus of its
// own. It does no I/O.
func New(opts ...Option) *Transport {
	o := options{exchange: transport.DefaultControlExchange}
	for _, opt := range opts {
		opt(&o)
	}
	if o.bus == nil {
		o.bus = NewBus()
	}
	t := &Transport{
		bus:       o.bus,
		exchange:  o.exchange,
		maxSize:   o.maxSize,
		replyQ:    "reply_" + wire.NewID(),
		waiters:   replywait.New(),
		done:      make(chan struct{}),
		listeners: make(map[*listener]struct{}),
	}
	t.bus.addReplyQueue(t.replyQ, t)
	return t
}

// exchangeOf returns the topic exchange tgt is published to.
func (t *Transport) exchangeOf(tgt target.Target) string {
	if tgt.Exchange != "" {
		return tgt.Exchange
	}
	return t.exchange
}

// routingKey returns the routing key of a call or cast that is not fanout:
// <topic>, or <topic>.<server> for a server-direct target.
func routingKey(tgt target.Target) string {
	if tgt.Server != "" {
		return tgt.Topic + "." + tgt.Server
	}
	return tgt.Topic
}

// Cast sends req to tgt without waiting for an answer. It returns once the
// request is queued, blocking while a queue it goes to is full. A request
// no queue can take fails with a *transport.NoRouteError. The request
// carries req.Deadline, if any.
func (t *Transport) Cast(ctx context.Context, tgt target.Target, req *message.Request) error {
	if err := tgt.ValidateCast(); err != nil {
		return err
	}
	if t.isClosed() {
		return transport.ErrClosed
	}
	body, err := wire.EncodeRequest(req)
	if err != nil {
		return fmt.Errorf("memory: cast %s: %w", req.Method, err)
	}
	if err := t.checkSize(len(body)); err != nil {
		return err
	}
	m := &envelope{body: body, deadline: req.Deadline}
	if tgt.Fanout {
		// oslo.messaging publishes fanout casts with an empty routing key.
		return t.bus.send(ctx, t.done, fanoutExchange(tgt.Topic), "", true, m)
	}
	return t.bus.send(ctx, t.done, t.exchangeOf(tgt), routingKey(tgt), false, m)
}

// Call sends req to tgt and waits for the final reply until ctx ends. It
// sets req.MsgID to a new id and req.ReplyTo to the transport's reply
// queue. The request carries the earlier of ctx's deadline and
// req.Deadline.
func (t *Transport) Call(ctx context.Context, tgt target.Target, req *message.Request) (*message.Reply, error) {
	if err := tgt.ValidateCall(); err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil, transport.ErrNoDeadline
	}
	if !req.Deadline.IsZero() && req.Deadline.Before(deadline) {
		deadline = req.Deadline
	}
	req.MsgID = wire.NewID()
	req.ReplyTo = t.replyQ
	body, err := wire.EncodeRequest(req)
	if err != nil {
		return nil, fmt.Errorf("memory: call %s: %w", req.Method, err)
	}
	if err := t.checkSize(len(body)); err != nil {
		return nil, err
	}
	w, err := t.register(req.MsgID)
	if err != nil {
		return nil, err
	}
	err = t.bus.send(ctx, t.done, t.exchangeOf(tgt), routingKey(tgt), false, &envelope{body: body, deadline: deadline})
	if err != nil {
		w.Cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, &transport.TimeoutError{MsgID: req.MsgID}
		}
		return nil, err
	}
	return w.Wait(ctx, req.CallMonitor)
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
	l := newListener(t, tgt.Topic)
	t.bus.listen(l, t.exchangeOf(tgt), tgt.Topic, tgt.Server)
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

// checkSize refuses a body of n bytes above the MaxMessageSize limit.
func (t *Transport) checkSize(n int) error {
	if t.maxSize > 0 && n > t.maxSize {
		return fmt.Errorf("memory: %w: %d bytes, the limit is %d", transport.ErrMessageTooLarge, n, t.maxSize)
	}
	return nil
}

// sendReply sends an encoded reply or heartbeat to reply queue name.
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
		return fmt.Errorf("memory: reply cannot be decoded: %w", err)
	}
	t.waiters.Deliver(m)
	return nil
}
