package rabbit

import (
	"context"
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/transport"
)

// replyQueue returns the transport's reply queue, declaring it and
// starting its consumer on the first call: reply_<32 hex>, durable false,
// auto-delete false, not exclusive, x-expires 30 min, as oslo.messaging.
// The queue keeps its name for the transport's life: after a reconnect it
// is declared again, so that replies published meanwhile are delivered.
// After the broker deleted the queue under its consumer, the next call
// declares it again before naming it, since a reply published before the
// consumer is back would otherwise find no queue; when the broker refuses
// (a cluster still recovering the queue), the call goes on, as the
// consumer keeps trying. It returns by ctx's end even when the broker
// does not answer.
func (t *Transport) replyQueue(ctx context.Context) (string, error) {
	t.replyMu.Lock()
	q, sub := t.replyQ, t.replySub
	t.replyMu.Unlock()
	switch {
	case q == "":
		return awaitBroker(ctx, t, "setting up the reply queue", func() (string, error) { return t.setupReplyQueue(ctx) }, nil)
	case t.replyLost.Load():
		_, err := awaitBroker(ctx, t, "declaring the reply queue again", func() (string, error) { return q, t.redeclareReplyQueue(ctx, sub) }, nil)
		if err != nil {
			// The consumer declares it again too, retrying while a
			// cluster recovers the queue: the call goes on with the name.
			t.log.Debug("rabbit: could not declare the reply queue again before a call", "queue", q, "error", err)
		}
	}
	return q, nil
}

// redeclareReplyQueue declares sub's reply queue on a channel of its own,
// after the broker deleted it. The subscription declares it too when it
// consumes it again; whichever comes first makes it.
func (t *Transport) redeclareReplyQueue(ctx context.Context, sub *subscription) error {
	s, err := t.session(ctx)
	if err != nil {
		return err
	}
	ch, err := s.con.Channel()
	if err != nil {
		return t.failure(s.con, "opening a channel to declare the reply queue again", err)
	}
	defer ch.Close()
	if err := sub.declare(ch); err != nil {
		return fmt.Errorf("rabbit: declaring reply queue %q again: %w", sub.queues[0], err)
	}
	t.replyLost.Store(false)
	return nil
}

// setupReplyQueue does replyQueue's work; ctx is checked between the
// broker round trips.
func (t *Transport) setupReplyQueue(ctx context.Context) (string, error) {
	t.replyMu.Lock()
	defer t.replyMu.Unlock()
	if t.replyQ != "" {
		return t.replyQ, nil
	}
	s, err := t.session(ctx)
	if err != nil {
		return "", err
	}
	name := topology.ReplyQueue()
	if t.s.queues.QueueManager {
		if name, err = t.claimQueueOn(s, topology.ManagedReplyQueue); err != nil {
			return "", err
		}
	}
	sub := t.newSubscription("reply queue "+name, []string{name}, 0, func(ch *amqp.Channel) error {
		return t.s.queues.declareExpiring(ch, name)
	})
	// Replies are consumed with automatic acks, as RabbitMQ's Direct
	// Reply-to does: a reply lost with the connection is lost to its
	// caller either way, since a redelivery could only reach this
	// transport's consumer again. It saves a frame and a broker
	// operation per call.
	sub.autoAck = true
	// A queue deleted under its consumer took the replies it held: the
	// calls waiting for them hear it now, instead of at their deadline,
	// with an error matching transport.ErrConnectionLost (their way back
	// is lost).
	sub.cancelled = func(queue string) {
		t.replyLost.Store(true)
		t.waiters.FailAll(fmt.Errorf("rabbit: the broker stopped delivering reply queue %q: %w", queue, transport.ErrConnectionLost))
	}
	if err := sub.open(ctx, s); err != nil {
		return "", err
	}
	if !t.spawn(func() { t.consumeReplies(sub) }) {
		_ = sub.stop(false)
		return "", errClosed
	}
	t.replyQ, t.replySub = name, sub
	return name, nil
}

// consumeReplies routes replies to the waiting calls until the transport
// closes or the broker refuses to declare the reply queue again; then the
// waiting calls fail, and the next call declares a new reply queue.
func (t *Transport) consumeReplies(sub *subscription) {
	for {
		d, _, err := sub.next(t.closing)
		if err != nil {
			if t.usable() != nil || errors.Is(err, errStopped) {
				return
			}
			t.replyMu.Lock()
			if t.replySub == sub {
				t.replyQ, t.replySub = "", nil
			}
			t.replyMu.Unlock()
			_ = sub.stop(false)
			t.waiters.FailAll(err)
			t.log.Error("rabbit: the reply queue cannot be consumed; pending calls fail", "queue", sub.queues[0], "error", err)
			return
		}
		t.takeReply(&d)
	}
}

// takeReply decodes d, delivered already acked, and hands it to its call.
// Invalid replies are dropped and logged; when the
// _msg_id of one can still be read, its call fails at once with an error
// matching transport.ErrMalformed instead of waiting out its timeout.
func (t *Transport) takeReply(d *amqp.Delivery) {
	body, err := t.bodyOf(d)
	var m *wire.ReplyMessage
	if err == nil {
		m, err = wire.DecodeReply(body)
	}
	if err != nil {
		t.rejected("reply queue "+d.RoutingKey, "reply", d, "", err)
		t.dropped(transport.DropRejected, d.RoutingKey, err)
		if body == nil {
			body = d.Body
		}
		if id, _ := wire.Peek(body); id != "" {
			t.waiters.Fail(id, fmt.Errorf("rabbit: the reply to message %s: %w", id, err))
		}
		return
	}
	if !t.waiters.Deliver(m) {
		t.log.Debug("rabbit: dropping a reply nobody waits for", "msg_id", m.MsgID)
	}
}

// closeReplyQueue deletes the reply queue, if any. oslo.messaging leaves
// reply queues to expire; a closed transport never uses its queue again,
// so warren removes it at once. A server replying later gets it back
// unroutable and drops the reply. Under QueueManager the queue stays, as
// in oslo.messaging, for the next run of the program to take up.
func (t *Transport) closeReplyQueue() error {
	t.replyMu.Lock()
	defer t.replyMu.Unlock()
	if t.replySub == nil {
		return nil
	}
	err := t.replySub.stop(false)
	if s := t.sess.Load(); s != nil && !s.down() && !t.s.queues.QueueManager {
		err = errors.Join(err, dropQueue(s, t.replyQ))
	}
	return err
}

// dropQueue deletes queue on a channel of its own on s's consuming
// connection. A connection that drops meanwhile is no error: the queue
// expires on its own.
func dropQueue(s *session, queue string) error {
	ch, err := s.con.Channel()
	if err == nil {
		_, err = ch.QueueDelete(queue, false, false, false)
		_ = ch.Close()
	}
	if err != nil && !s.down() {
		return fmt.Errorf("rabbit: deleting queue %q: %w", queue, err)
	}
	return nil
}
