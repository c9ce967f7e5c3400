package rabbit

import (
	"slices"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// fakeAcker records the acks of an ackBatch.
type fakeAcker struct {
	mu    sync.Mutex
	acks  []uint64      // tags acked with multiple=true
	acked chan struct{} // when not nil, hears each ack
}

func (f *fakeAcker) Ack(tag uint64, multiple bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !multiple {
		panic("ackBatch acked without multiple")
	}
	f.acks = append(f.acks, tag)
	if f.acked != nil {
		f.acked <- struct{}{}
	}
	return nil
}

func (f *fakeAcker) Nack(uint64, bool, bool) error { panic("ackBatch nacked") }
func (f *fakeAcker) Reject(uint64, bool) error     { panic("ackBatch rejected") }

func (f *fakeAcker) got() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.acks)
}

func TestAckBatch(t *testing.T) {
	// A step settles tag: acked by the batch, or rejected (settled alone)
	// when the tag is negative.
	tests := []struct {
		name  string
		steps []int
		want  []uint64 // acks after a flush at the end
	}{
		{"in order", []int{1, 2, 3}, []uint64{3}},
		{"nothing to ack", []int{-1, -2}, nil},
		// A multiple ack must name a tag still outstanding: the last one
		// acked, not a rejected one after it.
		{"rejected last", []int{1, 2, -3}, []uint64{2}},
		{"rejected between", []int{1, -2, 3}, []uint64{3}},
		// Tag 2 has not reached the listener: acking 3 would ack it.
		{"gap", []int{1, 3}, []uint64{1}},
		{"gap filled", []int{1, 3, 4, 2}, []uint64{4}},
		{"gap filled by a reject", []int{3, -2, 1}, []uint64{3}},
		{"gap filled by a reject, last rejected", []int{1, -3, -2}, []uint64{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAcker{}
			b := &ackBatch{delay: time.Hour}
			for _, s := range tt.steps {
				d := &amqp.Delivery{Acknowledger: f, DeliveryTag: uint64(max(s, -s))}
				if s > 0 {
					if !b.ack(d) {
						t.Fatalf("ack(%d) = false", s)
					}
				} else {
					b.settled(d)
				}
			}
			if got := f.got(); len(got) != 0 {
				t.Errorf("acked %v before a flush, want nothing below %d pending", got, ackEvery)
			}
			b.stop()
			if got := f.got(); !slices.Equal(got, tt.want) {
				t.Errorf("acks after %v = %v, want %v", tt.steps, got, tt.want)
			}
		})
	}
}

func TestAckBatchBounds(t *testing.T) {
	f := &fakeAcker{}
	b := &ackBatch{delay: time.Hour}
	for tag := uint64(1); tag <= ackEvery; tag++ {
		b.ack(&amqp.Delivery{Acknowledger: f, DeliveryTag: tag})
	}
	if got := f.got(); !slices.Equal(got, []uint64{ackEvery}) {
		t.Errorf("after %d acks: acked %v, want [%d] at once", ackEvery, got, ackEvery)
	}

	// Deliveries of a new channel start from tag 1; what the old one had
	// pending is acked on it first.
	g := &fakeAcker{acked: make(chan struct{}, 4)}
	b.ack(&amqp.Delivery{Acknowledger: f, DeliveryTag: ackEvery + 1})
	b.delay = time.Millisecond
	b.ack(&amqp.Delivery{Acknowledger: g, DeliveryTag: 1})
	if got := f.got(); !slices.Equal(got, []uint64{ackEvery, ackEvery + 1}) {
		t.Errorf("old channel acked %v, want [%d %d]", got, ackEvery, ackEvery+1)
	}

	// The timer acks what waits.
	<-g.acked
	if got := g.got(); !slices.Equal(got, []uint64{1}) {
		t.Errorf("new channel acked %v after the delay, want [1]", got)
	}

	// Once stopped (the channel closes), acks go at once.
	b.stop()
	b.ack(&amqp.Delivery{Acknowledger: g, DeliveryTag: 2})
	if got := g.got(); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("after stop: acked %v, want [1 2]", got)
	}
}
