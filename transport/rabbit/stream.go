package rabbit

import (
	"context"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/topology"
)

// streamOffsetHeader is the consumer argument that says where a stream
// consumer starts, and the header that gives each delivery's offset.
const streamOffsetHeader = "x-stream-offset"

// transientTTL is the TTL of fanout and reply queues, or of a stream's
// messages: TransientQueuesTTL, DefaultTransientQueuesTTL for zero, and
// zero when there is none (a negative TransientQueuesTTL).
func (q Queues) transientTTL() time.Duration {
	switch ttl := q.TransientQueuesTTL; {
	case ttl == 0:
		return DefaultTransientQueuesTTL
	case ttl < 0:
		return 0
	default:
		return ttl
	}
}

// streamArgs are the arguments of the stream fanout queue, as
// oslo.messaging's _get_queue_arguments builds them under
// rabbit_stream_fanout: the stream type, which replaces every other
// argument, and x-max-age, the transient queues' TTL in whole seconds as
// a string ("1800s"), left out when there is no TTL.
func (q Queues) streamArgs() amqp.Table {
	args := amqp.Table{"x-queue-type": "stream"}
	if ttl := q.transientTTL(); ttl > 0 {
		args["x-max-age"] = strconv.FormatInt(int64(ttl/time.Second), 10) + "s"
	}
	return args
}

// declareStream declares the stream fanout queue name: durable,
// auto-delete false, not exclusive, with streamArgs.
func (q Queues) declareStream(ch *amqp.Channel, name string) error {
	_, err := ch.QueueDeclare(name, true, false, false, false, q.streamArgs())
	return declareError(err)
}

// fanoutQueue is a listener's queue on the fanout exchange of its topic,
// as the preset has it: a queue of its own, named with random hex or by
// the queue manager, or the stream the topic's servers share.
type fanoutQueue struct {
	name    string
	declare func(ch *amqp.Channel) error
	// keep is true when Close must leave the queue: a stream, or a queue
	// manager's name, which the next run of the program takes up.
	keep bool
	// stream is true for the stream fanout queue.
	stream bool
}

// fanoutQueueOf names and describes the fanout queue of a new listener on
// topic, whose random name would be random. Under QueueManager it claims
// the name on the broker, within ctx.
func (t *Transport) fanoutQueueOf(ctx context.Context, topic, random string) (fanoutQueue, error) {
	q := t.s.queues
	if q.StreamFanout {
		// Shared by the topic's servers, like <topic>: one that exists is
		// consumed as it is, whatever x-max-age its declarer gave it.
		name := topology.StreamFanoutQueue(topic)
		return fanoutQueue{name: name, keep: true, stream: true,
			declare: t.existingOr(name, func(ch *amqp.Channel) error { return q.declareStream(ch, name) })}, nil
	}
	name := random
	if q.QueueManager {
		var err error
		name, err = t.claimQueue(ctx, func(id string) string { return topology.ManagedFanoutQueue(topic, id) })
		if err != nil {
			return fanoutQueue{}, err
		}
	}
	return fanoutQueue{name: name, keep: q.QueueManager,
		declare: func(ch *amqp.Channel) error { return q.declareExpiring(ch, name) }}, nil
}

// streamOffset is where a listener reads the stream fanout queue from,
// the x-stream-offset of its consumer. It starts at "next", the casts
// published after the consumer attached, so that a new server does not
// run fanout casts sent before it listened (oslo.messaging starts at
// "last", the stream's last chunk, and so runs some old casts again).
// After a lost connection the consumer resumes at the offset after the
// last delivery it received, so it misses no cast sent meanwhile (that
// the stream still keeps) and runs none twice; one that received nothing
// yet starts at "next" again, since AMQP 0.9.1 tells a consumer no offset
// before its first delivery. When the broker ends the
// consumer on a live connection, the stream may have been deleted and
// declared anew, numbering its messages from 0 again: the consumer starts
// at "next" again, as oslo.messaging goes back to "last" then. It is safe
// for concurrent use.
type streamOffset struct {
	queue string // the stream's name
	index int    // its position among the listener's queues

	mu   sync.Mutex
	next int64 // the offset to resume at; -1: "next"
}

func newStreamOffset(queue string, index int) *streamOffset {
	return &streamOffset{queue: queue, index: index, next: -1}
}

// consumeArgs returns the consumer arguments of queue i of the listener:
// the x-stream-offset of the stream, nil for the other queues.
func (o *streamOffset) consumeArgs(i int) amqp.Table {
	if i != o.index {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.next < 0 {
		return amqp.Table{streamOffsetHeader: "next"}
	}
	return amqp.Table{streamOffsetHeader: o.next}
}

// received records d, a delivery of queue i of the listener.
func (o *streamOffset) received(i int, d *amqp.Delivery) {
	if i != o.index {
		return
	}
	var off int64
	switch v := d.Headers[streamOffsetHeader].(type) {
	case int64:
		off = v
	case int32:
		off = int64(v)
	default:
		return
	}
	o.mu.Lock()
	o.next = off + 1
	o.mu.Unlock()
}

// cancelled hears that the broker ended the consumer of queue on a live
// connection.
func (o *streamOffset) cancelled(queue string) {
	if queue != o.queue {
		return
	}
	o.mu.Lock()
	o.next = -1
	o.mu.Unlock()
}

// fromStream reports whether d came from the listener's stream fanout
// queue. RabbitMQ answers basic.reject or basic.nack on a stream by closing
// the connection (540 NOT_IMPLEMENTED), so such a delivery is only ever
// acked.
func (l *listener) fromStream(d *amqp.Delivery) bool {
	_, ok := d.Headers[streamOffsetHeader]
	return ok && l.stream != nil
}
