package rabbit

import (
	"context"
	"errors"
	"fmt"
	"math"
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

// listener consumes a server's three queues on one channel of the
// consuming connection, through a subscription that comes back after a
// reconnect.
type listener struct {
	t   *Transport
	tgt target.Target
	srv topology.Server // names of what it declares
	sub *subscription

	queues [3]string // <topic>, <topic>.<server>, <topic>_fanout_<hex>

	stopOnce  sync.Once
	stopErr   error
	closeOnce sync.Once
	closeErr  error
}

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
// The listener declares all of it again, with the same names, after a
// reconnect and when the broker cancels one of its consumers (a queue
// deleted under it). Listen waits for the connection within ctx when it
// is down, and returns by ctx's end even when the broker does not answer;
// the set-up then stops, or the listener is closed once set up. A Listen
// that fails part way deletes its fanout queue when its channel is still
// open, and otherwise leaves it to expire.
func (t *Transport) Listen(ctx context.Context, tgt target.Target) (transport.Listener, error) {
	if err := tgt.ValidateServer(); err != nil {
		return nil, fmt.Errorf("rabbit: listen: %w", err)
	}
	if err := t.usable(); err != nil {
		return nil, err
	}
	// The broker round trips take no ctx: a listener set up after ctx
	// ended is closed.
	l, err := awaitBroker(ctx, t, "listen on "+tgt.String(), func() (*listener, error) { return t.listen(ctx, tgt) }, func(l *listener) { _ = l.Close() })
	if err != nil {
		return nil, err
	}
	return l, nil
}

// listen does Listen's work; ctx is checked between the broker round
// trips.
func (t *Transport) listen(ctx context.Context, tgt target.Target) (*listener, error) {
	srv := topology.ServerOf(tgt, t.s.controlExchange)
	l := &listener{
		t:      t,
		tgt:    tgt,
		srv:    srv,
		queues: [3]string{srv.TopicQueue, srv.ServerQueue, srv.FanoutQueue},
	}
	l.sub = t.newSubscription("listener on "+tgt.String(), l.queues[:], t.s.prefetch, l.declare)
	s, err := t.session(ctx)
	if err != nil {
		return nil, err
	}
	if err := l.sub.open(ctx, s); err != nil {
		if !s.down() {
			_ = dropQueue(s, l.queues[2])
		}
		return nil, err
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = l.sub.stop()
		_ = dropQueue(s, l.queues[2])
		return nil, errClosed
	}
	t.listeners[l] = struct{}{}
	t.mu.Unlock()
	return l, nil
}

// declare declares and binds the listener's exchanges and queues on ch.
func (l *listener) declare(ch *amqp.Channel) error {
	srv := l.srv
	topicEx, fanoutEx := topicExchange(srv.ControlExchange), fanoutExchange(srv.FanoutExchange)
	fanoutQ := l.queues[2]
	steps := []struct {
		what string
		do   func() error
	}{
		{"declaring exchange " + topicEx.name, func() error { return topicEx.declare(ch) }},
		{"declaring queue " + l.queues[0], func() error { return declareSharedQueue(ch, l.queues[0]) }},
		{"binding queue " + l.queues[0], func() error { return ch.QueueBind(l.queues[0], l.queues[0], topicEx.name, false, nil) }},
		{"declaring queue " + l.queues[1], func() error { return declareSharedQueue(ch, l.queues[1]) }},
		{"binding queue " + l.queues[1], func() error { return ch.QueueBind(l.queues[1], l.queues[1], topicEx.name, false, nil) }},
		{"declaring exchange " + fanoutEx.name, func() error { return fanoutEx.declare(ch) }},
		{"declaring queue " + fanoutQ, func() error { return declareExpiringQueue(ch, fanoutQ) }},
		{"binding queue " + fanoutQ, func() error { return ch.QueueBind(fanoutQ, srv.FanoutKey, fanoutEx.name, false, nil) }},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			return fmt.Errorf("%s: %w", st.what, err)
		}
	}
	return nil
}

// Next returns the next request from any of the three queues. It acks the
// request as it hands it out (at-most-once, as oslo.messaging). A message
// that is too large or not a valid request is rejected without requeue
// (dead-lettered if the broker has a policy for it) and logged, and Next
// goes on waiting.
//
// Next keeps waiting across a lost connection: once the transport
// reconnected, it declares and consumes the listener's queues again. It
// returns an error only when ctx ends, the listener or the transport is
// closed, or the Reconnect option's Attempts ran out (reconnecting, or
// declaring the queues again on a broker that refuses for a while).
//
// The Incoming's Deadline comes from header x-warren-deadline, or else is
// the receipt time plus the message's expiration, as an oslo.messaging
// caller sends it. The request's Headers are the message's headers with
// string values, without the x-warren- ones.
func (l *listener) Next(ctx context.Context) (transport.Incoming, error) {
	for {
		d, _, err := l.sub.next(ctx)
		if err != nil {
			if errors.Is(err, errStopped) {
				return nil, errListenerClosed
			}
			return nil, err
		}
		if in := l.accept(ctx, &d); in != nil {
			return in, nil
		}
	}
}

// accept decodes and acks d, or rejects it. It returns nil when d is not
// handed out.
func (l *listener) accept(ctx context.Context, d *amqp.Delivery) transport.Incoming {
	received := time.Now()
	select {
	case <-l.sub.stopped:
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
		l.t.log.Debug("rabbit: could not ack a request; the broker keeps it", "listener", l.tgt.String(), "error", err)
		return nil
	}
	req.Headers = headersOf(d)
	return l.t.replier.Incoming(req, deadlineOf(d, received))
}

// reject drops d, which is not a valid request, without requeueing it. When
// its _msg_id and _reply_q can still be read, the caller gets a ValueError
// failure saying why, instead of waiting out its timeout.
func (l *listener) reject(ctx context.Context, d *amqp.Delivery, err error) {
	l.t.log.Warn("rabbit: rejecting a message that is not a valid request",
		"listener", l.tgt.String(), "exchange", d.Exchange, "routing_key", d.RoutingKey,
		"content_type", d.ContentType, "bytes", len(d.Body), "error", err)
	if err := d.Reject(false); err != nil {
		l.t.log.Debug("rabbit: could not reject a message", "listener", l.tgt.String(), "error", err)
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

// Stop closes the listener's channel. That cancels its consumers, and the
// broker requeues for other servers every request delivered to it that
// Next did not hand out, since none of them is acked. Requests already
// handed out still reply: replies go through the publishing connection.
// A broker that does not answer gets 5 s, then Stop returns an error.
func (l *listener) Stop() error {
	l.stopOnce.Do(func() { l.stopErr = l.sub.stop() })
	return l.stopErr
}

// Close stops the listener and deletes its fanout queue, as
// oslo.messaging does. The shared queues stay for the other servers. Each
// step gives a broker that does not answer 5 s, as Stop does.
func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		err := l.Stop()
		l.t.mu.Lock()
		delete(l.t.listeners, l)
		l.t.mu.Unlock()
		l.closeErr = errors.Join(err, l.deleteFanoutQueue())
	})
	return l.closeErr
}

func (l *listener) deleteFanoutQueue() error {
	s := l.t.sess.Load()
	if s == nil || s.down() {
		return nil // the queue expires on its own
	}
	return l.t.bounded(func() error { return dropQueue(s, l.queues[2]) })
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
