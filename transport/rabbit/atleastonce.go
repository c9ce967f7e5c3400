package rabbit

import (
	"context"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/driver"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/transport"
)

// DeadLetterMaxLength is the x-max-length of a dead-letter queue: past it
// the broker drops the oldest dead letters, so that a flood of poison
// messages cannot fill its disk.
const DeadLetterMaxLength = 10000

// Headers a dead letter carries besides the original message's.
const (
	// deadReasonHeader says why the message was dead-lettered.
	deadReasonHeader = transport.ReservedHeaderPrefix + "dead-reason"
	// deadSourceHeader names the listener that dead-lettered it.
	deadSourceHeader = transport.ReservedHeaderPrefix + "dead-source"
)

// deadLetterTimeout bounds the publish of a dead letter.
const deadLetterTimeout = 10 * time.Second

// AtLeastOnce makes the transport's RPC listeners handle casts at least
// once: a cast is acked only after its handler returned, so that a cast
// the broker confirmed is handled even when its server is killed while
// handling it or loses its connection (the broker gives it to another
// server, or to the same one once it is back). Each cast is handed out as
// a transport.Settler, which rpcserver settles when the handler returns:
//
//   - handled (the handler returned nil): acked, and its _unique_id
//     remembered, so that a redelivery of it (its ack lost with the
//     connection) is acked and dropped as a duplicate by this server;
//   - failed (an error, a recovered panic, or a handler cancelled by
//     shutdown): requeued for another attempt (basic.reject with requeue,
//     a failed delivery to RabbitMQ 4.3 as to 3.x), up to the delivery
//     limit: the queue preset's QuorumDeliveryLimit when set, else
//     transport.DefaultDeliveryLimit, counted by the x-delivery-count of
//     quorum queues. Classic durable queues count no deliveries: there, a
//     cast that fails after a redelivery is past the limit;
//   - past the limit, or delivered as many times as the limit without
//     ever being settled (a poison message that kills its servers): moved
//     to the dead-letter queue and reported to OnDrop with
//     transport.DropDeliveryLimit.
//
// Calls stay at-most-once, and so do fanout casts read from a stream
// (Queues.StreamFanout), which cannot take a message back.
//
// A redelivered cast that arrives while the first copy is still being
// handled waits for its outcome instead of running beside it. Messages
// that are not valid requests go to the dead-letter queue too, instead of
// being dropped.
//
// The dead-letter exchange is <control exchange>.dlx (topic, durable), and
// each listener binds the dead-letter queue <control exchange>.dlq
// (durable, a quorum queue under the Quorum preset, x-max-length
// DeadLetterMaxLength) to it with key #. A dead letter keeps its body,
// properties, headers and routing key, and gains headers
// x-warren-dead-reason and x-warren-dead-source. warren publishes dead
// letters itself rather than setting x-dead-letter-exchange on the topic
// queues, whose arguments must stay those a Python oslo.messaging peer
// declares with the same options.
//
// Calls stay at-most-once, acked as they are handed out (their caller has
// a deadline), as in oslo.messaging. The mode needs durable queues
// (amqp_durable_queues or rabbit_quorum_queue; quorum ones for a delivery
// limit and replication): with any other preset Dial fails. Only servers
// need the option; every cast warren sends is persistent and confirmed.
// A redelivery that reaches another server than the one whose ack was lost
// runs again there: the duplicate window is each listener's own, as in
// oslo.messaging. The URL query key at_least_once (true or false)
// overrides it.
func AtLeastOnce() Option {
	return func(s *settings) { s.atLeastOnce = true }
}

// atLeastOnce is an RPC listener's state in at-least-once mode.
type atLeastOnce struct {
	limit   int
	dlx     exchangeDecl
	dlq     string
	settled driver.Settled
}

// atLeastOnce readies l, an RPC listener whose targets use control
// exchange ex, for at-least-once casts when the transport is in that
// mode, and returns its state; nil otherwise. Its Stop then keeps the
// channel, so that casts being handled can still be acked.
func (t *Transport) atLeastOnce(l *listener, ex string) *atLeastOnce {
	if !t.s.atLeastOnce {
		return nil
	}
	a := &atLeastOnce{
		limit: t.s.queues.QuorumDeliveryLimit,
		dlx:   exchangeDecl{name: ex + ".dlx", kind: amqp.ExchangeTopic, durable: true},
		dlq:   ex + ".dlq",
	}
	if a.limit <= 0 {
		a.limit = transport.DefaultDeliveryLimit
	}
	l.cancelOnStop = true
	first := l.specs[0].declare
	dlq := t.existingOr(a.dlq, func(ch *amqp.Channel) error {
		args := amqp.Table{"x-max-length": int32(DeadLetterMaxLength)}
		if t.s.queues.Quorum {
			args["x-queue-type"] = "quorum"
		}
		_, err := ch.QueueDeclare(a.dlq, true, false, false, false, args)
		return declareError(err)
	})
	l.specs[0].declare = func(ch *amqp.Channel) error {
		if err := first(ch); err != nil {
			return err
		}
		if err := a.dlx.declare(ch); err != nil {
			return fmt.Errorf("declaring dead-letter exchange %s: %w", a.dlx.name, err)
		}
		if err := dlq(ch); err != nil {
			return fmt.Errorf("declaring dead-letter queue %s: %w", a.dlq, err)
		}
		if err := ch.QueueBind(a.dlq, "#", a.dlx.name, false, nil); err != nil {
			return fmt.Errorf("binding dead-letter queue %s: %w", a.dlq, err)
		}
		return nil
	}
	return a
}

// deliveryCount returns the x-delivery-count of d, the deliveries before
// this one, as a quorum queue counts them; ok is false when d has none.
func deliveryCount(d *amqp.Delivery) (n int, ok bool) {
	switch c := d.Headers["x-delivery-count"].(type) {
	case int64:
		return int(c), true
	case int32:
		return int(c), true
	}
	return 0, false
}

// spent reports whether d, whose handling failed, reached the delivery
// limit.
func (a *atLeastOnce) spent(d *amqp.Delivery) bool {
	if n, ok := deliveryCount(d); ok {
		return n+1 >= a.limit
	}
	return d.Redelivered || a.limit <= 1
}

// acceptCast hands out cast req, received as d, as a transport.Settler,
// or dead-letters, drops or holds it; nil when it is not handed out.
func (l *rpcListener) acceptCast(ctx context.Context, d *amqp.Delivery, req *message.Request) transport.Incoming {
	a := l.alo
	if n, ok := deliveryCount(d); ok && n >= a.limit {
		l.deadLetter(ctx, d, transport.DropDeliveryLimit,
			fmt.Errorf("rabbit: cast %s was delivered %d times without being settled", req.Method, n))
		return nil
	}
	held := *d
	switch a.settled.Begin(req.UniqueID, func(handled bool) {
		// A copy held back is requeued with basic.nack, which RabbitMQ
		// 4.3 does not count as a failed delivery: it was not tried.
		if handled {
			l.duplicate(&held, req)
		} else if err := held.Nack(false, true); err != nil {
			l.t.log.Debug("rabbit: could not requeue a cast; the broker keeps it", "listener", l.name, "error", err)
		}
	}) {
	case driver.Duplicate:
		l.duplicate(d, req)
		return nil
	case driver.Parked:
		return nil
	}
	req.Headers = headersOf(d)
	return &settler{Incoming: l.t.replier.Incoming(req, time.Time{}), l: l, d: held}
}

// duplicate acks and drops d, a copy of a cast handled already.
func (l *rpcListener) duplicate(d *amqp.Delivery, req *message.Request) {
	if err := d.Ack(false); err != nil {
		l.t.log.Debug("rabbit: could not ack a duplicate cast; the broker keeps it", "listener", l.name, "error", err)
	}
	l.t.log.Info("rabbit: dropping a duplicate request", "listener", l.name, "method", req.Method, "unique_id", req.UniqueID)
	l.t.dropped(transport.DropDuplicate, l.name, nil)
}

// discard takes d, which is not a valid request (err says why), off its
// queue: acked when it came from a stream (see fromStream), to the
// dead-letter queue in at-least-once mode, else rejected without requeue
// (dead-lettered if the broker has a policy for it).
func (l *rpcListener) discard(ctx context.Context, d *amqp.Delivery, err error) {
	settle := func() error { return d.Reject(false) }
	switch {
	case l.fromStream(d):
		settle = func() error { return d.Ack(false) }
	case l.alo != nil:
		l.deadLetter(ctx, d, transport.DropRejected, err)
		return
	}
	if err := settle(); err != nil {
		l.t.log.Debug("rabbit: could not reject a message", "listener", l.name, "error", err)
	}
	l.t.dropped(transport.DropRejected, l.name, err)
}

// deadLetter publishes a copy of d to the dead-letter exchange, confirmed,
// then acks d, and reports it to OnDrop with reason and cause. When the
// copy cannot be published d is rejected without requeue, and lost unless
// the broker has a dead-letter policy; when d cannot be settled either,
// the connection is gone and the broker delivers it again.
func (l *rpcListener) deadLetter(ctx context.Context, d *amqp.Delivery, reason transport.DropReason, cause error) {
	a := l.alo
	if reason != transport.DropRejected { // the reject path logged it already
		l.t.log.Warn("rabbit: moving a cast to the dead-letter queue", "listener", l.name,
			"reason", reason, "dead_letter_queue", a.dlq, "error", cause)
	}
	headers := amqp.Table{}
	for k, v := range d.Headers {
		headers[k] = v
	}
	why := reason.String()
	if cause != nil {
		why += ": " + cause.Error()
	}
	headers[deadReasonHeader] = why
	headers[deadSourceHeader] = l.name
	msg := amqp.Publishing{
		Headers:         headers,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		DeliveryMode:    amqp.Persistent,
		CorrelationId:   d.CorrelationId,
		ReplyTo:         d.ReplyTo,
		MessageId:       wire.NewID(),
		Timestamp:       d.Timestamp,
		Type:            d.Type,
		AppId:           d.AppId,
		Body:            d.Body,
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deadLetterTimeout)
	defer cancel()
	settle := func() error { return d.Ack(false) }
	if err := l.t.publish(ctx, &a.dlx, d.RoutingKey, msg); err != nil {
		l.t.log.Error("rabbit: could not dead-letter a message; dropping it", "listener", l.name,
			"dead_letter_exchange", a.dlx.name, "error", err)
		settle = func() error { return d.Reject(false) }
	}
	if err := settle(); err != nil {
		// The channel is gone: the broker delivers d again.
		l.t.log.Debug("rabbit: could not settle a dead-lettered message; the broker keeps it", "listener", l.name, "error", err)
		return
	}
	l.t.dropped(reason, l.name, cause)
}

// settler is a cast handed out in at-least-once mode, unacked until
// Settle.
type settler struct {
	*driver.Incoming
	l    *rpcListener
	d    amqp.Delivery
	once sync.Once
}

var _ transport.Settler = (*settler)(nil)

// Settle acks the cast when err is nil, and otherwise requeues it, or
// moves it to the dead-letter queue once it reached the delivery limit.
// An ack or requeue that fails leaves the cast to the broker, which
// delivers it again once the channel is gone.
func (s *settler) Settle(err error) {
	s.once.Do(func() {
		l, req := s.l, s.Request()
		l.alo.settled.End(req.UniqueID, err == nil)
		switch {
		case err == nil:
			if err := s.d.Ack(false); err != nil {
				l.t.log.Debug("rabbit: could not ack a handled cast; a redelivery of it will be dropped", "listener", l.name, "error", err)
			}
		case l.alo.spent(&s.d):
			l.deadLetter(context.Background(), &s.d, transport.DropDeliveryLimit,
				fmt.Errorf("rabbit: cast %s failed at its last delivery: %w", req.Method, err))
		default:
			// basic.reject, not basic.nack: RabbitMQ 4.3 counts only the
			// former as a failed delivery in x-delivery-count.
			l.t.log.Debug("rabbit: requeueing a cast whose handling failed", "listener", l.name, "method", req.Method, "error", err)
			if err := s.d.Reject(true); err != nil {
				l.t.log.Debug("rabbit: could not requeue a cast; the broker keeps it", "listener", l.name, "error", err)
			}
		}
	})
}
