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
// one consumer per queue with manual acks, through a subscription that
// declares and consumes them again after a reconnect or a queue deleted
// under it. An RPC server's listener consumes <topic>, <topic>.<server>
// and its fanout queue and acks what it hands out; a notification
// listener (notifyListener) consumes its notification queues and leaves
// acks to the user.
type listener struct {
	t     *Transport
	name  string // what the listener serves, for errors and logs
	specs []queueSpec
	sub   *subscription
	// expiring is a queue of this listener alone, deleted by Close: an RPC
	// server's fanout queue. Empty when none.
	expiring string
	// stream tracks where the listener reads its stream fanout queue from;
	// nil without one.
	stream *streamOffset
	// cancelOnStop makes Stop cancel the consumers and keep the channel
	// open, so that what Next handed out can still be acked until Close.
	cancelOnStop bool
	// batchAcks makes the subscription batch the acks of what the
	// listener hands out (see ackBatch).
	batchAcks bool

	stopOnce  sync.Once
	stopErr   error
	closeOnce sync.Once
	closeErr  error
}

// Listen declares what the server tgt consumes, with oslo.messaging's
// names and flags (as the queue preset changes them), and starts consuming it on one channel with
// basic.qos(prefetch) per consumer and manual acks:
//
//   - the control exchange (topic, durable false, auto-delete false);
//   - queues <topic> and <topic>.<server> (durable false, auto-delete
//     false, no arguments), bound to it with their own names as keys; a
//     queue that exists already is consumed as it is, whatever options
//     the service that declared it had (durable, quorum);
//   - exchange <topic>_fanout (fanout, durable false, auto-delete true);
//   - queue <topic>_fanout_<32 hex> (x-expires 30 min), bound to it with
//     key <topic>; <topic>_fanout_<host>:<process>:<n> under
//     use_queue_manager, or the stream <topic>_fanout that every server
//     of the topic reads under rabbit_stream_fanout (see the package
//     doc).
//
// The listener declares all of it again, with the same names, after a
// reconnect and when the broker cancels one of its consumers (a queue
// deleted under it). Listen waits for the connection within ctx when it
// is down, and returns by ctx's end even when the broker does not answer;
// the set-up then stops, or the listener is closed once set up. A Listen
// that fails part way deletes its fanout queue when its connection is
// still up, and otherwise leaves it to expire; a stream, or a queue
// named by use_queue_manager, it leaves in any case.
func (t *Transport) Listen(ctx context.Context, tgt target.Target) (transport.Listener, error) {
	if err := tgt.ValidateServer(); err != nil {
		return nil, fmt.Errorf("rabbit: listen: %w", err)
	}
	if err := t.usable(); err != nil {
		return nil, err
	}
	srv := topology.ServerOf(tgt, t.s.controlExchange)
	topicEx, fanoutEx := t.s.queues.topicExchange(srv.ControlExchange), t.s.queues.fanoutExchange(srv.FanoutExchange)
	fanoutQ, err := t.fanoutQueueOf(ctx, tgt.Topic, srv.FanoutQueue)
	if err != nil {
		return nil, fmt.Errorf("rabbit: listen on %s: %w", tgt, err)
	}
	shared := func(name string) queueSpec {
		return queueSpec{
			name:    name,
			declare: t.existingOr(name, func(ch *amqp.Channel) error { return t.s.queues.declareShared(ch, name) }),
			binds:   []bindSpec{{topicEx, name}},
		}
	}
	l := &listener{
		t:    t,
		name: tgt.String(),
		specs: []queueSpec{
			shared(srv.TopicQueue),
			shared(srv.ServerQueue),
			{name: fanoutQ.name, declare: fanoutQ.declare, binds: []bindSpec{{fanoutEx, srv.FanoutKey}}},
		},
	}
	if !fanoutQ.keep {
		l.expiring = fanoutQ.name
	}
	if fanoutQ.stream {
		l.stream = newStreamOffset(fanoutQ.name, len(l.specs)-1) // the last spec
	}
	alo := t.atLeastOnce(l, srv.ControlExchange)
	// A multiple ack would cover the casts that at-least-once mode holds
	// unsettled: that mode acks each delivery on its own.
	l.batchAcks = alo == nil
	// The broker round trips take no ctx: a listener set up after ctx
	// ended is closed.
	if err := t.startListener(ctx, l, "listen on "+tgt.String()); err != nil {
		return nil, err
	}
	return &rpcListener{listener: l, alo: alo, acks: l.sub.acks}, nil
}

// startListener declares and consumes l's queues and registers l with the
// transport, within ctx. what names the operation in errors.
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
	names := make([]string, len(l.specs))
	for i, q := range l.specs {
		names[i] = q.name
	}
	l.sub = t.newSubscription("listener on "+l.name, names, t.s.prefetch, l.declare)
	if l.stream != nil {
		l.sub.consumeArgs, l.sub.cancelled = l.stream.consumeArgs, l.stream.cancelled
	}
	if l.batchAcks {
		l.sub.acks = new(ackBatch)
	}
	s, err := t.session(ctx)
	if err != nil {
		return err
	}
	if err := l.sub.open(ctx, s); err != nil {
		if l.expiring != "" && !s.down() {
			_ = dropQueue(s, l.expiring)
		}
		return err
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = l.sub.stop(false)
		if l.expiring != "" {
			_ = dropQueue(s, l.expiring)
		}
		return errClosed
	}
	t.listeners[l] = struct{}{}
	t.mu.Unlock()
	return nil
}

// declare declares l's exchanges and queues on ch and binds them.
func (l *listener) declare(ch *amqp.Channel) error {
	conn, err := l.t.currentConn("declaring the queues of " + l.name)
	if err != nil {
		return err
	}
	for _, q := range l.specs {
		if err := q.declare(ch); err != nil {
			return fmt.Errorf("declaring queue %s: %w", q.name, err)
		}
		for _, b := range q.binds {
			if _, err := l.t.declareExchangeOn(conn, ch, b.exchange); err != nil {
				return fmt.Errorf("declaring exchange %s: %w", b.exchange.name, err)
			}
			if err := ch.QueueBind(q.name, b.key, b.exchange.name, false, nil); err != nil {
				return fmt.Errorf("binding queue %s: %w", q.name, err)
			}
		}
	}
	return nil
}

// receive waits for the next delivery of any of l's queues, across
// reconnects. It returns an error when ctx ends (ctx.Err()), the listener
// stopped, the transport closed or gave up reconnecting.
func (l *listener) receive(ctx context.Context) (amqp.Delivery, error) {
	d, i, err := l.sub.next(ctx)
	if errors.Is(err, errStopped) {
		return amqp.Delivery{}, errListenerClosed
	}
	if err == nil && l.stream != nil {
		l.stream.received(i, &d)
	}
	return d, err
}

// rpcListener is an RPC server's listener.
type rpcListener struct {
	*listener
	// recent drops requests whose _unique_id it handed out already.
	recent driver.Recent
	// alo hands out casts as transport.Settlers (AtLeastOnce); nil when
	// they are acked on receipt.
	alo *atLeastOnce
	// acks acks what the listener hands out, several at a time; nil in
	// at-least-once mode, where each delivery is acked on its own.
	acks *ackBatch
}

// Next returns the next request from any of the three queues. It acks the
// request as it hands it out (at-most-once, as oslo.messaging), several
// at a time (see ackBatch): within 2 ms, once 32 are pending, and before
// the channel closes. A message
// that is too large or not a valid request is rejected without requeue
// (dead-lettered if the broker has a policy for it) and logged, a request
// whose _unique_id this listener handed out already is acked and dropped
// (see driver.Recent), both are reported to OnDrop, and Next goes on
// waiting.
//
// Next keeps waiting across a lost connection: once the transport
// reconnected, it declares and consumes the listener's queues again. It
// returns an error only when ctx ends, the listener or the transport is
// closed, or the Reconnect option's Attempts ran out (reconnecting, or
// declaring the queues again on a broker that refuses for a while).
//
// With AtLeastOnce, casts are handed out unacked as transport.Settlers
// instead, and invalid messages go to the dead-letter queue (see
// AtLeastOnce).
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
	case <-l.sub.stopped:
		// Not acked: Stop closes the channel and the broker requeues d.
		return nil
	default:
	}
	body, err := l.t.bodyOf(d)
	if err != nil {
		l.reject(ctx, d, body, err)
		return nil
	}
	req, err := wire.DecodeRequest(body)
	if err != nil {
		l.reject(ctx, d, body, err)
		return nil
	}
	// A stream cannot take a cast back: fanout casts read from the
	// stream fanout queue stay at-most-once.
	if l.alo != nil && !req.IsCall() && !l.fromStream(d) {
		return l.acceptCast(ctx, d, req)
	}
	if !l.acks.ack(d) {
		// The channel is closing: the broker requeues d.
		l.t.log.Debug("rabbit: could not ack a request; the broker keeps it", "listener", l.name)
		return nil
	}
	if !l.recent.Add(req.UniqueID) {
		l.t.log.Info("rabbit: dropping a duplicate request", "listener", l.name, "method", req.Method, "unique_id", req.UniqueID)
		l.t.dropped(transport.DropDuplicate, l.name, nil)
		return nil
	}
	req.Headers = headersOf(d)
	return l.t.replier.Incoming(req, deadlineOf(d, received))
}

// reject drops d, which is not a valid request, without requeueing it
// (see discard: a stream delivery is acked, and in at-least-once mode d
// goes to the dead-letter queue). When the _msg_id and _reply_q of body
// (d's uncompressed, or what of it uncompressed before the stream broke;
// nil: d's body) can still be read, or d's AMQP correlation_id and
// reply_to stand for them, the caller gets a ValueError failure saying
// why, instead of waiting out its timeout. The rejection is logged once
// per sender (see rejected).
func (l *rpcListener) reject(ctx context.Context, d *amqp.Delivery, body []byte, err error) {
	l.discard(ctx, d, err)
	if body == nil {
		body = d.Body
	}
	l.acks.settled(d)
	msgID, replyTo := wire.Peek(body)
	if msgID == "" {
		msgID = d.CorrelationId
	}
	if replyTo == "" {
		replyTo = d.ReplyTo
	}
	l.t.rejected(l.name, "request", d, replyTo, err)
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
// values, without warren's own x-warren- headers and kombu's compression;
// nil when none.
func headersOf(d *amqp.Delivery) map[string]string {
	var h map[string]string
	for k, v := range d.Headers {
		s, ok := v.(string)
		if !ok || driver.Reserved(k) || k == compressionHeader {
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
		if err := l.sub.stop(l.cancelOnStop); err != nil {
			l.stopErr = fmt.Errorf("rabbit: stopping listener on %s: %w", l.name, err)
		}
	})
	return l.stopErr
}

// Close stops the listener, closes its channel (the broker requeues what
// was delivered and not acked) and deletes its fanout queue, as
// oslo.messaging does (not a stream, nor a queue named by
// use_queue_manager). The shared queues stay for the other servers. Each
// step gives a broker that does not answer 5 s, as Stop does.
func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		errs := []error{l.Stop()}
		l.t.mu.Lock()
		delete(l.t.listeners, l)
		l.t.mu.Unlock()
		if l.cancelOnStop {
			if err := l.sub.close(); err != nil {
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
	s := l.t.sess.Load()
	if s == nil || s.down() {
		return nil // the queue expires on its own
	}
	return l.t.bounded(func() error { return dropQueue(s, l.expiring) })
}

// publishReply publishes body, an encoded reply or heartbeat, to reply
// queue replyTo through the default exchange, mandatory, without a
// publisher confirm: a reply needs none, since its caller stops waiting
// at its deadline either way. A reply whose queue is gone comes back and
// is dropped with a log line. A reply carries no message_id, as
// oslo.messaging's do not: nothing matches it.
func (t *Transport) publishReply(ctx context.Context, replyTo string, body []byte) error {
	if err := t.usable(); err != nil {
		return err
	}
	return t.publishWith(ctx, nil, replyTo, t.publishing("", body), false)
}
