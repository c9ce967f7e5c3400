package rabbit

import (
	"context"
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/warrenrpc/warren/internal/driver"
	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/internal/wire"
)

// replyQueue returns the transport's reply queue, declaring it and
// starting its consumer on the first call: reply_<32 hex>, durable false,
// auto-delete false, not exclusive, x-expires 30 min, as oslo.messaging.
// It returns by ctx's end even when the broker does not answer.
func (t *Transport) replyQueue(ctx context.Context) (string, error) {
	return awaitBroker(ctx, t, "setting up the reply queue", func() (string, error) { return t.setupReplyQueue(ctx) }, nil)
}

// setupReplyQueue does replyQueue's work; ctx is checked between the
// broker round trips.
func (t *Transport) setupReplyQueue(ctx context.Context) (string, error) {
	t.replyMu.Lock()
	defer t.replyMu.Unlock()
	if t.replyQ != "" {
		return t.replyQ, nil
	}
	ch, err := t.conConn.Channel()
	if err != nil {
		return "", t.failure(t.conConn, "opening the reply channel", err)
	}
	name := topology.ReplyQueue()
	var deliveries <-chan amqp.Delivery
	steps := []struct {
		what string
		do   func() error
	}{
		{"declaring reply queue " + name, func() error { return declareExpiringQueue(ch, name) }},
		{"consuming reply queue " + name, func() (err error) {
			deliveries, err = ch.Consume(name, "", false, false, false, false, nil)
			return err
		}},
	}
	for _, s := range steps {
		err := ctx.Err()
		if err != nil {
			err = fmt.Errorf("rabbit: %s: %w", s.what, err)
		} else if err = s.do(); err != nil {
			err = t.failure(t.conConn, s.what, err)
		}
		if err != nil {
			_ = ch.Close()
			return "", err
		}
	}
	if !t.spawn(func() { t.consumeReplies(ch, name, deliveries) }) {
		_ = ch.Close()
		return "", errClosed
	}
	t.replyQ, t.replyCh = name, ch
	return name, nil
}

// consumeReplies routes replies to the waiting calls until the reply
// channel closes.
func (t *Transport) consumeReplies(ch *amqp.Channel, queue string, deliveries <-chan amqp.Delivery) {
	for d := range deliveries {
		t.takeReply(&d)
	}
	t.replyEnded(ch, queue)
}

// takeReply decodes d and hands it to its call, acking it first as
// oslo.messaging does. Invalid replies are rejected and logged; when the
// _msg_id of one can still be read, its call fails at once with an error
// matching transport.ErrMalformed instead of waiting out its timeout.
func (t *Transport) takeReply(d *amqp.Delivery) {
	err := driver.CheckSize(len(d.Body), t.s.maxMessageSize)
	var m *wire.ReplyMessage
	if err == nil {
		m, err = wire.DecodeReply(d.Body)
	}
	if err != nil {
		t.log.Warn("rabbit: rejecting a message that is not a valid reply",
			"queue", d.RoutingKey, "content_type", d.ContentType, "bytes", len(d.Body), "error", err)
		if err := d.Reject(false); err != nil {
			t.log.Debug("rabbit: could not reject a reply", "error", err)
		}
		if id, _ := wire.Peek(d.Body); id != "" {
			t.waiters.Fail(id, fmt.Errorf("rabbit: the reply to message %s: %w", id, err))
		}
		return
	}
	if err := d.Ack(false); err != nil {
		t.log.Debug("rabbit: could not ack a reply", "msg_id", m.MsgID, "error", err)
	}
	if !t.waiters.Deliver(m) {
		t.log.Debug("rabbit: dropping a reply nobody waits for", "msg_id", m.MsgID)
	}
}

// replyEnded handles the end of the reply consumer. Unless the transport
// is closing or lost (handled elsewhere), the broker cancelled the
// consumer or closed the channel, for instance because the queue was
// deleted: the calls waiting on it fail and the next call declares a new
// reply queue.
func (t *Transport) replyEnded(ch *amqp.Channel, queue string) {
	if t.usable() != nil || t.conConn.IsClosed() {
		return
	}
	t.replyMu.Lock()
	defer t.replyMu.Unlock()
	if t.replyCh == ch {
		t.replyQ, t.replyCh = "", nil
	}
	err := fmt.Errorf("rabbit: the broker stopped delivering reply queue %q", queue)
	t.log.Warn("rabbit: reply queue consumer ended; pending calls fail", "queue", queue)
	t.waiters.FailAll(err)
	_ = ch.Close()
}

// closeReplyQueue deletes the reply queue, if any. oslo.messaging leaves
// reply queues to expire; a closed transport never uses its queue again,
// so warren removes it at once. A server replying later gets it back
// unroutable and drops the reply.
func (t *Transport) closeReplyQueue() error {
	t.replyMu.Lock()
	defer t.replyMu.Unlock()
	if t.replyCh == nil || t.conConn.IsClosed() {
		return nil
	}
	_, err := t.replyCh.QueueDelete(t.replyQ, false, false, false)
	_ = t.replyCh.Close()
	if err != nil && !errors.Is(err, amqp.ErrClosed) {
		return fmt.Errorf("rabbit: deleting reply queue %q: %w", t.replyQ, err)
	}
	return nil
}
