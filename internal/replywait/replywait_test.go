package replywait

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type result struct {
	r   *message.Reply
	err error
}

// wait runs w.Wait(ctx, monitor) in the background and returns the channel
// its result arrives on.
func wait(ctx context.Context, w *Waiter, monitor time.Duration) <-chan result {
	ch := make(chan result, 1)
	go func() {
		r, err := w.Wait(ctx, monitor)
		ch <- result{r, err}
	}()
	return ch
}

func TestDeliver(t *testing.T) {
	fail := &message.Failure{Class: "ValueError", Module: "builtins", Message: "bad"}
	tests := []struct {
		name     string
		msgs     []wire.ReplyMessage
		want     string
		wantFail bool
	}{
		{"final", []wire.ReplyMessage{{Result: json.RawMessage("5"), Ending: true}}, "5", false},
		{"null final", []wire.ReplyMessage{{Ending: true}}, "", false},
		{"heartbeats then final", []wire.ReplyMessage{{}, {}, {Result: json.RawMessage(`"done"`), Ending: true}}, `"done"`, false},
		{"legacy two messages", []wire.ReplyMessage{{Result: json.RawMessage("7")}, {Ending: true}}, "7", false},
		{"failure", []wire.ReplyMessage{{Failure: fail, Ending: true}}, "", true},
		{"failure without ending", []wire.ReplyMessage{{Failure: fail}}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := New()
			w := ws.Register("m1")
			for i := range tt.msgs {
				tt.msgs[i].MsgID = "m1"
				if !ws.Deliver(&tt.msgs[i]) {
					t.Fatalf("Deliver(%d) = false, want true", i)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r, err := w.Wait(ctx, 0)
			if err != nil {
				t.Fatalf("Wait = %v", err)
			}
			if string(r.Result) != tt.want || (r.Failure != nil) != tt.wantFail {
				t.Errorf("Wait = result %q failure %v, want %q failure %v", r.Result, r.Failure, tt.want, tt.wantFail)
			}
			if ws.Len() != 0 {
				t.Errorf("Len() = %d after Wait, want 0", ws.Len())
			}
			if ws.Deliver(&wire.ReplyMessage{MsgID: "m1", Ending: true}) {
				t.Error("late Deliver = true, want false")
			}
		})
	}
}

func TestDeliverUnknown(t *testing.T) {
	if New().Deliver(&wire.ReplyMessage{MsgID: "nobody", Ending: true}) {
		t.Error("Deliver to an unknown msg id = true, want false")
	}
}

func TestWaitDeadline(t *testing.T) {
	ws := New()
	w := ws.Register("m1")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := w.Wait(ctx, 0)
	var te *transport.TimeoutError
	if !errors.As(err, &te) || te.Heartbeat || !errors.Is(err, transport.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait past deadline = %v, want a TimeoutError matching ErrTimeout and DeadlineExceeded", err)
	}
}

func TestWaitCancel(t *testing.T) {
	ws := New()
	w := ws.Register("m1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.Wait(ctx, 0); !errors.Is(err, context.Canceled) || errors.Is(err, transport.ErrTimeout) {
		t.Errorf("Wait with a cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestCallMonitor(t *testing.T) {
	ws := New()
	w := ws.Register("m1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := w.Wait(ctx, 100*time.Millisecond)
	var te *transport.TimeoutError
	if !errors.As(err, &te) || !te.Heartbeat {
		t.Fatalf("Wait without heartbeats = %v, want a heartbeat TimeoutError", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("call monitor fired after %v, want about 100ms", time.Since(start))
	}
}

// TestHeartbeatsExtend checks that heartbeats keep a monitored call alive
// past several monitor intervals: each heartbeat is sent only after the
// waiter consumed the previous one, so the test needs no sleeps.
func TestHeartbeatsExtend(t *testing.T) {
	ws := New()
	w := ws.Register("m1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const monitor = time.Second
	done := wait(ctx, w, monitor)
	start := time.Now()
	ticker := time.NewTicker(monitor / 10)
	defer ticker.Stop()
	for time.Since(start) < 2*monitor {
		<-ticker.C
		ws.Deliver(&wire.ReplyMessage{MsgID: "m1"})
	}
	ws.Deliver(&wire.ReplyMessage{MsgID: "m1", Result: json.RawMessage("1"), Ending: true})
	res := <-done
	if res.err != nil || string(res.r.Result) != "1" {
		t.Errorf("monitored call = %v, %v; want result 1", res.r, res.err)
	}
}

func TestFailAll(t *testing.T) {
	ws := New()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, b := wait(ctx, ws.Register("a"), 0), wait(ctx, ws.Register("b"), 0)
	ws.FailAll(transport.ErrConnectionLost)
	for _, ch := range []<-chan result{a, b} {
		if res := <-ch; !errors.Is(res.err, transport.ErrConnectionLost) {
			t.Errorf("Wait after FailAll = %v, want ErrConnectionLost", res.err)
		}
	}
	if ws.Len() != 0 {
		t.Errorf("Len() = %d after FailAll, want 0", ws.Len())
	}
}

func TestCancel(t *testing.T) {
	ws := New()
	w := ws.Register("m1")
	w.Cancel()
	if ws.Len() != 0 || ws.Deliver(&wire.ReplyMessage{MsgID: "m1", Ending: true}) {
		t.Error("a cancelled waiter still receives replies")
	}
}

func TestFail(t *testing.T) {
	ws := New()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, b := wait(ctx, ws.Register("a"), 0), wait(ctx, ws.Register("b"), 0)
	if !ws.Fail("a", transport.ErrMalformed) {
		t.Fatal("Fail(a) = false, want true")
	}
	if res := <-a; !errors.Is(res.err, transport.ErrMalformed) {
		t.Errorf("Wait after Fail = %v, want ErrMalformed", res.err)
	}
	if ws.Fail("a", transport.ErrMalformed) || ws.Fail("nobody", transport.ErrMalformed) {
		t.Error("Fail of a call nobody waits for = true, want false")
	}
	ws.Deliver(&wire.ReplyMessage{MsgID: "b", Result: json.RawMessage("1"), Ending: true})
	if res := <-b; res.err != nil || string(res.r.Result) != "1" {
		t.Errorf("the other call = %v, %v; want result 1", res.r, res.err)
	}
}

func TestFailTagged(t *testing.T) {
	ws := New()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q1, q2 := new(int), new(int)
	a, b := wait(ctx, ws.RegisterTagged("a", q1), 0), wait(ctx, ws.RegisterTagged("b", q1), 0)
	c, d := wait(ctx, ws.RegisterTagged("c", q2), 0), wait(ctx, ws.Register("d"), 0)
	if n := ws.FailTagged(nil, transport.ErrNoConsumer); n != 0 {
		t.Errorf("FailTagged(nil) = %d, want 0", n)
	}
	if n := ws.FailTagged(q1, transport.ErrNoConsumer); n != 2 {
		t.Errorf("FailTagged(q1) = %d, want 2", n)
	}
	for _, ch := range []<-chan result{a, b} {
		if res := <-ch; !errors.Is(res.err, transport.ErrNoConsumer) {
			t.Errorf("Wait after FailTagged = %v, want ErrNoConsumer", res.err)
		}
	}
	for _, id := range []string{"c", "d"} {
		ws.Deliver(&wire.ReplyMessage{MsgID: id, Result: json.RawMessage("1"), Ending: true})
	}
	for _, ch := range []<-chan result{c, d} {
		if res := <-ch; res.err != nil || string(res.r.Result) != "1" {
			t.Errorf("a call with another tag = %v, %v; want result 1", res.r, res.err)
		}
	}
}

// TestWaitAfterNews: a call without a monitor keeps waiting through
// heartbeats and the first half of a legacy reply, takes the first
// completion only, and a reply that came before its ctx ended wins over
// the end.
func TestWaitAfterNews(t *testing.T) {
	ws := New()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := ws.Register("m1")
	done := wait(ctx, w, 0)
	ws.Deliver(&wire.ReplyMessage{MsgID: "m1"})
	ws.Deliver(&wire.ReplyMessage{MsgID: "m1", Result: json.RawMessage("7")})
	select {
	case res := <-done:
		t.Fatalf("Wait = %v, %v after a heartbeat and half a reply; want it still waiting", res.r, res.err)
	default:
	}
	ws.Deliver(&wire.ReplyMessage{MsgID: "m1", Ending: true})
	if res := <-done; res.err != nil || string(res.r.Result) != "7" {
		t.Errorf("Wait = %v, %v; want the legacy result 7", res.r, res.err)
	}

	w = ws.Register("m2")
	ws.Deliver(&wire.ReplyMessage{MsgID: "m2", Result: json.RawMessage("1"), Ending: true})
	ws.Fail("m2", transport.ErrConnectionLost) // too late: the reply won
	ended, stop := context.WithCancel(context.Background())
	stop()
	if r, err := w.Wait(ended, 0); err != nil || string(r.Result) != "1" {
		t.Errorf("Wait with an ended ctx after the reply = %v, %v; want the reply", r, err)
	}
}
