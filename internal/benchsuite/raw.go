package benchsuite

import (
	"context"
	"errors"
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/warrenrpc/warren/internal/wire"
)

// directReplyTo is RabbitMQ's pseudo-queue for replies without a queue.
const directReplyTo = "amq.rabbitmq.reply-to"

// rawPrefetch is the baseline server's basic.qos: enough that the broker
// always has work queued for it at 256 calls in flight.
const rawPrefetch = 256

// rawServer is a baseline's server, hand-written on amqp091: one
// consuming channel with a tuned prefetch and manual acks, acked several
// at a time (multiple), replying on its own channel without confirms: with
// the request's body (startRawServer), or with a reply encoded as
// oslo.messaging's (startRawJSONServer).
type rawServer struct {
	conn *amqp.Connection
	done chan struct{} // closed when serve returns
}

// startRawServer consumes queue on a connection of its own and echoes each
// request to its reply_to with its correlation_id.
func startRawServer(url, queue string) (*rawServer, error) {
	return startConsumer(url, queue, func(d *amqp.Delivery, out *amqp.Channel) error {
		if d.ReplyTo == "" {
			return nil
		}
		return out.Publish("", d.ReplyTo, false, false, amqp.Publishing{
			ContentType:   "application/json",
			CorrelationId: d.CorrelationId,
			Body:          d.Body,
		})
	})
}

// startConsumer consumes queue on a connection of its own, with one
// consuming channel, prefetch rawPrefetch and manual acks, and hands each
// delivery to handle with a channel to reply on; an error of handle
// stops the consumer.
func startConsumer(url, queue string, handle func(d *amqp.Delivery, out *amqp.Channel) error) (*rawServer, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, fmt.Errorf("raw server: %w", err)
	}
	in, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("raw server: %w", err)
	}
	out, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("raw server: %w", err)
	}
	if err := in.Qos(rawPrefetch, 0, false); err != nil {
		conn.Close()
		return nil, fmt.Errorf("raw server: %w", err)
	}
	deliveries, err := in.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("raw server: %w", err)
	}
	s := &rawServer{conn: conn, done: make(chan struct{})}
	go s.serve(deliveries, out, handle)
	return s, nil
}

// rawAckEvery bounds how many requests the baseline server holds unacked.
const rawAckEvery = 64

func (s *rawServer) serve(deliveries <-chan amqp.Delivery, out *amqp.Channel, handle func(d *amqp.Delivery, out *amqp.Channel) error) {
	defer close(s.done)
	unacked := 0
	for d := range deliveries {
		if err := handle(&d, out); err != nil {
			return
		}
		// Ack what was received, all at once, when nothing more is
		// waiting or enough is unacked.
		unacked++
		if len(deliveries) == 0 || unacked >= rawAckEvery {
			if err := d.Ack(true); err != nil {
				return
			}
			unacked = 0
		}
	}
}

func (s *rawServer) close() {
	s.conn.Close()
	<-s.done
}

// rawClient is the baseline's RPC client: one connection, one channel
// that publishes calls without confirms (a mutex orders them) and
// consumes replies with automatic acks, either from a private queue (an
// exclusive server-named one, or a quorum queue of its own) or through
// Direct Reply-to; replies are matched to calls by correlation_id.
type rawClient struct {
	conn    *amqp.Connection
	ch      *amqp.Channel
	replyTo string
	// quorum is true when replyTo is a quorum queue, which close deletes.
	quorum bool

	mu      sync.Mutex
	pending map[string]chan []byte
	done    chan struct{}
}

// newRawClient returns a client that gets its replies through Direct
// Reply-to when direct is set, else from a private queue: a quorum queue
// when queueArgs ask for one, else an exclusive one.
func newRawClient(url string, direct bool, queueArgs amqp.Table) (*rawClient, error) {
	r, err := openReplies(url, direct, queueArgs)
	if err != nil {
		return nil, fmt.Errorf("raw client: %w", err)
	}
	c := &rawClient{conn: r.conn, ch: r.ch, replyTo: r.queue, quorum: r.quorum, pending: make(map[string]chan []byte), done: make(chan struct{})}
	go c.route(r.deliveries)
	return c, nil
}

// replies is a baseline client's connection and channel, consuming its
// replies with automatic acks.
type replies struct {
	conn       *amqp.Connection
	ch         *amqp.Channel
	queue      string // where the replies go
	quorum     bool   // queue is a quorum queue of the client's own
	deliveries <-chan amqp.Delivery
}

// openReplies dials url and consumes replies through Direct Reply-to when
// direct is set, else from a private queue: a quorum queue when queueArgs
// ask for one, else an exclusive one.
func openReplies(url string, direct bool, queueArgs amqp.Table) (*replies, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, err
	}
	r := &replies{conn: conn, queue: directReplyTo, quorum: !direct && queueArgs[amqp.QueueTypeArg] == amqp.QueueTypeQuorum}
	r.ch, err = conn.Channel()
	if err == nil {
		switch {
		case r.quorum:
			// Quorum queues are durable, neither exclusive nor auto-delete.
			r.queue = "benchsuite-reply-" + wire.NewID()
			_, err = r.ch.QueueDeclare(r.queue, true, false, false, false, queueArgs)
		case !direct:
			var q amqp.Queue
			q, err = r.ch.QueueDeclare("", false, true, true, false, nil)
			r.queue = q.Name
		}
	}
	if err == nil {
		r.deliveries, err = r.ch.Consume(r.queue, "", true, false, false, false, nil)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return r, nil
}

func (c *rawClient) route(replies <-chan amqp.Delivery) {
	defer close(c.done)
	for d := range replies {
		c.mu.Lock()
		w := c.pending[d.CorrelationId]
		delete(c.pending, d.CorrelationId)
		c.mu.Unlock()
		if w != nil {
			w <- d.Body
		}
	}
}

// call publishes body to the control exchange with routing key key and
// waits for its reply or ctx's end.
func (c *rawClient) call(ctx context.Context, exchange, key string, body []byte) error {
	id := wire.NewID()
	w := make(chan []byte, 1)
	c.mu.Lock()
	c.pending[id] = w
	err := c.ch.Publish(exchange, key, false, false, amqp.Publishing{
		ContentType:   "application/json",
		CorrelationId: id,
		ReplyTo:       c.replyTo,
		Body:          body,
	})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return ctx.Err()
	}
}

func (c *rawClient) close() {
	if c.quorum {
		_, _ = c.ch.QueueDelete(c.replyTo, false, false, false)
	}
	c.conn.Close()
	<-c.done
}

// rawCaster is the baseline's cast publisher: one channel in confirm mode
// whose publishers each wait for their own confirm, streamed (many
// unconfirmed at once), as amqp091's deferred confirmations allow.
type rawCaster struct {
	conn *amqp.Connection
	ch   *amqp.Channel
	mu   sync.Mutex
}

func newRawCaster(url string) (*rawCaster, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, fmt.Errorf("raw caster: %w", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("raw caster: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		conn.Close()
		return nil, fmt.Errorf("raw caster: %w", err)
	}
	return &rawCaster{conn: conn, ch: ch}, nil
}

// cast publishes body mandatory and waits for its confirm.
func (c *rawCaster) cast(ctx context.Context, exchange, key string, body []byte) error {
	c.mu.Lock()
	dc, err := c.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, amqp.Publishing{
		ContentType:  "application/json",
		DeliveryMode: amqp.Persistent,
		Body:         body,
	})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("raw caster: nacked")
	}
	return nil
}

func (c *rawCaster) close() { c.conn.Close() }

// rawDrain consumes queues with automatic acks until closed, counting
// nothing: it keeps cast queues empty.
type rawDrain struct {
	conn *amqp.Connection
	done chan struct{}
}

func startRawDrain(url string, queues ...string) (*rawDrain, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, fmt.Errorf("raw consumer: %w", err)
	}
	d := &rawDrain{conn: conn, done: make(chan struct{})}
	var wg sync.WaitGroup
	for _, q := range queues {
		ch, err := conn.Channel()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("raw consumer: %w", err)
		}
		msgs, err := ch.Consume(q, "", true, false, false, false, nil)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("raw consumer: %w", err)
		}
		wg.Go(func() {
			for range msgs {
				// Drained: the measure is the publisher's.
			}
		})
	}
	go func() {
		wg.Wait()
		close(d.done)
	}()
	return d, nil
}

func (d *rawDrain) close() {
	d.conn.Close()
	<-d.done
}
