package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
	"github.com/warrenrpc/warren/transport/transporttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// conformanceLimit is the largest message of the conformance suite's
// transports: small, so that the too-large case is quick.
const conformanceLimit = 64 << 10

func TestConformance(t *testing.T) {
	bus := memory.NewBus()
	transporttest.Run(t, transporttest.Harness{
		New: func(t *testing.T) transport.Transport {
			tr := memory.New(memory.OnBus(bus), memory.MaxMessageSize(conformanceLimit))
			t.Cleanup(func() { tr.Close() })
			return tr
		},
		MaxMessageSize: conformanceLimit,
		AtLeastOnce: func(t *testing.T) transport.Transport {
			tr := memory.New(memory.OnBus(bus), memory.MaxMessageSize(conformanceLimit), memory.AtLeastOnce(3))
			t.Cleanup(func() { tr.Close() })
			return tr
		},
		DeliveryLimit: 3,
	})
}

// newPair returns a client and a server transport on one bus, closed when
// the test ends.
func newPair(t *testing.T) (client, server *memory.Transport) {
	bus := memory.NewBus()
	client = memory.New(memory.OnBus(bus))
	server = memory.New(memory.OnBus(bus))
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

var tgt = target.Target{Topic: "calc", Server: "host-1"}

// listen listens on to through tr, failing the test on an error. The
// listener closes when the test ends.
func listen(t *testing.T, tr *memory.Transport, to target.Target) transport.Listener {
	t.Helper()
	lis, err := tr.Listen(ctxFor(t, 5*time.Second), to)
	if err != nil {
		t.Fatalf("Listen(%v) = %v", to, err)
	}
	t.Cleanup(func() { lis.Close() })
	return lis
}

// next returns the next request lis receives, failing the test on an
// error or after five seconds.
func next(t *testing.T, lis transport.Listener) transport.Incoming {
	t.Helper()
	in, err := lis.Next(ctxFor(t, 5*time.Second))
	if err != nil {
		t.Fatalf("Next = %v", err)
	}
	return in
}

func TestSingleTransportServesItself(t *testing.T) {
	tr := memory.New()
	t.Cleanup(func() { tr.Close() })
	lis := listen(t, tr, tgt)
	if err := tr.Cast(ctxFor(t, 5*time.Second), target.Target{Topic: "calc"}, &message.Request{Method: "m"}); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	in := next(t, lis)
	if got := in.Request().Method; got != "m" {
		t.Errorf("Method = %q, want m", got)
	}
}

func TestControlExchange(t *testing.T) {
	bus := memory.NewBus()
	nova := memory.New(memory.OnBus(bus), memory.ControlExchange("nova"))
	other := memory.New(memory.OnBus(bus))
	t.Cleanup(func() {
		other.Close()
		nova.Close()
	})
	lis := listen(t, nova, tgt)

	cases := []struct {
		name string
		tr   *memory.Transport
		tgt  target.Target
		want error
	}{
		{"same control exchange", nova, target.Target{Topic: "calc"}, nil},
		{"explicit exchange", other, target.Target{Exchange: "nova", Topic: "calc"}, nil},
		{"default control exchange", other, target.Target{Topic: "calc"}, transport.ErrNoRoute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.tr.Cast(ctxFor(t, 5*time.Second), c.tgt, &message.Request{Method: "m"})
			if !errors.Is(err, c.want) {
				t.Fatalf("Cast(%v) = %v, want %v", c.tgt, err, c.want)
			}
			var nr *transport.NoRouteError
			if errors.As(err, &nr) && nr.Exchange != transport.DefaultControlExchange {
				t.Errorf("NoRouteError.Exchange = %q, want %q", nr.Exchange, transport.DefaultControlExchange)
			}
			if err == nil {
				if _, err := lis.Next(ctxFor(t, 5*time.Second)); err != nil {
					t.Errorf("Next = %v", err)
				}
			}
		})
	}
}

func TestQueueOutlivesListener(t *testing.T) {
	client, server := newPair(t)
	lis, err := server.Listen(ctxFor(t, 5*time.Second), tgt)
	if err != nil {
		t.Fatalf("Listen = %v", err)
	}
	lis.Close()
	// The topic and server queues stay, as broker queues do; the fanout
	// queue went with its listener.
	for _, to := range []target.Target{{Topic: "calc"}, {Topic: "calc", Server: "host-1"}} {
		if err := client.Cast(ctxFor(t, 5*time.Second), to, &message.Request{Method: "queued"}); err != nil {
			t.Fatalf("Cast(%v) after the listener closed = %v, want it queued", to, err)
		}
	}
	err = client.Cast(ctxFor(t, 5*time.Second), target.Target{Topic: "calc", Fanout: true}, &message.Request{Method: "m"})
	if !errors.Is(err, transport.ErrNoRoute) {
		t.Errorf("fanout Cast with no listener = %v, want ErrNoRoute", err)
	}

	lis = listen(t, server, tgt)
	for range 2 {
		in, err := lis.Next(ctxFor(t, 5*time.Second))
		if err != nil {
			t.Fatalf("Next on the new listener = %v, want the queued casts", err)
		}
		if got := in.Request().Method; got != "queued" {
			t.Errorf("Method = %q, want queued", got)
		}
	}
}

func TestExpiredRequestIsDropped(t *testing.T) {
	client, server := newPair(t)
	// A stopped listener leaves its topic queue, where calls then wait.
	if err := listen(t, server, tgt).Stop(); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	to := target.Target{Topic: "calc"}
	if _, err := client.Call(ctxFor(t, 100*time.Millisecond), to, &message.Request{Method: "stale"}); !errors.Is(err, transport.ErrTimeout) {
		t.Fatalf("Call(stale) = %v, want a timeout", err)
	}
	ctx := ctxFor(t, time.Hour)
	deadline, _ := ctx.Deadline()
	go client.Call(ctx, to, &message.Request{Method: "fresh"})
	in := next(t, listen(t, server, tgt))
	if got := in.Request().Method; got != "fresh" {
		t.Errorf("Next = %q, want fresh: the expired request should be dropped", got)
	}
	if got, want := in.Deadline(), time.UnixMilli(deadline.UnixMilli()); !got.Equal(want) {
		t.Errorf("Deadline = %v, want %v", got, want)
	}
}

func TestRoundRobinIsStrict(t *testing.T) {
	client, server := newPair(t)
	var lis []transport.Listener
	for _, name := range []string{"s1", "s2", "s3"} {
		lis = append(lis, listen(t, server, target.Target{Topic: "calc", Server: name}))
	}
	ctx := ctxFor(t, 5*time.Second)
	for i := range 9 {
		if err := client.Cast(ctx, target.Target{Topic: "calc"}, &message.Request{Method: fmt.Sprint("m", i)}); err != nil {
			t.Fatalf("Cast = %v", err)
		}
	}
	for i, l := range lis {
		for round := range 3 {
			in, err := l.Next(ctx)
			if err != nil {
				t.Fatalf("listener %d: Next = %v", i, err)
			}
			if got, want := in.Request().Method, fmt.Sprint("m", 3*round+i); got != want {
				t.Errorf("listener %d got %s, want %s", i, got, want)
			}
		}
	}
}

func TestStopRequeuesPushedRequests(t *testing.T) {
	client, server := newPair(t)
	ctx := ctxFor(t, 5*time.Second)
	a := listen(t, server, target.Target{Topic: "calc", Server: "a"})
	b := listen(t, server, target.Target{Topic: "calc", Server: "b"})
	want := map[string]bool{}
	for i := range 4 {
		m := fmt.Sprint("m", i)
		want[m] = true
		if err := client.Cast(ctx, target.Target{Topic: "calc"}, &message.Request{Method: m}); err != nil {
			t.Fatalf("Cast = %v", err)
		}
	}
	// Half went to a, which never took them; they must reach b.
	a.Stop()
	got := map[string]bool{}
	for range 4 {
		in, err := b.Next(ctx)
		if err != nil {
			t.Fatalf("Next = %v; got %v of %v", err, got, want)
		}
		got[in.Request().Method] = true
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("b got %v, want %v", got, want)
	}
}

// TestCancelledNextKeepsRequest cancels a Next as a request arrives, many
// times: whichever wins, the request reaches a later Next.
func TestCancelledNextKeepsRequest(t *testing.T) {
	client, server := newPair(t)
	lis := listen(t, server, tgt)
	to := target.Target{Topic: "calc"}
	ctx := ctxFor(t, 5*time.Second)
	for i := range 50 {
		nextCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := lis.Next(nextCtx)
			done <- err
		}()
		if err := client.Cast(ctx, to, &message.Request{Method: "m"}); err != nil {
			t.Fatalf("Cast = %v", err)
		}
		cancel()
		if err := <-done; errors.Is(err, context.Canceled) {
			if _, err := lis.Next(ctx); err != nil {
				t.Fatalf("round %d: request lost after a cancelled Next: %v", i, err)
			}
		} else if err != nil {
			t.Fatalf("round %d: Next = %v", i, err)
		}
	}
}

func TestFullQueue(t *testing.T) {
	client, server := newPair(t)
	lis := listen(t, server, tgt)
	to := target.Target{Topic: "calc"}
	fill := ctxFor(t, 5*time.Second)
	for i := range memory.QueueCapacity {
		if err := client.Cast(fill, to, &message.Request{Method: "m"}); err != nil {
			t.Fatalf("Cast %d = %v", i, err)
		}
	}

	// A full queue holds the send until its ctx ends...
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := client.Cast(ctx, to, &message.Request{Method: "m"})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, transport.ErrTimeout) {
		t.Errorf("Cast to a full queue = %v, want context.DeadlineExceeded", err)
	}
	_, err = client.Call(ctx, to, &message.Request{Method: "m"})
	if !errors.Is(err, transport.ErrTimeout) {
		t.Errorf("Call to a full queue = %v, want ErrTimeout", err)
	}

	// ...or until a listener makes room...
	sent := make(chan error, 1)
	go func() {
		sent <- client.Cast(ctxFor(t, 5*time.Second), to, &message.Request{Method: "last"})
	}()
	next(t, lis)
	select {
	case err := <-sent:
		if err != nil {
			t.Errorf("Cast after room was made = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Cast still blocked after Next made room")
	}

	// ...or until the sending transport closes.
	go func() {
		sent <- client.Cast(ctxFor(t, 5*time.Second), to, &message.Request{Method: "m"})
	}()
	client.Close()
	select {
	case err := <-sent:
		if !errors.Is(err, transport.ErrClosed) {
			t.Errorf("blocked Cast across Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Cast still blocked after Close")
	}
}

func TestFanoutWaitsForEveryQueue(t *testing.T) {
	client, server := newPair(t)
	fast := listen(t, server, target.Target{Topic: "calc", Server: "fast"})
	slow, err := server.Listen(ctxFor(t, 5*time.Second), target.Target{Topic: "calc", Server: "slow"})
	if err != nil {
		t.Fatalf("Listen = %v", err)
	}
	fan := target.Target{Topic: "calc", Fanout: true}
	fill := ctxFor(t, 5*time.Second)
	for i := range memory.QueueCapacity {
		if err := client.Cast(fill, fan, &message.Request{Method: "m"}); err != nil {
			t.Fatalf("Cast %d = %v", i, err)
		}
		if _, err := fast.Next(fill); err != nil {
			t.Fatalf("Next = %v", err)
		}
	}
	sent := make(chan error, 1)
	go func() {
		sent <- client.Cast(ctxFor(t, 5*time.Second), fan, &message.Request{Method: "last"})
	}()
	// Stopping the slow listener deletes its full fanout queue, which
	// lets the cast through to the fast one.
	slow.Close()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatalf("fanout Cast = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("fanout Cast still blocked after the full queue was deleted")
	}
	in := next(t, fast)
	if got := in.Request().Method; got != "last" {
		t.Errorf("Method = %q, want last", got)
	}
}

func TestReply(t *testing.T) {
	client, server := newPair(t)
	lis := listen(t, server, tgt)

	type outcome struct {
		rep *message.Reply
		err error
	}
	call := func() <-chan outcome {
		ch := make(chan outcome, 1)
		go func() {
			rep, err := client.Call(ctxFor(t, 5*time.Second), target.Target{Topic: "calc"}, &message.Request{Method: "m"})
			ch <- outcome{rep, err}
		}()
		return ch
	}

	t.Run("invalid result", func(t *testing.T) {
		done := call()
		in := next(t, lis)
		if err := in.Reply(ctxFor(t, 5*time.Second), &message.Reply{Result: json.RawMessage(`{bad`)}); err == nil {
			t.Error("Reply with invalid JSON = nil, want an error")
		}
		// The failed reply did not count: a failure can still be sent.
		if err := in.Reply(ctxFor(t, 5*time.Second), &message.Reply{Failure: &message.Failure{Class: "ValueError", Module: "builtins"}}); err != nil {
			t.Fatalf("Reply = %v", err)
		}
		if err := in.Reply(ctxFor(t, 5*time.Second), &message.Reply{}); !errors.Is(err, transport.ErrReplied) {
			t.Errorf("second Reply = %v, want ErrReplied", err)
		}
		o := <-done
		if o.err != nil || o.rep.Failure == nil || o.rep.Failure.Class != "ValueError" {
			t.Errorf("Call = %+v, %v; want the ValueError failure", o.rep, o.err)
		}
	})

	t.Run("nil reply", func(t *testing.T) {
		done := call()
		in := next(t, lis)
		if err := in.Reply(ctxFor(t, 5*time.Second), nil); err != nil {
			t.Fatalf("Reply(nil) = %v", err)
		}
		if o := <-done; o.err != nil || o.rep.Failure != nil || len(o.rep.Result) != 0 {
			t.Errorf("Call = %+v, %v; want an empty result", o.rep, o.err)
		}
	})

	t.Run("caller closed", func(t *testing.T) {
		done := call()
		in := next(t, lis)
		client.Close()
		if o := <-done; !errors.Is(o.err, transport.ErrClosed) {
			t.Errorf("pending Call across Close = %v, want ErrClosed", o.err)
		}
		// The caller is gone: the reply is dropped, as the RabbitMQ driver
		// drops a reply whose queue is gone.
		if err := in.Reply(ctxFor(t, 5*time.Second), &message.Reply{}); err != nil {
			t.Errorf("Reply to a closed transport = %v, want nil", err)
		}
	})
}

func TestUndecodableRequestFailsAtSend(t *testing.T) {
	client, server := newPair(t)
	listen(t, server, tgt) // a route exists: the sends can fail only at encoding
	cases := []struct {
		name string
		req  message.Request
	}{
		{"args not an object", message.Request{Method: "m", Args: json.RawMessage(`[1]`)}},
		{"no method", message.Request{}},
		{"context not JSON", message.Request{Method: "m", Context: map[string]any{"ch": make(chan int)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := c.req
			if err := client.Cast(ctxFor(t, 5*time.Second), target.Target{Topic: "calc"}, &req); err == nil {
				t.Error("Cast = nil, want an encoding error")
			}
			req = c.req
			if _, err := client.Call(ctxFor(t, 5*time.Second), target.Target{Topic: "calc"}, &req); err == nil {
				t.Error("Call = nil, want an encoding error")
			}
		})
	}
}

func TestHeartbeatIsNoopWithoutMonitor(t *testing.T) {
	client, server := newPair(t)
	lis := listen(t, server, tgt)
	done := make(chan error, 1)
	go func() {
		_, err := client.Call(ctxFor(t, 5*time.Second), target.Target{Topic: "calc"}, &message.Request{Method: "m"})
		done <- err
	}()
	in := next(t, lis)
	if err := in.Heartbeat(ctxFor(t, 5*time.Second)); err != nil {
		t.Errorf("Heartbeat = %v", err)
	}
	if err := in.Reply(ctxFor(t, 5*time.Second), &message.Reply{Result: json.RawMessage(`1`)}); err != nil {
		t.Errorf("Reply = %v", err)
	}
	if err := in.Heartbeat(ctxFor(t, 5*time.Second)); err != nil {
		t.Errorf("Heartbeat after Reply = %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Call = %v", err)
	}
}

func TestRequestOnTheWire(t *testing.T) {
	// What a server receives decodes from the body its caller encoded.
	client, server := newPair(t)
	lis := listen(t, server, tgt)
	req := &message.Request{Method: "m", Args: json.RawMessage(`{"a":1}`), UniqueID: wire.NewID()}
	if err := client.Cast(ctxFor(t, 5*time.Second), target.Target{Topic: "calc"}, req); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	in := next(t, lis)
	if got := in.Request().UniqueID; got != req.UniqueID {
		t.Errorf("UniqueID = %q, want %q", got, req.UniqueID)
	}
}
