package rabbit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"reflect"
	"sync"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/wire"
)

// errStopped is what subscription.next returns once stop was called.
var errStopped = errors.New("rabbit: subscription stopped")

// errRecheck tells next that receive checked the queues instead of
// receiving.
var errRecheck = errors.New("rabbit: queues checked")

// subscription is what one consumer needs from the broker, kept across
// reconnects: what to declare and bind, and which queues to consume. The
// RPC listener and the reply consumer are each one subscription. next
// opens it again on the current session whenever it is missing: after a
// lost connection, once the transport reconnected, and after the broker
// cancelled a consumer (its queue was deleted), at once. Deliveries of a
// channel that closed are never acked on another: each carries its own
// channel, and the broker requeues what a closed channel held.
type subscription struct {
	t        *Transport
	name     string // names the consumer in errors and logs
	queues   []string
	prefetch int                          // basic.qos per consumer; zero: none
	autoAck  bool                         // the broker counts deliveries acked as it sends them
	declare  func(ch *amqp.Channel) error // exchanges, queues, bindings
	// consumeArgs, when not nil, gives the consumer arguments of queue i
	// at each open (a stream's x-stream-offset).
	consumeArgs func(i int) amqp.Table
	// cancelled, when not nil, hears that the broker ended the consumer
	// of queue while the connection stays up: what the queue held is gone.
	cancelled func(queue string)
	// acks, when not nil, batches the acks of what next returns; it is
	// stopped before the channel closes.
	acks *ackBatch

	stopCtx  context.Context // ends with stop
	stopped  <-chan struct{} // stopCtx.Done()
	stopNow  context.CancelFunc
	stopOnce sync.Once

	// check fires when next should make sure the queues still exist (see
	// verify); checkAfter is the wait after the next check, and opened
	// when the subscription was last opened.
	check      *time.Timer
	checkAfter time.Duration
	opened     time.Time

	// callMu keeps verify's passive declares and stop's cancel or close
	// from running at once on ch: amqp091 matches a channel's answers to
	// its synchronous requests in order, so two at once may each take the
	// other's answer (503 "unexpected command received").
	callMu sync.Mutex

	mu         sync.Mutex // guards ch for stop; next replaces the fields below
	sess       *session
	ch         *amqp.Channel
	chClosed   <-chan *amqp.Error
	tags       []string // consumer tags, by queue
	deliveries []<-chan amqp.Delivery
}

func (t *Transport) newSubscription(name string, queues []string, prefetch int, declare func(ch *amqp.Channel) error) *subscription {
	sub := &subscription{t: t, name: name, queues: queues, prefetch: prefetch, declare: declare}
	sub.stopCtx, sub.stopNow = context.WithCancel(context.Background())
	sub.stopped = sub.stopCtx.Done()
	return sub
}

// open sets the subscription up on a new channel of s's consuming
// connection: basic.qos, the declarations, one consumer per queue with
// manual acks (automatic ones when autoAck is set). ctx is checked between the broker round trips.
func (sub *subscription) open(ctx context.Context, s *session) error {
	t := sub.t
	ch, err := s.con.Channel()
	if err != nil {
		return t.failure(s.con, sub.name+": opening a channel", err)
	}
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	deliveries := make([]<-chan amqp.Delivery, len(sub.queues))
	tags := make([]string, len(sub.queues))
	steps := []struct {
		what string
		do   func() error
	}{
		{"setting the prefetch count", func() error {
			if sub.prefetch <= 0 {
				return nil
			}
			return ch.Qos(sub.prefetch, 0, false)
		}},
		{"declaring", func() error { return sub.declare(ch) }},
	}
	for i, q := range sub.queues {
		steps = append(steps, struct {
			what string
			do   func() error
		}{"consuming queue " + q, func() (err error) {
			tags[i] = "warren-" + wire.NewID()
			var args amqp.Table
			if sub.consumeArgs != nil {
				args = sub.consumeArgs(i)
			}
			deliveries[i], err = ch.Consume(q, tags[i], sub.autoAck, false, false, false, args)
			return err
		}})
	}
	for _, st := range steps {
		err := ctx.Err()
		if err != nil {
			err = fmt.Errorf("rabbit: %s: %s: %w", sub.name, st.what, err)
		} else if err = st.do(); err != nil {
			err = t.failure(s.con, sub.name+": "+st.what, err)
		}
		if err != nil {
			_ = ch.Close()
			return err
		}
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	select {
	case <-sub.stopped:
		_ = ch.Close()
		return errStopped
	default:
	}
	sub.sess, sub.ch, sub.chClosed, sub.tags, sub.deliveries = s, ch, chClosed, tags, deliveries
	sub.opened, sub.checkAfter = time.Now(), firstCheck
	if sub.check == nil {
		sub.check = time.NewTimer(firstCheck)
	} else {
		sub.check.Reset(firstCheck)
	}
	return nil
}

// Checks of a subscription's queues: every half second for the first
// half minute after it opened, while a cluster may still be removing a
// node it lost, then at doubling intervals up to a minute.
const (
	firstCheck  = 500 * time.Millisecond
	checkWindow = 30 * time.Second
	lastCheck   = time.Minute
)

// nextCheck returns the wait before the check after one made at now by a
// subscription opened at opened, whose last wait was last.
func nextCheck(opened, now time.Time, last time.Duration) time.Duration {
	if now.Sub(opened) < checkWindow {
		return firstCheck
	}
	return min(2*last, lastCheck)
}

// verify declares the subscription's queues passively. A consumer can
// outlive its queue without hearing of it: after a failover, while the
// lost cluster node is still shutting down, a queue it hosts declares and
// consumes fine through another node, then vanishes with the node, at any
// moment of its shutdown, without a basic.cancel (RabbitMQ 3.10 sends one
// for the consumers a queue had before its node began to stop). The
// broker closes the channel when a queue is gone, and next then declares
// everything again. The checks are frequent while a lost node may still
// be going away, so a consumer is back within about a second of it.
func (sub *subscription) verify() {
	sub.callMu.Lock()
	defer sub.callMu.Unlock()
	if sub.stopCtx.Err() != nil {
		return // stop closes or cancels on ch
	}
	for _, q := range sub.queues {
		if _, err := sub.ch.QueueDeclarePassive(q, false, false, false, false, nil); err != nil {
			if !sub.sess.down() { // else the connection dropped under the check
				sub.t.log.Warn("rabbit: a consumed queue is gone", "consumer", sub.name, "queue", q, "error", err)
			}
			return
		}
	}
	sub.checkAfter = nextCheck(sub.opened, time.Now(), sub.checkAfter)
	sub.check.Reset(sub.checkAfter)
}

// reopen waits for the connection within ctx and opens the subscription
// on it, again on each new connection when the current one drops during
// the set-up. When the broker refuses the set-up on a live connection, as
// a cluster does for a while with the queues of a node it lost ("process
// is stopped by supervisor"), reopen tries again after the Reconnect
// backoff, until the Backoff's Attempts run out.
func (sub *subscription) reopen(ctx context.Context) error {
	// Stop ends the wait for the connection too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(sub.stopCtx, cancel)()
	t := sub.t
	failed := 0
	for {
		s, err := t.session(ctx)
		if err == nil {
			err = sub.open(ctx, s)
		}
		if err == nil || errors.Is(err, errStopped) {
			return err
		}
		if sub.stopCtx.Err() != nil {
			return errStopped
		}
		if s == nil || ctx.Err() != nil {
			return err
		}
		if s.down() {
			continue
		}
		failed++
		if a := t.s.backoff.Attempts; a > 0 && failed >= a {
			return err
		}
		t.log.Warn("rabbit: the broker refused to set up a consumer again; retrying", "consumer", sub.name, "attempt", failed, "error", err)
		timer := time.NewTimer(t.s.backoff.delay(failed, rand.Float64))
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			if sub.stopCtx.Err() != nil {
				return errStopped
			}
			return fmt.Errorf("%w (then %w)", err, ctx.Err())
		}
	}
}

// next returns the next delivery and the index of its queue, opening the
// subscription again first when it is missing. Only one goroutine may
// call it at a time. It returns errStopped once stop was called, and an
// error when ctx ends, the transport is closed or failed, or the broker
// kept refusing the set-up for the Backoff's Attempts.
func (sub *subscription) next(ctx context.Context) (amqp.Delivery, int, error) {
	for {
		if sub.ch == nil {
			if err := sub.reopen(ctx); err != nil {
				return amqp.Delivery{}, 0, err
			}
		}
		d, i, ok, err := sub.receive(ctx)
		if errors.Is(err, errRecheck) {
			continue
		}
		if err != nil {
			return amqp.Delivery{}, 0, err
		}
		if ok {
			return d, i, nil
		}
		select {
		case <-sub.stopped:
			return amqp.Delivery{}, 0, errStopped
		default:
		}
		sub.ended(i)
	}
}

// receive waits for a delivery on any queue. ok is false when the
// consumer of queue i ended.
func (sub *subscription) receive(ctx context.Context) (d amqp.Delivery, i int, ok bool, err error) {
	ds := sub.deliveries
	switch len(ds) {
	case 1:
		select {
		case d, ok = <-ds[0]:
			return d, 0, ok, nil
		case <-sub.check.C:
			sub.verify()
			return d, 0, true, errRecheck
		case <-ctx.Done():
		case <-sub.stopped:
			return d, 0, false, errStopped
		}
	case 3:
		select {
		case d, ok = <-ds[0]:
			return d, 0, ok, nil
		case d, ok = <-ds[1]:
			return d, 1, ok, nil
		case d, ok = <-ds[2]:
			return d, 2, ok, nil
		case <-sub.check.C:
			sub.verify()
			return d, 0, true, errRecheck
		case <-ctx.Done():
		case <-sub.stopped:
			return d, 0, false, errStopped
		}
	default:
		cases := make([]reflect.SelectCase, 0, len(ds)+2)
		for _, c := range ds {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)})
		}
		cases = append(cases,
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(sub.stopped)},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(sub.check.C)})
		chosen, v, recvOK := reflect.Select(cases)
		switch {
		case chosen < len(ds):
			if recvOK {
				d = v.Interface().(amqp.Delivery)
			}
			return d, chosen, recvOK, nil
		case chosen == len(ds)+1:
			return d, 0, false, errStopped
		case chosen == len(ds)+2:
			sub.verify()
			return d, 0, true, errRecheck
		}
	}
	return d, 0, false, ctx.Err()
}

// ended handles the end of the consumer of queue i: the connection
// dropped (next opens the subscription again once the transport
// reconnected), the broker closed the channel, or it cancelled the
// consumer because the queue was deleted (next declares it again at once).
func (sub *subscription) ended(i int) {
	sub.mu.Lock()
	s, ch, chClosed := sub.sess, sub.ch, sub.chClosed
	sub.sess, sub.ch, sub.chClosed, sub.deliveries = nil, nil, nil, nil
	sub.mu.Unlock()
	if s.down() {
		sub.t.log.Debug("rabbit: consumer lost with the connection; it resumes after the reconnect", "consumer", sub.name)
		return
	}
	reason := "the broker cancelled the consumer"
	if ch.IsClosed() {
		select {
		case e, ok := <-chClosed:
			if ok && e != nil {
				reason = "the channel closed: " + e.Error()
			}
		default:
		}
	}
	if sub.acks != nil {
		sub.acks.stop()
	}
	_ = sub.t.bounded(ch.Close)
	if sub.cancelled != nil {
		sub.cancelled(sub.queues[i])
	}
	sub.t.log.Warn("rabbit: consumer ended; declaring and consuming again", "consumer", sub.name, "queue", sub.queues[i], "reason", reason)
}

// stop ends the subscription: next returns errStopped. By default it
// closes the channel, so the broker requeues what was delivered and not
// acked; with keep it only cancels the consumers, so that what was handed
// out can still be acked until close. A broker that does not answer gets
// the close timeout.
func (sub *subscription) stop(keep bool) error {
	var err error
	sub.stopOnce.Do(func() {
		sub.mu.Lock()
		sub.stopNow()
		ch, tags := sub.ch, sub.tags
		if sub.check != nil {
			sub.check.Stop()
		}
		sub.mu.Unlock()
		if ch == nil {
			return
		}
		if sub.acks != nil {
			sub.acks.stop()
		}
		end := ch.Close
		if keep {
			end = func() error {
				var errs []error
				for _, tag := range tags {
					errs = append(errs, ch.Cancel(tag, false))
				}
				return errors.Join(errs...)
			}
		}
		locked := func() error {
			sub.callMu.Lock()
			defer sub.callMu.Unlock()
			return end()
		}
		if cerr := sub.t.bounded(locked); !gone(cerr) {
			err = cerr
		}
	})
	return err
}

// close closes the channel of a subscription stopped with keep.
func (sub *subscription) close() error {
	sub.mu.Lock()
	ch := sub.ch
	sub.mu.Unlock()
	if ch == nil {
		return nil
	}
	if err := sub.t.bounded(ch.Close); !gone(err) {
		return err
	}
	return nil
}

// gone reports whether err, from closing a channel or cancelling its
// consumers, is nil or says the connection under it is gone: closed,
// failing its writes before the transport noticed, or shut down by
// amqp091 while the close waited for its answer (a frame error of the
// client's own, such as "EOF": the connection's reader failed). The
// broker then drops the channel with the connection, requeueing what it
// had not acked, so there is nothing left to stop.
func gone(err error) bool {
	var (
		ne net.Error
		ae *amqp.Error
	)
	return err == nil || errors.Is(err, amqp.ErrClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.As(err, &ne) ||
		errors.As(err, &ae) && !ae.Server && ae.Code == amqp.FrameError
}
