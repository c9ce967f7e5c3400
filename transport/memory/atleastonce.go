package memory

import (
	"fmt"
	"sync"

	"github.com/warrenrpc/warren/internal/driver"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/transport"
)

// AtLeastOnce makes the transport's listeners hand out casts as
// transport.Settlers, as the RabbitMQ driver's AtLeastOnce option does: a
// cast stays on its queue until it is settled; one whose handling failed,
// or that was handed out by a listener closed before settling it, is
// handed out again, up to limit deliveries in all (zero or less means
// transport.DefaultDeliveryLimit), then dropped and reported to OnDrop
// with transport.DropDeliveryLimit. A cast whose _unique_id was handled
// already is dropped as a duplicate; one that arrives while a cast with
// its _unique_id is being handled waits for the outcome. Calls stay
// at-most-once.
func AtLeastOnce(limit int) Option {
	return func(o *options) {
		if limit <= 0 {
			limit = transport.DefaultDeliveryLimit
		}
		o.deliveryLimit = limit
	}
}

// atLeastOnce is a listener's state in at-least-once mode.
type atLeastOnce struct {
	limit   int
	settled driver.Settled

	mu        sync.Mutex
	closed    bool // the listener closed: what it handed out went back
	unsettled map[*settler]struct{}
}

// accept hands out d, a cast, as a Settler, or drops or parks it; nil
// when it is not handed out.
func (l *listener) accept(d delivery, req *message.Request) transport.Incoming {
	a := l.alo
	if d.m.deliveries >= a.limit {
		l.t.dropped(transport.DropDeliveryLimit, d.q.name, nil)
		return nil
	}
	switch a.settled.Begin(req.UniqueID, func(handled bool) {
		if handled {
			l.t.dropped(transport.DropDuplicate, d.q.name, nil)
		} else {
			l.t.bus.requeue(d, false)
		}
	}) {
	case driver.Duplicate:
		l.t.dropped(transport.DropDuplicate, d.q.name, nil)
		return nil
	case driver.Parked:
		return nil
	}
	req.Headers = d.m.headers
	s := &settler{Incoming: l.t.replier.Incoming(req, d.m.deadline), l: l, d: d}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		// Closed while d was taken: back it goes.
		a.settled.End(req.UniqueID, false)
		l.t.bus.requeue(d, true)
		return nil
	}
	if a.unsettled == nil {
		a.unsettled = make(map[*settler]struct{})
	}
	a.unsettled[s] = struct{}{}
	return s
}

// requeueUnsettled puts back on their queues the casts handed out and not
// settled, as a broker does with the unacked messages of a closed
// channel. Closing the listener runs it.
func (a *atLeastOnce) requeueUnsettled(b *Bus) {
	a.mu.Lock()
	a.closed = true
	pending := a.unsettled
	a.unsettled = nil
	a.mu.Unlock()
	for s := range pending {
		a.settled.End(s.Request().UniqueID, false)
		b.requeue(s.d, true)
	}
}

// requeue puts d back on its queue, unless the queue is gone, counting one
// more delivery when counted.
func (b *Bus) requeue(d delivery, counted bool) {
	m := *d.m
	if counted {
		m.deliveries++
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !d.q.deleted {
		d.q.put(&m)
	}
}

// settler is a cast handed out in at-least-once mode.
type settler struct {
	*driver.Incoming
	l *listener
	d delivery
}

var _ transport.Settler = (*settler)(nil)

// Settle drops the cast when err is nil, and otherwise puts it back on its
// queue, or drops it once it reached the delivery limit. Only the first
// Settle counts, and none after the listener closed.
func (s *settler) Settle(err error) {
	a := s.l.alo
	a.mu.Lock()
	_, ok := a.unsettled[s]
	delete(a.unsettled, s)
	a.mu.Unlock()
	if !ok {
		return
	}
	a.settled.End(s.Request().UniqueID, err == nil)
	switch {
	case err == nil:
	case s.d.m.deliveries+1 >= a.limit:
		s.l.t.dropped(transport.DropDeliveryLimit, s.d.q.name,
			fmt.Errorf("memory: cast %s failed %d times: %w", s.Request().Method, s.d.m.deliveries+1, err))
	default:
		s.l.t.bus.requeue(s.d, true)
	}
}
