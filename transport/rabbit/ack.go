package rabbit

import (
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Bounds of an ackBatch: it acks ackDelay after the first delivery it
// holds, or once it holds ackEvery.
const (
	ackEvery = 32
	ackDelay = 2 * time.Millisecond
)

// ackBatch acks the deliveries an RPC listener hands out several at a
// time, with one basic.ack multiple=true, instead of one frame, one socket
// write and one broker operation each: at most ackDelay after it handed
// out the first, once ackEvery wait, and before the channel closes (Stop,
// a consumer that ended). A request handed out is so acked within
// milliseconds, as at-most-once delivery wants; one handed out just
// before its connection drops may be delivered again, to another server,
// as one whose ack the connection lost always could.
//
// Every delivery of the channel must be settled through the batch, acked
// (ack) or settled on its own (settled, after a basic.reject or an
// individual ack): a multiple ack covers every outstanding delivery up to
// its tag, so the batch acks only up to the highest tag below which every
// delivery was received and settled, and names a tag it acks (not one
// settled otherwise, which the broker would refuse). The three consumers
// of a listener share the channel, and a delivery of one may reach the
// listener after a later one of another.
type ackBatch struct {
	delay time.Duration  // zero: ackDelay
	fires sync.WaitGroup // timer functions started or due

	mu      sync.Mutex
	ch      amqp.Acknowledger // the channel of the tags below; nil before the first
	through uint64            // every tag up to through was received and settled
	early   map[uint64]bool   // settled tags above through+1: true to ack
	last    uint64            // highest tag up to through to ack; 0: none
	pending int               // deliveries to ack up to last
	timer   *time.Timer       // flushes after ackDelay; nil until needed
	armed   bool              // timer runs
	stopped bool              // the channel is closing: ack at once
}

// ack records d, handed out, to be acked. It returns false, and records
// nothing, when d's channel is closed: the broker requeues d, so it must
// not be handed out. A nil batch acks d at once, on its own.
func (b *ackBatch) ack(d *amqp.Delivery) bool {
	if b == nil {
		return d.Ack(false) == nil
	}
	if ch, ok := d.Acknowledger.(*amqp.Channel); ok && ch.IsClosed() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record(d, true)
	b.schedule()
	return true
}

// settled records d, settled on its own (rejected or acked alone). A nil
// batch has nothing to record.
func (b *ackBatch) settled(d *amqp.Delivery) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.record(d, false)
	b.schedule()
}

// schedule acks now or arms the timer, as what is pending asks. The
// caller holds mu.
func (b *ackBatch) schedule() {
	switch {
	case b.pending == 0:
	case b.pending >= ackEvery || b.stopped:
		b.flushLocked()
	case b.armed:
	default:
		delay := b.delay
		if delay == 0 {
			delay = ackDelay
		}
		b.fires.Add(1)
		if b.timer == nil {
			b.timer = time.AfterFunc(delay, b.fire)
		} else {
			b.timer.Reset(delay)
		}
		b.armed = true
	}
}

// fire is the timer's function.
func (b *ackBatch) fire() {
	defer b.fires.Done()
	b.flush()
}

// record notes that d is settled, acked by the batch when toAck. The
// caller holds mu.
func (b *ackBatch) record(d *amqp.Delivery, toAck bool) {
	if d.Acknowledger != b.ch {
		// A new channel numbers its deliveries from 1 again; what the old
		// one held is requeued or acked already.
		b.flushLocked()
		b.ch, b.through, b.last, b.pending, b.stopped = d.Acknowledger, 0, 0, 0, false
		clear(b.early)
	}
	tag := d.DeliveryTag
	if tag != b.through+1 {
		if b.early == nil {
			b.early = make(map[uint64]bool)
		}
		b.early[tag] = toAck
		return
	}
	for {
		b.through = tag
		if toAck {
			b.last = tag
			b.pending++
		}
		var ok bool
		if toAck, ok = b.early[tag+1]; !ok {
			return
		}
		delete(b.early, tag+1)
		tag++
	}
}

// flush acks what is pending.
func (b *ackBatch) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *ackBatch) flushLocked() {
	if b.armed {
		if b.timer.Stop() {
			b.fires.Done() // fire will not run
		}
		b.armed = false
	}
	if b.pending == 0 {
		return
	}
	// An ack that fails leaves the deliveries to the closing channel: the
	// broker requeues them.
	_ = b.ch.Ack(b.last, true)
	b.pending = 0
}

// stop acks what is pending and ends the timer, before the channel
// closes; until deliveries of another channel come, ack acks at once.
// It returns once no timer function runs.
func (b *ackBatch) stop() {
	b.mu.Lock()
	b.flushLocked()
	b.stopped = true
	b.mu.Unlock()
	b.fires.Wait()
}
