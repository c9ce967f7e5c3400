package rabbit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/replywait"
	"github.com/warrenrpc/warren/internal/topology"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// Calls to a queue without a consumer: a server that stopped leaves its
// <topic>.<server> queue behind (and the last server of a topic its
// <topic> queue), so the broker routes calls to it and "no route" never
// fires. A transport reads the consumer count of the queues it calls with
// a passive declare, off the call path, and fails the calls to a queue
// that has had no consumer for the grace period.
const (
	// DefaultNoConsumerGrace is how long a call's queue must have had no
	// consumer before calls to it fail with a *transport.NoConsumerError.
	// It outlasts the reconnect of a server after a broker restart or a
	// failover (warren servers are back within about a second,
	// oslo.messaging's within a few), and is a sixth of oslo.messaging's
	// default call timeout of 60 s.
	DefaultNoConsumerGrace = 10 * time.Second
	// probeEvery is how often the consumer count of a queue in use is
	// read.
	probeEvery = time.Second
	// watchLinger is how long a queue is still watched after the deadline
	// of the last call to it.
	watchLinger = 10 * time.Second
	// maxWatched bounds the queues a transport watches at once; calls to
	// others are not checked.
	maxWatched = 1024
	// maxReadsPerRound bounds the broker round trips of a round: past it,
	// the queues not read wait for the next rounds, and their reads are
	// further apart than probeEvery.
	maxReadsPerRound = 128
)

// NoConsumerGrace sets how long the queue of a call (<topic> or
// <topic>.<server>) must have had no consumer before the transport fails
// the calls to it with a *transport.NoConsumerError, instead of letting
// them wait out their deadline: the calls waiting for a reply from it, and
// the calls made afterwards, before they are published. The default, also
// for zero, is DefaultNoConsumerGrace; a negative grace turns the check
// off. See "Calls to stopped servers" in the package doc for what is and
// is not detected.
func NoConsumerGrace(d time.Duration) Option {
	return func(s *settings) {
		if d != 0 {
			s.noConsumerGrace = d
		}
	}
}

// liveKey is a queue calls go to: <topic>, or <topic>.<server>.
type liveKey struct{ topic, server string }

// liveness is what a transport knows of the consumers of the queues it
// calls. The call path only looks its queue up; one goroutine of the
// transport, started with the first call, reads the counts.
type liveness struct {
	queues  sync.Map // liveKey -> *queueWatch
	watched atomic.Int32
	once    sync.Once
	kick    chan struct{} // capacity 1: a new queue to read
}

// queueWatch is one watched queue.
type queueWatch struct {
	exchange, queue string       // of the first call, for errors and logs
	until           atomic.Int64 // unix ns: the latest deadline of a call to it
	// idle is how long the queue has had no consumer, in ns, once that is
	// at least the grace period; 0 while it has a consumer or is not
	// known.
	idle atomic.Int64

	// Read and written by the watching goroutine only.
	zeroSince time.Time // first of the reads in a row that found no consumer
	read      time.Time // last read
}

// use records a call to the queue with the given deadline. It moves
// until a probe period past it, so that the calls of the next second, with
// the same timeout, only read it.
func (w *queueWatch) use(deadline time.Time) {
	d := deadline.UnixNano()
	for {
		cur := w.until.Load()
		if d <= cur || w.until.CompareAndSwap(cur, d+int64(probeEvery)) {
			return
		}
	}
}

// registerCall registers the waiter of call msgID to tgt, whose deadline
// is deadline, tagged with the watch of its queue. It fails, before
// anything is published, when that queue is known to have had no consumer
// for the grace period.
func (t *Transport) registerCall(tgt target.Target, msgID string, deadline time.Time) (*replywait.Waiter, error) {
	w := t.watchOf(tgt, deadline)
	if w == nil {
		return t.waiters.Register(msgID), nil
	}
	wt := t.waiters.RegisterTagged(msgID, w)
	// Checked after registering: a watch found idle later fails the
	// waiter.
	if idle := w.idle.Load(); idle > 0 {
		wt.Cancel()
		r := topology.RouteOf(tgt, t.s.controlExchange)
		return nil, fmt.Errorf("rabbit: call: %w (%w)",
			&transport.NoConsumerError{Exchange: r.Exchange, RoutingKey: r.Key, Queue: w.queue, Idle: time.Duration(idle)}, transport.ErrNotSent)
	}
	return wt, nil
}

// watchOf returns the watch of tgt's queue, starting one when needed; nil
// when the check is off or too many queues are watched.
func (t *Transport) watchOf(tgt target.Target, deadline time.Time) *queueWatch {
	if t.s.noConsumerGrace < 0 {
		return nil
	}
	k := liveKey{tgt.Topic, tgt.Server}
	if v, ok := t.live.queues.Load(k); ok {
		w := v.(*queueWatch)
		w.use(deadline)
		return w
	}
	if t.live.watched.Load() >= maxWatched {
		return nil
	}
	r := topology.RouteOf(tgt, t.s.controlExchange)
	w := &queueWatch{exchange: r.Exchange, queue: r.Key}
	w.use(deadline)
	if v, loaded := t.live.queues.LoadOrStore(k, w); loaded {
		w = v.(*queueWatch)
		w.use(deadline)
		return w
	}
	t.live.watched.Add(1)
	t.live.once.Do(func() {
		t.live.kick = make(chan struct{}, 1)
		t.spawn(t.watchQueues)
	})
	select {
	case t.live.kick <- struct{}{}:
	default:
	}
	return w
}

// watchQueues reads the consumer counts of the watched queues every
// probeEvery, and at once when a queue is added, until the transport
// closes.
func (t *Transport) watchQueues() {
	ticker := time.NewTicker(probeEvery)
	defer ticker.Stop()
	p := &prober{t: t}
	defer p.close()
	for {
		select {
		case <-t.done:
			return
		case <-t.live.kick:
		case <-ticker.C:
		}
		p.round(time.Now())
	}
}

// prober reads consumer counts on a channel of its own on the consuming
// connection: a passive declare of a queue that does not exist closes the
// channel, which must not be one anybody else uses.
type prober struct {
	t    *Transport
	sess *session
	ch   *amqp.Channel
}

func (p *prober) close() {
	if p.ch != nil {
		_ = p.ch.Close()
		p.ch = nil
	}
}

// round reads the queues due for a read, and forgets those no call used
// for a while. Reads made on an earlier connection do not count: the
// broker may have restarted, and servers reconnect as this transport did.
func (p *prober) round(now time.Time) {
	t := p.t
	s := t.sess.Load()
	if s == nil || s.down() || s != p.sess {
		p.close()
		p.sess = s
		t.live.queues.Range(func(_, v any) bool {
			w := v.(*queueWatch)
			w.zeroSince, w.read = time.Time{}, time.Time{}
			w.idle.Store(0)
			return true
		})
		if s == nil || s.down() {
			return
		}
	}
	reads := 0
	t.live.queues.Range(func(k, v any) bool {
		w := v.(*queueWatch)
		if now.UnixNano() > w.until.Load()+int64(watchLinger) {
			t.live.queues.Delete(k)
			// A call that found w just before is tagged with it: go on
			// watching w for it.
			if called := now.UnixNano() <= w.until.Load()+int64(watchLinger); !called {
				t.live.watched.Add(-1)
				return true
			}
			if _, loaded := t.live.queues.LoadOrStore(k, w); loaded {
				t.live.watched.Add(-1) // another call started a new watch
				return true
			}
		}
		if !w.read.IsZero() && now.Sub(w.read) < probeEvery/2 {
			return true // read by the round a new queue started
		}
		if reads++; reads > maxReadsPerRound {
			return false
		}
		return p.read(w, now)
	})
}

// read reads the consumer count of w's queue and updates w. It returns
// false when the round should stop: the connection is gone.
func (p *prober) read(w *queueWatch, now time.Time) bool {
	t := p.t
	if p.ch == nil {
		ch, err := p.sess.con.Channel()
		if err != nil {
			return false
		}
		p.ch = ch
	}
	q, err := p.ch.QueueDeclarePassive(w.queue, false, false, false, false, nil)
	if err != nil {
		// The broker closed the channel: the queue does not exist (a call
		// to it comes back as no route at once), or cannot be read now
		// (its cluster node is down). Or the connection is gone.
		p.ch = nil
		w.zeroSince = time.Time{}
		w.idle.Store(0)
		return !p.sess.down()
	}
	w.read = now
	if q.Consumers > 0 {
		if w.idle.Swap(0) > 0 {
			t.log.Info("rabbit: a queue has a consumer again", "queue", w.queue, "consumers", q.Consumers)
		}
		w.zeroSince = time.Time{}
		return true
	}
	if w.zeroSince.IsZero() {
		w.zeroSince = now
	}
	idle := now.Sub(w.zeroSince)
	if idle < t.s.noConsumerGrace {
		return true
	}
	if w.idle.Swap(int64(idle)) == 0 {
		err := fmt.Errorf("rabbit: call: %w (%w)",
			&transport.NoConsumerError{Exchange: w.exchange, RoutingKey: w.queue, Queue: w.queue, Idle: idle}, transport.ErrOutcomeUnknown)
		n := t.waiters.FailTagged(w, err)
		t.log.Warn("rabbit: a queue has had no consumer for the grace period; calls to it fail", "queue", w.queue, "idle", idle, "calls_failed", n)
	}
	return true
}
