package memory

import (
	"context"
	"sync"
	"time"

	"github.com/warrenrpc/warren/internal/driver"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/transport"
)

// listener consumes a server's queues: its own, the topic's and its fanout
// queue, in that order in queues. The queues push messages into its inbox;
// Next takes them out.
type listener struct {
	t      *Transport
	fanout string   // the fanout exchange of its fanout queue; set by Bus.listen; "" for notifications
	queues []*queue // set by Bus.listen or Bus.listenNotifications
	// release, when set, runs once on Close after Stop: a notification
	// listener requeues what it handed out and nobody acked.
	release   func()
	closeOnce sync.Once
	// recent drops requests whose _unique_id Next handed out already.
	recent driver.Recent
	// alo, when not nil, hands casts out as transport.Settlers.
	alo *atLeastOnce

	// Guarded by the Bus lock.
	inbox   []delivery
	stopped bool

	ready    chan struct{} // capacity 1: the inbox may hold something
	stopOnce sync.Once
	stop     chan struct{} // closed by Stop
}

func newListener(t *Transport) *listener {
	return &listener{
		t:     t,
		ready: make(chan struct{}, 1),
		stop:  make(chan struct{}),
	}
}

// push appends d to the inbox. The caller holds the Bus lock.
func (l *listener) push(d delivery) {
	l.inbox = append(l.inbox, d)
	l.signal()
}

func (l *listener) signal() {
	select {
	case l.ready <- struct{}{}:
	default:
	}
}

// Next returns the next request for the server. It blocks until one
// arrives, ctx ends, or the listener stops (transport.ErrClosed). A message
// that is not a valid request is dropped, as the RabbitMQ driver rejects
// it, and so is a request whose _unique_id Next handed out already (see
// driver.Recent); both are reported to OnDrop, and Next goes on waiting. Next may be called by one
// goroutine at a time.
func (l *listener) Next(ctx context.Context) (transport.Incoming, error) {
	for {
		d, err := l.receive(ctx)
		if err != nil {
			return nil, err
		}
		req, err := wire.DecodeRequest(d.m.body)
		if err != nil {
			l.t.dropped(transport.DropRejected, d.q.name, err)
			continue
		}
		if l.alo != nil && !req.IsCall() {
			if in := l.accept(d, req); in != nil {
				return in, nil
			}
			continue
		}
		if !l.recent.Add(req.UniqueID) {
			l.t.dropped(transport.DropDuplicate, d.q.name, nil)
			continue
		}
		req.Headers = d.m.headers
		return l.t.replier.Incoming(req, d.m.deadline), nil
	}
}

// receive takes the oldest message of the inbox whose deadline has not
// passed, waiting for one if need be.
func (l *listener) receive(ctx context.Context) (delivery, error) {
	b := l.t.bus
	for {
		if err := ctx.Err(); err != nil {
			return delivery{}, err
		}
		b.mu.Lock()
		if l.stopped {
			b.mu.Unlock()
			return delivery{}, transport.ErrClosed
		}
		now := time.Now()
		for len(l.inbox) > 0 {
			d := l.inbox[0]
			l.inbox[0] = delivery{}
			if len(l.inbox) == 1 {
				l.inbox = l.inbox[:0] // keep the array for the next push
			} else {
				l.inbox = l.inbox[1:]
			}
			d.q.taken()
			if !d.m.expired(now) {
				if len(l.inbox) > 0 {
					l.signal() // another Next may be waiting
				}
				b.mu.Unlock()
				return d, nil
			}
		}
		b.mu.Unlock()
		select {
		case <-l.ready:
		case <-ctx.Done():
		case <-l.stop:
		}
	}
}

// Stop stops consuming. Messages pushed to the listener that Next has not
// returned go back to their topic or server queue, for the other
// listeners; the fanout queue is deleted with its messages. It is
// idempotent and always returns nil.
func (l *listener) Stop() error {
	l.stopOnce.Do(func() {
		b := l.t.bus
		b.mu.Lock()
		l.stopped = true
		for _, q := range l.queues {
			q.unsubscribe(l)
		}
		if l.fanout != "" {
			b.deleteFanout(l.fanout, l.queues[len(l.queues)-1])
		}
		now := time.Now()
		for _, d := range l.inbox {
			d.q.taken()
			if !d.q.deleted && !d.m.expired(now) {
				d.q.put(d.m)
			}
		}
		l.inbox = nil
		b.mu.Unlock()
		close(l.stop)
	})
	return nil
}

// Close stops the listener and detaches it from its transport. It is
// idempotent and always returns nil.
func (l *listener) Close() error {
	l.Stop()
	l.t.removeListener(l)
	l.closeOnce.Do(func() {
		if l.release != nil {
			l.release()
		}
	})
	return nil
}
