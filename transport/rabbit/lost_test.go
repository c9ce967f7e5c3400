package rabbit

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/tcprelay"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/transport"
)

// connRecorder records the TCP connections a transport opens, in order:
// the publishing one, then the consuming one, then those of each
// reconnect.
type connRecorder struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (r *connRecorder) option() Option {
	return func(s *settings) {
		s.dialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				r.mu.Lock()
				r.conns = append(r.conns, c)
				r.mu.Unlock()
			}
			return c, err
		}
	}
}

func (r *connRecorder) conn(i int) net.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[i]
}

// stateRecorder collects a transport's state changes.
type stateRecorder struct {
	ch chan StateChange
}

func newStateRecorder() *stateRecorder { return &stateRecorder{ch: make(chan StateChange, 64)} }

func (r *stateRecorder) option() Option {
	return OnStateChange(func(c StateChange) { r.ch <- c })
}

// await waits for state st, failing the test after d, and returns the
// change that reported it.
func (r *stateRecorder) await(tb testing.TB, st State, d time.Duration) StateChange {
	tb.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case c := <-r.ch:
			if c.State == st {
				return c
			}
		case <-timer.C:
			tb.Fatalf("no state %v within %v", st, d)
		}
	}
}

// TestConnectionLostRecovers cuts one TCP connection of a transport, as a
// network failure would: the transport reports connecting then ready, a
// call pending across the cut completes when its reply comes, a Next
// blocked across it delivers what comes after, and later calls and casts
// succeed, all without a new Dial.
func TestConnectionLostRecovers(t *testing.T) {
	cases := []struct {
		name string
		conn int
	}{
		{"publishing", 0},
		{"consuming", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tgt := serverTarget(t, "lost")
			server := dial(t)
			lis := listen(t, server, tgt)
			got := make(chan transport.Incoming, 1)
			release := make(chan struct{})
			serve(t, lis, func(in transport.Incoming) *message.Reply {
				if in.Request().Method == "hang" {
					got <- in
					<-release
					return &message.Reply{Result: json.RawMessage(`"late"`)}
				}
				return &message.Reply{Result: json.RawMessage(`"ok"`)}
			})

			rec := &connRecorder{}
			states := newStateRecorder()
			client := dial(t, rec.option(), states.option())
			states.await(t, StateReady, 5*time.Second)
			own := serverTarget(t, "lostown")
			ownLis := listen(t, client, own)
			calls := make(chan error, 1)
			go func() {
				rep, err := client.Call(within(t, 30*time.Second), tgt, &message.Request{Method: "hang"})
				if err == nil && string(rep.Result) != `"late"` {
					err = errors.New("unexpected result " + string(rep.Result))
				}
				calls <- err
			}()
			nexts := make(chan error, 1)
			go func() {
				in, err := ownLis.Next(within(t, 30*time.Second))
				if err == nil && in.Request().Method != "after" {
					err = errors.New("unexpected request " + in.Request().Method)
				}
				nexts <- err
			}()
			await(t, got, 10*time.Second, "request on the server")

			rec.conn(c.conn).Close()

			lost := states.await(t, StateConnecting, 10*time.Second)
			if !errors.Is(lost.Err, transport.ErrConnectionLost) {
				t.Errorf("StateConnecting.Err = %v, want ErrConnectionLost", lost.Err)
			}
			states.await(t, StateReady, 10*time.Second)
			if err := client.Err(); err != nil {
				t.Errorf("Err after the reconnect = %v, want nil", err)
			}
			close(release)
			if err := await(t, calls, 10*time.Second, "pending Call return"); err != nil {
				t.Errorf("Call pending across the reconnect = %v, want its reply", err)
			}
			ctx := within(t, 10*time.Second)
			if err := client.Cast(ctx, own, &message.Request{Method: "after"}); err != nil {
				t.Errorf("Cast after the reconnect = %v", err)
			}
			if err := await(t, nexts, 10*time.Second, "blocked Next return"); err != nil {
				t.Errorf("Next blocked across the reconnect = %v, want the cast sent after it", err)
			}
			if rep, err := client.Call(ctx, tgt, &message.Request{Method: "m"}); err != nil || string(rep.Result) != `"ok"` {
				t.Errorf("Call after the reconnect = %v, %v; want \"ok\"", rep, err)
			}
		})
	}
}

// relayURL returns the test broker's URL with its host replaced by addr.
func relayURL(tb testing.TB, addr string) string {
	tb.Helper()
	u, err := transport.ParseURL(brokerURL())
	if err != nil {
		tb.Fatalf("ParseURL(%s) = %v", brokerURL(), err)
	}
	h := u.Hosts[0]
	path := "/"
	if u.VirtualHost != "/" {
		path += url.PathEscape(u.VirtualHost)
	}
	return "amqp://" + url.UserPassword(h.Username, h.Password).String() + "@" + addr + path
}

// startRelay starts a TCP relay to the test broker, closed when the test
// ends.
func startRelay(tb testing.TB) *tcprelay.Relay {
	tb.Helper()
	u, err := transport.ParseURL(brokerURL())
	if err != nil {
		tb.Fatalf("ParseURL(%s) = %v", brokerURL(), err)
	}
	r, err := tcprelay.Start(u.Hosts[0].Addr())
	if err != nil {
		tb.Fatalf("tcprelay.Start = %v", err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

// TestOutage cuts the network to the broker and keeps it cut: calls and
// casts made meanwhile wait for the connection and end by their ctx with
// typed errors, a call made just before the network comes back completes
// after it, and Ready returns once the transport reconnected.
func TestOutage(t *testing.T) {
	tgt := serverTarget(t, "outage")
	lis := listen(t, dial(t), tgt)
	serve(t, lis, func(in transport.Incoming) *message.Reply {
		return &message.Reply{Result: json.RawMessage(`"ok"`)}
	})
	relay := startRelay(t)
	states := newStateRecorder()
	client, err := Dial(within(t, 10*time.Second), relayURL(t, relay.Addr()), states.option(),
		Reconnect(Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}))
	if err != nil {
		t.Fatalf("Dial through the relay = %v", err)
	}
	t.Cleanup(func() { client.Close() })
	if _, err := client.Call(within(t, 10*time.Second), tgt, &message.Request{Method: "m"}); err != nil {
		t.Fatalf("Call before the outage = %v", err)
	}
	own, err := client.Listen(within(t, 10*time.Second), serverTarget(t, "outageown"))
	if err != nil {
		t.Fatalf("Listen = %v", err)
	}
	t.Cleanup(func() { deleteQueue(t, own.(*rpcListener).expiring) })
	nexts := make(chan error, 1)
	go func() {
		_, err := own.Next(within(t, 30*time.Second))
		nexts <- err
	}()

	relay.Cut()
	states.await(t, StateConnecting, 10*time.Second)
	// A listener stopped while the transport reconnects ends its Next at
	// once.
	if err := own.Close(); err != nil {
		t.Errorf("listener Close during the outage = %v", err)
	}
	if err := await(t, nexts, 5*time.Second, "Next return after Close"); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Next of a listener closed during the outage = %v, want ErrClosed", err)
	}

	start := time.Now()
	_, err = client.Call(within(t, 300*time.Millisecond), tgt, &message.Request{Method: "m"})
	if !errors.Is(err, transport.ErrTimeout) {
		t.Errorf("Call during the outage = %v, want ErrTimeout", err)
	}
	if elapsed := time.Since(start); elapsed < 250*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("Call during the outage returned after %v, want about its 300ms deadline", elapsed)
	}
	err = client.Cast(within(t, 300*time.Millisecond), tgt, &message.Request{Method: "m"})
	if !errors.Is(err, transport.ErrNotSent) || !errors.Is(err, transport.ErrConnectionLost) || errors.Is(err, transport.ErrOutcomeUnknown) {
		t.Errorf("Cast during the outage = %v, want ErrNotSent and ErrConnectionLost", err)
	}
	if err := client.Ready(within(t, 100*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ready during the outage = %v, want its ctx's end", err)
	}
	if st := client.State(); st != StateConnecting {
		t.Errorf("State during the outage = %v, want connecting", st)
	}

	waiting := make(chan error, 1)
	go func() {
		_, err := client.Call(within(t, 20*time.Second), tgt, &message.Request{Method: "m"})
		waiting <- err
	}()
	relay.Resume()
	if err := client.Ready(within(t, 10*time.Second)); err != nil {
		t.Fatalf("Ready after the outage = %v", err)
	}
	if err := await(t, waiting, 20*time.Second, "Call made during the outage"); err != nil {
		t.Errorf("Call made during the outage = %v, want its reply once the network is back", err)
	}
	if err := client.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := client.Err(); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Err after Close = %v, want ErrClosed", err)
	}
	if st := client.State(); st != StateClosed {
		t.Errorf("State after Close = %v, want closed", st)
	}
}

// TestFrozenNetworkDetected freezes the network under a transport with a
// 1 s heartbeat (no FIN, no RST, bytes held): the loss is noticed within
// about two heartbeats, and the transport is ready again soon after the
// network thaws.
func TestFrozenNetworkDetected(t *testing.T) {
	const heartbeat = time.Second
	relay := startRelay(t)
	states := newStateRecorder()
	client, err := Dial(within(t, 10*time.Second), relayURL(t, relay.Addr()), states.option(),
		Heartbeat(heartbeat), Reconnect(Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}))
	if err != nil {
		t.Fatalf("Dial through the relay = %v", err)
	}
	t.Cleanup(func() { client.Close() })
	states.await(t, StateReady, 5*time.Second)

	relay.Freeze()
	frozen := time.Now()
	lost := states.await(t, StateConnecting, 10*heartbeat)
	// Two intervals of silence, plus the time the last frame took to
	// arrive before the freeze (at most half an interval) and slack.
	if took := lost.At.Sub(frozen); took > 2*heartbeat+heartbeat {
		t.Errorf("frozen network noticed after %v, want within about two heartbeats (%v)", took, 2*heartbeat)
	}
	relay.Resume()
	back := states.await(t, StateReady, 10*time.Second)
	if took := back.At.Sub(lost.At); took > 5*time.Second {
		t.Errorf("ready %v after the loss, want soon after the network thawed", took)
	}
}

// TestGiveUpAfterAttempts cuts the network for good under a transport
// allowed three attempts: it fails, pending calls end with
// ErrConnectionLost at once, and Err says so.
func TestGiveUpAfterAttempts(t *testing.T) {
	relay := startRelay(t)
	states := newStateRecorder()
	client, err := Dial(within(t, 10*time.Second), relayURL(t, relay.Addr()), states.option(),
		Reconnect(Backoff{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond, Attempts: 3}))
	if err != nil {
		t.Fatalf("Dial through the relay = %v", err)
	}
	t.Cleanup(func() { client.Close() })
	tgt := serverTarget(t, "giveup")
	lis := listen(t, client, tgt)
	got := make(chan struct{}, 1)
	nexts := make(chan error, 1)
	go func() {
		ctx := within(t, 30*time.Second)
		if _, err := lis.Next(ctx); err != nil {
			nexts <- err
			return
		}
		got <- struct{}{} // and never reply
		_, err := lis.Next(ctx)
		nexts <- err
	}()
	call := make(chan error, 1)
	go func() {
		_, err := client.Call(within(t, 30*time.Second), tgt, &message.Request{Method: "m"})
		call <- err
	}()
	await(t, got, 10*time.Second, "request on the server")
	relay.Cut()
	failed := states.await(t, StateFailed, 10*time.Second)
	if !errors.Is(failed.Err, transport.ErrConnectionLost) {
		t.Errorf("StateFailed.Err = %v, want ErrConnectionLost", failed.Err)
	}
	if err := await(t, call, 5*time.Second, "pending Call return"); !errors.Is(err, transport.ErrConnectionLost) {
		t.Errorf("pending Call = %v, want ErrConnectionLost", err)
	}
	if err := await(t, nexts, 5*time.Second, "blocked Next return"); !errors.Is(err, transport.ErrConnectionLost) {
		t.Errorf("Next blocked when the transport gave up = %v, want ErrConnectionLost", err)
	}
	if err := client.Err(); !errors.Is(err, transport.ErrConnectionLost) {
		t.Errorf("Err = %v, want ErrConnectionLost", err)
	}
	if err := client.Cast(within(t, time.Second), tgt, &message.Request{Method: "m"}); !errors.Is(err, transport.ErrConnectionLost) || !errors.Is(err, transport.ErrNotSent) {
		t.Errorf("Cast after giving up = %v, want ErrConnectionLost and ErrNotSent", err)
	}
}

// TestDialWaitsForBroker dials a broker that is not there yet: Dial keeps
// trying within its ctx and returns once the broker is reachable.
func TestDialWaitsForBroker(t *testing.T) {
	relay := startRelay(t)
	relay.Cut()
	dialed := make(chan error, 1)
	go func() {
		tr, err := Dial(within(t, 20*time.Second), relayURL(t, relay.Addr()), Reconnect(Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}))
		if err == nil {
			err = tr.Close()
		}
		dialed <- err
	}()
	// Dial is retrying: let a few attempts fail before the broker comes.
	if err := relay.AwaitRefused(within(t, 10*time.Second), 3); err != nil {
		t.Fatalf("AwaitRefused = %v", err)
	}
	relay.Resume()
	if err := await(t, dialed, 20*time.Second, "Dial return"); err != nil {
		t.Errorf("Dial to a broker that comes late = %v, want a transport", err)
	}
}

// TestCastOutcomeTyping checks what a failed publish says of its message.
func TestCastOutcomeTyping(t *testing.T) {
	noRoute := &transport.NoRouteError{Exchange: "e", RoutingKey: "k"}
	cases := []struct {
		name          string
		sent          bool
		err           error
		notSent, unkn bool
	}{
		{"not written", false, errors.New("rabbit: publishing: context deadline exceeded"), true, false},
		{"written, unconfirmed", true, errors.New("rabbit: waiting for the broker to confirm"), false, true},
		{"returned", true, noRoute, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := undelivered(c.sent, c.err)
			if errors.Is(err, transport.ErrNotSent) != c.notSent || errors.Is(err, transport.ErrOutcomeUnknown) != c.unkn {
				t.Errorf("undelivered(%v, %v) = %v, want ErrNotSent %v, ErrOutcomeUnknown %v", c.sent, c.err, err, c.notSent, c.unkn)
			}
			if !errors.Is(err, c.err) || strings.Count(err.Error(), "rabbit:") != strings.Count(c.err.Error(), "rabbit:") {
				t.Errorf("undelivered(%v, %v) = %v, want it to wrap the cause once", c.sent, c.err, err)
			}
		})
	}
}

// TestBlockedPublish blocks the session, as connection.blocked does: a
// cast waits within its ctx and fails with a *transport.BlockedError
// naming the broker's reason, not sent; once unblocked, casts go through.
func TestBlockedPublish(t *testing.T) {
	tgt := serverTarget(t, "blocked")
	lis := listen(t, dial(t), tgt)
	serve(t, lis, func(in transport.Incoming) *message.Reply { return nil })
	client := dial(t)
	s := client.sess.Load()
	s.block(amqp.Blocking{Active: true, Reason: "low on memory"})
	err := client.Cast(within(t, 200*time.Millisecond), tgt, &message.Request{Method: "m"})
	var be *transport.BlockedError
	if !errors.As(err, &be) || be.Reason != "low on memory" || !errors.Is(err, transport.ErrNotSent) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Cast while blocked = %v, want a *BlockedError naming the reason, ErrNotSent", err)
	}
	_, err = client.Call(within(t, 200*time.Millisecond), tgt, &message.Request{Method: "m"})
	if !errors.As(err, &be) {
		t.Errorf("Call while blocked = %v, want a *BlockedError", err)
	}
	done := make(chan error, 1)
	go func() { done <- client.Cast(within(t, 10*time.Second), tgt, &message.Request{Method: "m"}) }()
	s.block(amqp.Blocking{})
	if err := await(t, done, 10*time.Second, "Cast return"); err != nil {
		t.Errorf("Cast waiting across the unblock = %v", err)
	}
}

// TestOldDeliveryNotAckedOnNewChannel takes a delivery off a listener's
// channel without acking it, drops the connection, and lets the transport
// reconnect: the old delivery cannot be acked any more (each delivery acks
// on its own channel, never on the new one), and the broker, which
// requeued it with the old channel, delivers it again on the new one.
func TestOldDeliveryNotAckedOnNewChannel(t *testing.T) {
	relay := startRelay(t)
	states := newStateRecorder()
	client, err := Dial(within(t, 10*time.Second), relayURL(t, relay.Addr()), states.option(),
		Reconnect(Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}))
	if err != nil {
		t.Fatalf("Dial through the relay = %v", err)
	}
	t.Cleanup(func() { client.Close() })
	tgt := serverTarget(t, "oldack")
	lis := listen(t, client, tgt)
	if err := dial(t).Cast(within(t, 10*time.Second), tgt, &message.Request{Method: "once"}); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	d, _, err := lis.(*rpcListener).sub.next(within(t, 10*time.Second))
	if err != nil {
		t.Fatalf("next = %v", err)
	}

	relay.Cut()
	states.await(t, StateConnecting, 10*time.Second)
	relay.Resume()
	states.await(t, StateReady, 10*time.Second)

	if err := d.Ack(false); err == nil {
		t.Errorf("Ack of a delivery from the channel before the reconnect = nil, want an error")
	}
	in, err := lis.Next(within(t, 10*time.Second))
	if err != nil || in.Request().Method != "once" {
		t.Fatalf("Next after the reconnect = %v, %v; want the requeued request", in, err)
	}
}
