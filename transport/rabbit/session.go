package rabbit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/transport"
)

// session is one pair of connections to one broker: the publishing one
// with its pool of channels, and the consuming one. A transport replaces
// its session when either connection drops.
type session struct {
	broker   string // host:port
	pub, con *amqp.Connection
	cork     *corkedConn   // the socket of pub
	pubs     []*publisher  // channels in confirm mode
	calls    []*publisher  // channels without confirms, for calls
	next     atomic.Uint64 // round robin over pubs and calls

	pubClosed, conClosed <-chan *amqp.Error
	blocks               <-chan amqp.Blocking

	lost chan struct{} // closed by the supervisor once either connection dropped

	blockMu   sync.Mutex
	blocked   atomic.Bool   // the broker blocks publishing
	reason    string        // the broker's reason; guarded by blockMu
	unblocked chan struct{} // closed when the block lifts; guarded by blockMu
}

// down reports whether either connection of s has closed. It can be true
// a moment before the supervisor closes s.lost.
func (s *session) down() bool {
	select {
	case <-s.lost:
		return true
	default:
	}
	return s.pub.IsClosed() || s.con.IsClosed()
}

// block records the broker's connection.blocked or connection.unblocked.
func (s *session) block(b amqp.Blocking) {
	s.blockMu.Lock()
	defer s.blockMu.Unlock()
	if b.Active == s.blocked.Load() {
		s.reason = b.Reason
		return
	}
	if b.Active {
		s.reason = b.Reason
		s.unblocked = make(chan struct{})
		s.blocked.Store(true)
		return
	}
	s.blocked.Store(false)
	close(s.unblocked)
}

// blockedBy returns the broker's reason and a channel closed when the
// block lifts, or "", nil when publishing is not blocked.
func (s *session) blockedBy() (string, <-chan struct{}) {
	if !s.blocked.Load() {
		return "", nil
	}
	s.blockMu.Lock()
	defer s.blockMu.Unlock()
	if !s.blocked.Load() {
		return "", nil
	}
	return s.reason, s.unblocked
}

// session returns the transport's current session, waiting within ctx
// for the connection when it is down. It fails with Err once the
// transport is closed or failed, and with an error matching both
// transport.ErrConnectionLost and ctx's error when ctx ends first.
func (t *Transport) session(ctx context.Context) (*session, error) {
	if s := t.sess.Load(); s != nil && !s.down() {
		return s, nil
	}
	for {
		t.mu.Lock()
		up, s, err := t.up, t.sess.Load(), t.usableLocked()
		t.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if s != nil && !s.down() {
			return s, nil
		}
		if s != nil {
			// Dropped, and the supervisor has not noticed yet: wait for it.
			select {
			case <-s.lost:
			case <-ctx.Done():
				return nil, fmt.Errorf("rabbit: waiting for the connection: %w: %w", transport.ErrConnectionLost, ctx.Err())
			}
			continue
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, fmt.Errorf("rabbit: waiting for the connection: %w: %w", transport.ErrConnectionLost, ctx.Err())
		}
	}
}

// supervise is the transport's one reconnection owner. It watches the
// session's connections, records connection.blocked, and when either
// connection drops closes the other (so the broker requeues what
// listeners held), then dials again with backoff, failing over across the
// URL's hosts, until it succeeds, Close is called or the attempts run out.
func (t *Transport) supervise(s *session) {
	for {
		reason := t.watch(s)
		if reason == nil {
			return // closed
		}
		if s = t.reconnect(s, reason); s == nil {
			return
		}
		// The broker may have lost the notification queues publishers
		// declared: declare them again on first use.
		t.notes.mu.Lock()
		clear(t.notes.declared)
		t.notes.mu.Unlock()
	}
}

// watch waits for s to drop and returns why, or nil when the transport is
// closed first.
func (t *Transport) watch(s *session) error {
	for {
		var e *amqp.Error
		select {
		case <-t.done:
			return nil
		case b, ok := <-s.blocks:
			if !ok {
				s.blocks = nil
				continue
			}
			s.block(b)
			t.mu.Lock()
			if t.sess.Load() == s {
				if b.Active {
					t.setState(StateBlocked, s.broker, nil, b.Reason)
				} else {
					t.setState(StateReady, s.broker, nil, "")
				}
			}
			t.mu.Unlock()
			continue
		case e = <-s.pubClosed:
			e = orClosed(e, "publishing")
		case e = <-s.conClosed:
			e = orClosed(e, "consuming")
		}
		// The other connection may hang on a frozen network: close it
		// beside the reconnect, not before.
		t.spawn(func() { s.close(t.s.closeTimeout) })
		return fmt.Errorf("rabbit: connection to %s: %w: %s", s.broker, transport.ErrConnectionLost, e.Error())
	}
}

// orClosed names a connection that closed without an error, which only
// happens when the transport closes it.
func orClosed(e *amqp.Error, role string) *amqp.Error {
	if e == nil {
		return &amqp.Error{Reason: role + " connection closed"}
	}
	return e
}

// reconnect replaces s, which dropped for reason, with a new session. It
// returns nil when Close was called or the attempts ran out.
func (t *Transport) reconnect(s *session, reason error) *session {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.sess.Store(nil)
	t.up = make(chan struct{})
	close(s.lost)
	t.setState(StateConnecting, s.broker, reason, "")
	t.mu.Unlock()
	s.unblock()

	ns, err := t.establish(t.closing, false)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil || t.closed {
		if ns != nil {
			ns.close(t.s.closeTimeout)
		}
		if !t.closed {
			t.failErr = fmt.Errorf("rabbit: gave up reconnecting: %w: %v", transport.ErrConnectionLost, err)
			t.setUnusable()
			t.setState(StateFailed, "", t.failErr, "")
			close(t.up)
			t.waiters.FailAll(t.failErr)
		}
		return nil
	}
	t.install(ns)
	return ns
}

// unblock releases publishes waiting on a block of s, which dropped.
func (s *session) unblock() {
	s.block(amqp.Blocking{Active: false})
}

// install makes s the current session. The caller holds t.mu.
func (t *Transport) install(s *session) {
	t.sess.Store(s)
	close(t.up)
	t.setState(StateReady, s.broker, nil, "")
}

// close closes both connections of s.
func (s *session) close(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	_ = s.pub.CloseDeadline(deadline)
	_ = s.con.CloseDeadline(deadline)
}

// establish dials the URL's hosts in the failover order, waiting the
// backoff between failed attempts, until one host accepts both
// connections, ctx ends or the attempts run out. At Dial, an attempt that
// fails in a way another attempt cannot fix (credentials, virtual host,
// certificate) ends it too; after a lost connection, a broker that is
// still starting may refuse for a moment what it accepts later.
func (t *Transport) establish(ctx context.Context, atDial bool) (*session, error) {
	var (
		tries  []string // the last error of each host, for the final error
		failed int
	)
	for {
		h := t.hosts.next()
		s, err := t.connect(ctx, h)
		if err == nil {
			return s, nil
		}
		failed++
		cerr := ended(ctx)
		if cerr == nil || !tried(tries, h.Addr()) {
			// An attempt that ctx cut short says less than the one before.
			tries = appendTry(tries, h.Addr(), err)
		}
		if cerr != nil {
			return nil, fmt.Errorf("%s: %w", strings.Join(tries, "; "), cerr)
		}
		if (atDial && permanent(err)) || (t.s.backoff.Attempts > 0 && failed >= t.s.backoff.Attempts) {
			// The last try names its host; its error is wrapped.
			return nil, fmt.Errorf("%s%s: %w", others(tries, h.Addr()), h.Addr(), err)
		}
		t.log.Debug("rabbit: connection attempt failed", "broker", h.Addr(), "attempt", failed, "error", err)
		timer := time.NewTimer(t.s.backoff.delay(failed, rand.Float64))
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("%s: %w", strings.Join(tries, "; "), ctx.Err())
		}
	}
}

// appendTry records the last error of host addr, replacing an earlier one.
func appendTry(tries []string, addr string, err error) []string {
	line := addr + ": " + err.Error()
	for i, l := range tries {
		if strings.HasPrefix(l, addr+": ") {
			tries[i] = line
			return tries
		}
	}
	return append(tries, line)
}

// tried reports whether tries holds an error of host addr.
func tried(tries []string, addr string) bool {
	return slices.ContainsFunc(tries, func(l string) bool { return strings.HasPrefix(l, addr+": ") })
}

// others returns the tries of hosts other than addr, each followed by
// "; ".
func others(tries []string, addr string) string {
	var b strings.Builder
	for _, l := range tries {
		if !strings.HasPrefix(l, addr+": ") {
			b.WriteString(l)
			b.WriteString("; ")
		}
	}
	return b.String()
}

// permanent reports whether err, from dialing a broker, would recur on
// every attempt: the broker refused the credentials or the virtual host,
// the TLS certificate does not verify, or the broker ended the TLS
// handshake with an alert (crypto/tls reports those as a *net.OpError
// whose Op is "remote error"), such as "certificate required".
func permanent(err error) bool {
	var ae *amqp.Error
	if errors.As(err, &ae) && (ae.Code == amqp.AccessRefused || ae.Code == amqp.NotAllowed) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return true
	}
	var cv *tls.CertificateVerificationError
	return errors.Is(err, amqp.ErrCredentials) || errors.Is(err, amqp.ErrVhost) || errors.As(err, &cv)
}

// Backoff is how a transport waits between failed connection attempts:
// the wait doubles from Initial up to Max, and each wait is drawn at
// random from its upper half, so that many clients of a restarted broker
// do not reconnect in step.
type Backoff struct {
	// Initial is the wait after the first failed attempt. Zero means
	// 100 ms.
	Initial time.Duration
	// Max caps the wait. Zero means 1 s, so that a transport is back
	// within about a second of its broker.
	Max time.Duration
	// Attempts is how many connection attempts in a row (each to one
	// host) may fail before the transport gives up, at Dial or after a
	// lost connection. Zero means it never gives up; Dial still ends with
	// its ctx.
	Attempts int
}

// Defaults of Backoff.
const (
	defaultInitialBackoff = 100 * time.Millisecond
	defaultMaxBackoff     = time.Second
)

// Reconnect sets how the transport retries connecting, at Dial and after
// it lost its connection. The default is the zero Backoff.
func Reconnect(b Backoff) Option {
	return func(s *settings) { s.backoff = b }
}

// delay returns the wait after failed attempts in a row, jittered by
// rnd, a source of numbers in [0, 1).
func (b Backoff) delay(failed int, rnd func() float64) time.Duration {
	initial, max := b.Initial, b.Max
	if initial <= 0 {
		initial = defaultInitialBackoff
	}
	if max <= 0 {
		max = defaultMaxBackoff
	}
	d := initial
	for i := 1; i < failed && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + time.Duration(rnd()*float64(d/2))
}

// FailoverStrategy is the order in which a transport tries the hosts of a
// multi-host URL, as oslo.messaging's kombu_failover_strategy.
type FailoverStrategy int

const (
	// RoundRobin tries the hosts in the order of the URL, starting at the
	// first on Dial and, after a lost connection, at the host after the
	// one that was lost. It is oslo.messaging's default.
	RoundRobin FailoverStrategy = iota
	// Shuffle tries the hosts in a new random order on each pass.
	Shuffle
)

// Failover sets the order in which the transport tries the URL's hosts.
// The default is RoundRobin. The URL query key kombu_failover_strategy
// (round-robin or shuffle) overrides it.
func Failover(f FailoverStrategy) Option {
	return func(s *settings) { s.failover = f }
}

// hostOrder hands out the hosts to try, one at a time, in the failover
// order. Only the goroutine that dials uses it.
type hostOrder struct {
	hosts    []transport.Host
	strategy FailoverStrategy
	shuffle  func(n int, swap func(i, j int))
	pass     []int // indexes of the current pass
	i        int   // position in pass
}

func newHostOrder(hosts []transport.Host, strategy FailoverStrategy) *hostOrder {
	return &hostOrder{hosts: hosts, strategy: strategy, shuffle: rand.Shuffle}
}

// next returns the host to try next.
func (o *hostOrder) next() transport.Host {
	if o.i >= len(o.pass) {
		o.pass = o.pass[:0]
		for i := range o.hosts {
			o.pass = append(o.pass, i)
		}
		if o.strategy == Shuffle {
			o.shuffle(len(o.pass), func(i, j int) { o.pass[i], o.pass[j] = o.pass[j], o.pass[i] })
		}
		o.i = 0
	}
	h := o.hosts[o.pass[o.i]]
	o.i++
	return h
}
