package rabbit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/driver"
	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

var errListenerClosed = fmt.Errorf("rabbit: listener: %w", transport.ErrClosed)

// queueSpec is a queue a listener declares, binds and consumes.
type queueSpec struct {
	name    string
	declare func(ch *amqp.Channel) error
	binds   []bindSpec
}

// bindSpec binds a queue to an exchange, which is declared first.
type bindSpec struct {
	exchange exchangeDecl
	key      string
}

// listener consumes queues on one channel of the consuming connection,
// one consumer per queue with manual acks. An RPC server's listener
// consumes <topic>, <topic>.<server> and its fanout queue and acks what it
// hands out; a notification listener (notifyListener) consumes its
// notification queues and leaves acks to the user.
type listener struct {
	t    *Transport
	name string // what the listener serves, for errors and logs
	ch   *amqp.Channel

	specs      []queueSpec
	tags       []string // consumer tags, by queue
	deliveries []<-chan amqp.Delivery
	cases      []reflect.SelectCase // receive's: ctx, stopped, done, lost, then deliveries
	chClosed   <-chan *amqp.Error
	// expiring is a queue of this listener alone, deleted by Close: an RPC
	// server's fanout queue. Empty when none.
	expiring string
	// cancelOnStop makes Stop cancel the consumers and keep the channel
	// open, so that what Next handed out can still be acked until Close.
	cancelOnStop bool

	stopped   chan struct{}
	stopOnce  sync.Once
	stopErr   error
	closeOnce sync.Once
	closeErr  error
}

// receive case indexes before the deliveries.
const (
	caseCtx = iota
	caseStopped
	caseDone
	caseLost
	caseFirstQueue
)

// Listen declares what the server tgt consumes, with oslo.messaging's
// names and flags, and starts consuming it on one channel with
// basic.qos(prefetch) per consumer and manual acks:
//
//   - the control exchange (topic, durable false, auto-delete false);
//   - queues <topic> and <topic>.<server> (durable false, auto-delete
//     false, no arguments), bound to it with their own names as keys;
//   - exchange <topic>_fanout (fanout, durable false, auto-delete true);
//   - queue <topic>_fanout_<32 hex> (x-expires 30 min), bound to it with
//     key <topic>.
//
// Listen returns by ctx's end even when the broker does not answer; the
// set-up then stops, or the listener is closed once set up. A Listen that
// fails part way deletes its fanout queue when its channel is still open,
// and otherwise leaves it to expire.
func (t *Transport) Listen(ctx context.Context, tgt target.Target) (transport.Listener, error) {
	if err := tgt.ValidateServer(); err != nil {
		return nil, fmt.Errorf("rabbit: listen: %w", err)
	}
	if err := t.usable(); err != nil {
		return nil, err
	}
	srv := topology.ServerOf(tgt, t.s.controlExchange)
	topicEx, fanoutEx := topicExchange(srv.ControlExchange), fanoutExchange(srv.FanoutExchange)
	fanoutQ := srv.FanoutQueue
	shared := func(name string) queueSpec {
		return queueSpec{
			name:    name,
			declare: func(ch *amqp.Channel) error { return declareSharedQueue(ch, name) },
			binds:   []bindSpec{{topicEx, name}},
		}
	}
	l := &listener{
		t:    t,
		name: tgt.String(),
		specs: []queueSpec{
			shared(srv.TopicQueue),
			shared(srv.ServerQueue),
			{
				name:    fanoutQ,
				declare: func(ch *amqp.Channel) error { return declareExpiringQueue(ch, fanoutQ) },
				binds:   []bindSpec{{fanoutEx, srv.FanoutKey}},
			},
		},
		expiring: fanoutQ,
	}
	// The broker round trips take no ctx: a listener set up after ctx
	// ended is closed.
	if err := t.startListener(ctx, l, "listen on "+tgt.String()); err != nil {
		return nil, err
	}
	return &rpcListener{l}, nil
}

// startListener opens l's channel, declares and consumes its queues, and
// registers it with the transport, within ctx. what names the operation
// in errors.
func (t *Transport) startListener(ctx context.Context, l *listener, what string) error {
	_, err := awaitBroker(ctx, t, what, func() (*listener, error) {
		if err := t.open(ctx, l); err != nil {
			return nil, err
		}
		return l, nil
	}, func(l *listener) { _ = l.Close() })
	return err
}

// open does startListener's work; ctx is checked between the broker round
// trips.
func (t *Transport) open(ctx context.Context, l *listener) error {
	ch, err := t.conConn.Channel()
	if err != nil {
		return t.failure(t.conConn, "opening a listener channel", err)
	}
	l.ch = ch
	l.chClosed = ch.NotifyClose(make(chan *amqp.Error, 1))
	l.stopped = make(chan struct{})
	if err := l.setup(ctx); err != nil {
		l.abandon()
		return err
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		l.abandon()
		return errClosed
	}
	t.listeners[l] = struct{}{}
	t.mu.Unlock()
	return nil
}

// abandon releases a listener that Listen does not return. Errors are
// moot: the queue expires, the channel dies with the connection.
func (l *listener) abandon() {
	if l.expiring != "" {
		_, _ = l.ch.QueueDelete(l.expiring, false, false, false)
	}
	_ = l.ch.Close()
}

// setup declares l's exchanges and queues, binds them and starts one
// consumer per queue.
func (l *listener) setup(ctx context.Context) error {
	t, ch := l.t, l.ch
	type step struct {
		what string
		do   func() error
	}
	steps := []step{{"setting the prefetch count", func() error { return ch.Qos(t.s.prefetch, 0, false) }}}
	for _, q := range l.specs {
		steps = append(steps, step{"declaring queue " + q.name, func() error { return q.declare(ch) }})
		for _, b := range q.binds {
			steps = append(steps,
				step{"declaring exchange " + b.exchange.name, func() error { return b.exchange.declare(ch) }},
				step{"binding queue " + q.name, func() error { return ch.QueueBind(q.name, b.key, b.exchange.name, false, nil) }})
		}
	}
	l.tags = make([]string, len(l.specs))
	l.deliveries = make([]<-chan amqp.Delivery, len(l.specs))
	for i, q := range l.specs {
		l.tags[i] = "warren-" + wire.NewID()
		steps = append(steps, step{"consuming queue " + q.name, func() error {
			d, err := ch.Consume(q.name, l.tags[i], false, false, false, false, nil)
			l.deliveries[i] = d
			return err
		}})
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("rabbit: listen on %s: %w", l.name, err)
		}
		if err := s.do(); err != nil {
			return t.failure(t.conConn, fmt.Sprintf("listen on %s: %s", l.name, s.what), err)
		}
	}
	l.cases = []reflect.SelectCase{
		caseCtx:     {Dir: reflect.SelectRecv},
		caseStopped: {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(l.stopped)},
		caseDone:    {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(t.done)},
		caseLost:    {Dir: reflect.SelectRecv, Chan: reflect.ValueOf(t.lost)},
	}
	for _, d := range l.deliveries {
		l.cases = append(l.cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(d)})
	}
	return nil
}

// receive waits for the next delivery of any of l's queues. It returns an
// error when ctx ends (ctx.Err()), or when the listener stopped, the
// transport closed or lost its connection, or a consumer ended.
func (l *listener) receive(ctx context.Context) (amqp.Delivery, error) {
	// l.cases is only used by the one goroutine allowed in Next.
	l.cases[caseCtx].Chan = reflect.ValueOf(ctx.Done())
	i, v, ok := reflect.Select(l.cases)
	switch i {
	case caseCtx:
		return amqp.Delivery{}, ctx.Err()
	case caseStopped:
		return amqp.Delivery{}, errListenerClosed
	case caseDone:
		return amqp.Delivery{}, errClosed
	case caseLost:
		return amqp.Delivery{}, l.t.usable()
	}
	if !ok {
		return amqp.Delivery{}, l.ended(l.specs[i-caseFirstQueue].name)
	}
	return v.Interface().(amqp.Delivery), nil
}

// rpcListener is an RPC server's listener.
type rpcListener struct{ *listener }

// Next returns the next request from any of the three queues. It acks the
// request as it hands it out (at-most-once, as oslo.messaging). A message
// that is too large or not a valid request is rejected without requeue
// (dead-lettered if the broker has a policy for it) and logged, and Next
// goes on waiting.
//
// The Incoming's Deadline comes from header x-warren-deadline, or else is
// the receipt time plus the message's expiration, as an oslo.messaging
// caller sends it. The request's Headers are the message's headers with
// string values, without the x-warren- ones.
func (l *rpcListener) Next(ctx context.Context) (transport.Incoming, error) {
	for {
		d, err := l.receive(ctx)
		if err != nil {
			return nil, err
		}
		if in := l.accept(ctx, &d); in != nil {
			return in, nil
		}
	}
}

// accept decodes and acks d, or rejects it. It returns nil when d is not
// handed out.
func (l *rpcListener) accept(ctx context.Context, d *amqp.Delivery) transport.Incoming {
	received := time.Now()
	select {
	case <-l.stopped:
		// Not acked: Stop closes the channel and the broker requeues d.
		return nil
	default:
	}
	if err := driver.CheckSize(len(d.Body), l.t.s.maxMessageSize); err != nil {
		l.reject(ctx, d, err)
		return nil
	}
	req, err := wire.DecodeRequest(d.Body)
	if err != nil {
		l.reject(ctx, d, err)
		return nil
	}
	if err := d.Ack(false); err != nil {
		// The channel is closing: the broker requeues d.
		l.t.log.Debug("rabbit: could not ack a request; the broker keeps it", "listener", l.name, "error", err)
		return nil
	}
	req.Headers = headersOf(d)
	return l.t.replier.Incoming(req, deadlineOf(d, received))
}

// reject drops d, which is not a valid request, without requeueing it. When
// its _msg_id and _reply_q can still be read, the caller gets a ValueError
// failure saying why, instead of waiting out its timeout.
func (l *rpcListener) reject(ctx context.Context, d *amqp.Delivery, err error) {
	l.t.log.Warn("rabbit: rejecting a message that is not a valid request",
		"listener", l.name, "exchange", d.Exchange, "routing_key", d.RoutingKey,
		"content_type", d.ContentType, "bytes", len(d.Body), "error", err)
	if err := d.Reject(false); err != nil {
		l.t.log.Debug("rabbit: could not reject a message", "listener", l.name, "error", err)
	}
	msgID, replyTo := wire.Peek(d.Body)
	if msgID == "" || replyTo == "" {
		return
	}
	in := l.t.replier.Incoming(&message.Request{MsgID: msgID, ReplyTo: replyTo}, time.Time{})
	msg := "the server rejected the request: " + err.Error()
	f := &message.Failure{Class: "ValueError", Module: "builtins", Message: msg, Args: []any{msg}}
	if err := in.Reply(ctx, &message.Reply{Failure: f}); err != nil {
		l.t.log.Debug("rabbit: could not tell the caller its request was rejected", "msg_id", msgID, "error", err)
	}
}

// ended explains why the consumer of queue stopped delivering.
func (l *listener) ended(queue string) error {
	select {
	case <-l.stopped:
		return errListenerClosed
	default:
	}
	if err := l.t.usable(); err != nil {
		return err
	}
	if l.t.conConn.IsClosed() {
		return fmt.Errorf("rabbit: listener on %s: %w", l.name, transport.ErrConnectionLost)
	}
	reason := "the broker cancelled the consumer"
	select {
	case e, ok := <-l.chClosed:
		if ok && e != nil {
			reason = "the channel closed: " + e.Error()
		}
	default:
	}
	return fmt.Errorf("rabbit: listener on %s: consuming queue %q ended: %s", l.name, queue, reason)
}

// headersOf returns the application headers of d: those with string
// values, without warren's own x-warren- headers; nil when none.
func headersOf(d *amqp.Delivery) map[string]string {
	var h map[string]string
	for k, v := range d.Headers {
		s, ok := v.(string)
		if !ok || driver.Reserved(k) {
			continue
		}
		if h == nil {
			h = make(map[string]string)
		}
		h[k] = s
	}
	return h
}

// deadlineOf returns the deadline d carries, or zero.
func deadlineOf(d *amqp.Delivery, received time.Time) time.Time {
	switch ms := d.Headers[deadlineHeader].(type) {
	case int64:
		return time.UnixMilli(ms)
	case int32:
		return time.UnixMilli(int64(ms))
	}
	if d.Expiration != "" {
		ms, err := strconv.ParseInt(d.Expiration, 10, 64)
		if err == nil && ms >= 0 && ms <= math.MaxInt64/int64(time.Millisecond) {
			return received.Add(time.Duration(ms) * time.Millisecond)
		}
	}
	return time.Time{}
}

// Stop stops consuming. An RPC listener closes its channel: that cancels
// its consumers, and the broker requeues for other servers every request
// delivered to it that Next did not hand out, since none of them is acked.
// Requests already handed out still reply: replies go through the
// publishing connection. A notification listener cancels its consumers
// and keeps the channel, so that what Next handed out can still be acked;
// Close closes it. A broker that does not answer gets 5 s, then Stop
// returns an error.
func (l *listener) Stop() error {
	l.stopOnce.Do(func() {
		close(l.stopped)
		stop := l.ch.Close
		if l.cancelOnStop {
			stop = func() error {
				var errs []error
				for _, tag := range l.tags {
					errs = append(errs, l.ch.Cancel(tag, false))
				}
				return errors.Join(errs...)
			}
		}
		if err := l.t.bounded(stop); err != nil && !errors.Is(err, amqp.ErrClosed) {
			l.stopErr = fmt.Errorf("rabbit: stopping listener on %s: %w", l.name, err)
		}
	})
	return l.stopErr
}

// Close stops the listener, closes its channel (the broker requeues what
// was delivered and not acked) and deletes its fanout queue, as
// oslo.messaging does. The shared queues stay for the other servers. Each
// step gives a broker that does not answer 5 s, as Stop does.
func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		errs := []error{l.Stop()}
		l.t.mu.Lock()
		delete(l.t.listeners, l)
		l.t.mu.Unlock()
		if l.cancelOnStop {
			if err := l.t.bounded(l.ch.Close); err != nil && !errors.Is(err, amqp.ErrClosed) {
				errs = append(errs, fmt.Errorf("rabbit: closing listener on %s: %w", l.name, err))
			}
		}
		if l.expiring != "" {
			errs = append(errs, l.deleteExpiringQueue())
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

func (l *listener) deleteExpiringQueue() error {
	if l.t.conConn.IsClosed() {
		return nil // the queue expires on its own
	}
	err := l.t.bounded(func() error {
		ch, err := l.t.conConn.Channel()
		if err == nil {
			_, err = ch.QueueDelete(l.expiring, false, false, false)
			_ = ch.Close()
		}
		return err
	})
	if err != nil && !l.t.conConn.IsClosed() {
		return fmt.Errorf("rabbit: deleting fanout queue %q: %w", l.expiring, err)
	}
	return nil
}

// publishReply publishes body, an encoded reply or heartbeat, to reply
// queue replyTo through the default exchange, mandatory, and waits for the
// broker's confirm. A queue that is gone gives a *transport.NoRouteError.
func (t *Transport) publishReply(ctx context.Context, replyTo string, body []byte) error {
	if err := t.usable(); err != nil {
		return err
	}
	return t.publish(ctx, nil, replyTo, publishing(wire.NewID(), body))
}
