package transporttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// Harness tells Run how to reach the driver under test.
type Harness struct {
	// New returns a new transport on the same bus or broker as every other
	// transport of this harness, configured with MaxMessageSize as its
	// largest message body. It registers the transport's Close with
	// t.Cleanup. Required.
	New func(t *testing.T) transport.Transport
	// MaxMessageSize is the largest message body, in bytes, that New's
	// transports send: the too-large case sends one byte more. Zero means
	// transport.DefaultMaxMessageSize; a smaller limit keeps that case
	// fast.
	MaxMessageSize int
	// Forget, when set, deletes the broker state a case left behind. Run
	// calls it, after every transport of the case has closed, with the
	// case's client target (Exchange and Topic, no Server) and with every
	// server target the case listened on. It deletes the queues <topic> and
	// <topic>.<server> (when Server is set), the exchange <topic>_fanout and
	// the exchange tgt.Exchange, and must tolerate any of them not existing.
	// Nil means nothing outlives the transports, as in memory.
	Forget func(t *testing.T, tgt target.Target)
	// AtLeastOnce, when set, returns a new transport like New's in the
	// driver's at-least-once mode for casts, with DeliveryLimit as its
	// delivery limit, for servers and clients alike (with RabbitMQ: a
	// durable or quorum queue preset). Nil skips the at-least-once cases.
	AtLeastOnce func(t *testing.T) transport.Transport
	// DeliveryLimit is how many times AtLeastOnce's transports hand out a
	// cast whose handling keeps failing. Required with AtLeastOnce.
	DeliveryLimit int
}

// Run runs the conformance suite against h, one subtest per case.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("transporttest: Harness.New is nil")
	}
	if h.MaxMessageSize == 0 {
		h.MaxMessageSize = transport.DefaultMaxMessageSize
	}
	cases := []struct {
		name string
		run  func(*testing.T, *env)
	}{
		{"roundtrip", testRoundTrip},
		{"concurrent", testConcurrentCalls},
		{"cast", testCast},
		{"noroute", testNoRoute},
		{"roundrobin", testRoundRobin},
		{"fanout", testFanout},
		{"direct", testServerDirect},
		{"failure", testFailure},
		{"timeout", testTimeout},
		{"nodeadline", testNoDeadline},
		{"monitor-alive", testCallMonitorAlive},
		{"monitor-silent", testCallMonitorSilent},
		{"stop", testStop},
		{"stop-unblocks", testStopUnblocksNext},
		{"stop-handover", testStopHandsOver},
		{"close-call", testCloseFailsCall},
		{"close-listener", testCloseStopsListener},
		{"badtarget", testBadTarget},
		{"deadline", testDeadline},
		{"reuse", testReusedRequest},
		{"headers", testHeaders},
		{"duplicate", testDuplicate},
		{"reserved-headers", testReservedHeaders},
		{"cast-ended-ctx", testCastEndedCtx},
		{"call-ended-ctx", testCallEndedCtx},
		{"listen-ended-ctx", testListenEndedCtx},
		{"too-large", testTooLarge},
		{"reply-caller-gone", testReplyCallerGone},
		{"reply-ended-ctx", testReplyEndedCtx},
		{"reply-server-closed", testReplyServerClosed},
		{"unencodable", testUnencodable},
		{"notify", testNotify},
		{"notify-waits", testNotifyWaitsForListener},
		{"notify-priorities", testNotifyPriorities},
		{"notify-pools", testNotifyPools},
		{"notify-requeue", testNotifyRequeue},
		{"notify-close-requeues", testNotifyCloseRequeues},
		{"notify-stop-acks", testNotifyStopThenAck},
		{"notify-bad", testNotifyBadInput},
		{"alo-settle", testAtLeastOnceSettle},
		{"alo-limit", testAtLeastOnceLimit},
		{"alo-unsettled", testAtLeastOnceUnsettled},
		{"alo-duplicate", testAtLeastOnceDuplicate},
		{"alo-stop", testAtLeastOnceStop},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newEnv(t, h, c.name))
		})
	}
}

// env is one case's names and helpers.
type env struct {
	t        *testing.T
	h        Harness
	exchange string
	topic    string

	mu     sync.Mutex
	forget []target.Target
}

func newEnv(t *testing.T, h Harness, name string) *env {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("rand.Read: %v", err)
	}
	suffix := hex.EncodeToString(b[:])
	e := &env{
		t:        t,
		h:        h,
		exchange: "tt-x-" + name + "-" + suffix,
		topic:    "tt-" + name + "-" + suffix,
	}
	e.forget = []target.Target{e.target("")}
	if h.Forget != nil {
		// Registered before any transport exists, so it runs after they
		// have all closed.
		t.Cleanup(func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			for _, tgt := range e.forget {
				h.Forget(t, tgt)
			}
		})
	}
	return e
}

// target returns the case's target for server, or for any server when
// server is empty.
func (e *env) target(server string) target.Target {
	return target.Target{Exchange: e.exchange, Topic: e.topic, Server: server}
}

// ctx returns a context that ends after d or with the test.
func (e *env) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(e.t.Context(), d)
	e.t.Cleanup(cancel)
	return ctx
}

// client returns a new transport for a client.
func (e *env) client() transport.Transport {
	return e.h.New(e.t)
}

// server is one listening server with its own transport.
type server struct {
	name string
	tr   transport.Transport
	lis  transport.Listener
}

// listen opens a transport and listens on it as server name.
func (e *env) listen(name string) *server {
	e.t.Helper()
	return e.listenOn(name, e.h.New)
}

// listenOn listens as server name on a transport that open returns.
func (e *env) listenOn(name string, open func(t *testing.T) transport.Transport) *server {
	e.t.Helper()
	tgt := e.target(name)
	e.mu.Lock()
	e.forget = append(e.forget, tgt)
	e.mu.Unlock()
	tr := open(e.t)
	lis, err := tr.Listen(e.ctx(10*time.Second), tgt)
	if err != nil {
		e.t.Fatalf("Listen(%v) = %v", tgt, err)
	}
	e.t.Cleanup(func() { lis.Close() })
	return &server{name: name, tr: tr, lis: lis}
}

// serve runs handle on every request s receives until the test ends.
// handle runs in the server goroutine; ctx ends with the test.
func (e *env) serve(s *server, handle func(ctx context.Context, in transport.Incoming)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			in, err := s.lis.Next(ctx)
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, transport.ErrClosed) {
					e.t.Errorf("server %s: Next = %v", s.name, err)
				}
				return
			}
			handle(ctx, in)
		}
	}()
	e.t.Cleanup(func() {
		cancel()
		s.lis.Stop()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			e.t.Errorf("server %s: Next did not return within 10s of Stop", s.name)
		}
	})
}

// reply sends r to in's caller and reports an error.
func (e *env) reply(in transport.Incoming, r *message.Reply) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.Reply(ctx, r); err != nil {
		e.t.Errorf("Reply(%s) = %v", in.Request().Method, err)
	}
	if err := in.Reply(ctx, r); in.Request().IsCall() && !errors.Is(err, transport.ErrReplied) {
		e.t.Errorf("second Reply(%s) = %v, want ErrReplied", in.Request().Method, err)
	}
}

// replyName answers every call with the server's name, as a JSON string.
func (e *env) replyName(s *server) func(context.Context, transport.Incoming) {
	result := mustJSON(e.t, s.name)
	return func(_ context.Context, in transport.Incoming) {
		e.reply(in, &message.Reply{Result: result})
	}
}

// record sends every request it receives to ch, dropping none: the test
// must make ch large enough.
func record(ch chan<- transport.Incoming) func(context.Context, transport.Incoming) {
	return func(ctx context.Context, in transport.Incoming) {
		select {
		case ch <- in:
		case <-ctx.Done():
		}
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%v): %v", v, err)
	}
	return b
}

// jsonEqual reports whether a and b hold the same JSON value; nil and
// "null" are equal.
func jsonEqual(a, b json.RawMessage) bool {
	var va, vb any
	if len(a) > 0 {
		if err := json.Unmarshal(a, &va); err != nil {
			return false
		}
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &vb); err != nil {
			return false
		}
	}
	return reflect.DeepEqual(va, vb)
}

// await returns the next value of ch, failing the test after d.
func await[T any](t *testing.T, ch <-chan T, d time.Duration, what string) (v T) {
	t.Helper()
	select {
	case v = <-ch:
	case <-time.After(d):
		t.Fatalf("no %s within %v", what, d)
	}
	return v
}

// resultName decodes a reply holding a JSON string.
func resultName(t *testing.T, r *message.Reply) string {
	t.Helper()
	if r.Failure != nil {
		t.Fatalf("reply is a failure: %+v", r.Failure)
	}
	var s string
	if err := json.Unmarshal(r.Result, &s); err != nil {
		t.Fatalf("reply result %s is not a string: %v", r.Result, err)
	}
	return s
}

func testRoundTrip(t *testing.T, e *env) {
	s := e.listen("s1")
	got := make(chan *message.Request, 4)
	var results sync.Map // method -> result to send
	e.serve(s, func(_ context.Context, in transport.Incoming) {
		got <- in.Request()
		r, _ := results.Load(in.Request().Method)
		e.reply(in, &message.Reply{Result: r.(json.RawMessage)})
	})
	cl := e.client()

	cases := []struct {
		name   string
		req    message.Request
		args   json.RawMessage // what the server sees
		result json.RawMessage
	}{
		{
			name: "full",
			req: message.Request{
				Method:    "add",
				Args:      json.RawMessage(`{"a": 1, "b": 2.5, "text": "h\u00e9llo \"q\" <&>", "nested": {"list": [1, "x", null, true], "empty": {}}}`),
				Namespace: "math",
				Version:   "1.3",
				Context: map[string]any{
					"user_id":  "u-1",
					"roles":    []any{"admin", "reader"},
					"is_admin": false,
					"quota":    float64(7),
					"extra":    map[string]any{"k": "v"},
				},
			},
			args:   json.RawMessage(`{"a": 1, "b": 2.5, "text": "héllo \"q\" <&>", "nested": {"list": [1, "x", null, true], "empty": {}}}`),
			result: json.RawMessage(`{"sum": 3.5, "parts": [1, 2.5], "note": null}`),
		},
		{
			name:   "minimal",
			req:    message.Request{Method: "ping"},
			args:   json.RawMessage(`{}`),
			result: nil,
		},
		{
			name:   "scalar-result",
			req:    message.Request{Method: "answer", Args: json.RawMessage(`{}`)},
			args:   json.RawMessage(`{}`),
			result: json.RawMessage(`42`),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			results.Store(c.req.Method, c.result)
			ctx := e.ctx(5 * time.Second)
			req := c.req
			rep, err := cl.Call(ctx, e.target(""), &req)
			if err != nil {
				t.Fatalf("Call(%s) = %v", req.Method, err)
			}
			if rep.Failure != nil {
				t.Errorf("Call(%s) failure = %+v, want none", req.Method, rep.Failure)
			}
			if !jsonEqual(rep.Result, c.result) {
				t.Errorf("Call(%s) result = %s, want %s", req.Method, rep.Result, c.result)
			}
			if req.MsgID != "" || req.ReplyTo != "" || req.UniqueID != "" {
				t.Errorf("after Call, MsgID, ReplyTo, UniqueID = %q, %q, %q; want the caller's request untouched", req.MsgID, req.ReplyTo, req.UniqueID)
			}

			sr := await(t, got, 5*time.Second, "request on the server")
			if sr.Method != req.Method {
				t.Errorf("server Method = %q, want %q", sr.Method, req.Method)
			}
			if !jsonEqual(sr.Args, c.args) {
				t.Errorf("server Args = %s, want %s", sr.Args, c.args)
			}
			if sr.Namespace != req.Namespace || sr.Version != req.Version {
				t.Errorf("server Namespace, Version = %q, %q; want %q, %q", sr.Namespace, sr.Version, req.Namespace, req.Version)
			}
			if len(sr.Context) != 0 || len(req.Context) != 0 {
				if !reflect.DeepEqual(sr.Context, req.Context) {
					t.Errorf("server Context = %#v, want %#v", sr.Context, req.Context)
				}
			}
			if !sr.IsCall() || sr.ReplyTo == "" || sr.UniqueID == "" {
				t.Errorf("server MsgID, ReplyTo, UniqueID = %q, %q, %q; want all set", sr.MsgID, sr.ReplyTo, sr.UniqueID)
			}
			if sr.CallMonitor != 0 {
				t.Errorf("server CallMonitor = %v, want 0", sr.CallMonitor)
			}
		})
	}
}

func testConcurrentCalls(t *testing.T, e *env) {
	s := e.listen("s1")
	e.serve(s, func(_ context.Context, in transport.Incoming) {
		e.reply(in, &message.Reply{Result: in.Request().Args})
	})
	cl := e.client()
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			args := json.RawMessage(fmt.Sprintf(`{"i": %d}`, i))
			rep, err := cl.Call(ctx, e.target(""), &message.Request{Method: "echo", Args: args})
			switch {
			case err != nil:
				errs <- fmt.Errorf("call %d: %w", i, err)
			case !jsonEqual(rep.Result, args):
				errs <- fmt.Errorf("call %d: result %s, want %s", i, rep.Result, args)
			default:
				errs <- nil
			}
		}()
	}
	for range n {
		if err := await(t, errs, 15*time.Second, "call result"); err != nil {
			t.Error(err)
		}
	}
}

func testCast(t *testing.T, e *env) {
	s := e.listen("s1")
	got := make(chan transport.Incoming, 4)
	e.serve(s, record(got))
	cl := e.client()

	for _, tgt := range []target.Target{e.target(""), e.target("s1")} {
		args := json.RawMessage(`{"n": 1, "who": "` + tgt.String() + `"}`)
		rctx := map[string]any{"request_id": "req-1"}
		if err := cl.Cast(e.ctx(5*time.Second), tgt, &message.Request{Method: "notify", Args: args, Context: rctx}); err != nil {
			t.Fatalf("Cast(%v) = %v", tgt, err)
		}
		in := await(t, got, 5*time.Second, "cast on the server")
		r := in.Request()
		if r.Method != "notify" || !jsonEqual(r.Args, args) || !reflect.DeepEqual(r.Context, rctx) {
			t.Errorf("cast to %v arrived as %q %s %v, want notify %s %v", tgt, r.Method, r.Args, r.Context, args, rctx)
		}
		if r.IsCall() || r.ReplyTo != "" {
			t.Errorf("cast to %v arrived with MsgID %q, ReplyTo %q; want none", tgt, r.MsgID, r.ReplyTo)
		}
		if !in.Deadline().IsZero() {
			t.Errorf("cast to %v arrived with Deadline %v, want none", tgt, in.Deadline())
		}
		ctx := e.ctx(5 * time.Second)
		if err := in.Heartbeat(ctx); err != nil {
			t.Errorf("Heartbeat on a cast = %v, want nil", err)
		}
		if err := in.Reply(ctx, &message.Reply{Result: json.RawMessage(`1`)}); err != nil {
			t.Errorf("Reply on a cast = %v, want nil", err)
		}
	}
}

func testNoRoute(t *testing.T, e *env) {
	// A listener on the case's topic, so that only the ghost server is
	// unroutable; the topic cases use a topic nobody listens on.
	e.listen("s1")
	nobody := target.Target{Exchange: e.exchange, Topic: e.topic + "-nobody"}
	e.mu.Lock()
	e.forget = append(e.forget, nobody)
	e.mu.Unlock()
	cl := e.client()

	cases := []struct {
		name     string
		tgt      target.Target
		call     bool
		exchange string
		key      string
	}{
		{"cast", nobody, false, e.exchange, nobody.Topic},
		{"fanout-cast", target.Target{Topic: nobody.Topic, Fanout: true}, false, nobody.Topic + "_fanout", ""},
		{"call", nobody, true, e.exchange, nobody.Topic},
		{"cast-ghost-server", e.target("ghost"), false, e.exchange, e.topic + ".ghost"},
		{"call-ghost-server", e.target("ghost"), true, e.exchange, e.topic + ".ghost"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := e.ctx(10 * time.Second)
			start := time.Now()
			var err error
			if c.call {
				_, err = cl.Call(ctx, c.tgt, &message.Request{Method: "m"})
			} else {
				err = cl.Cast(ctx, c.tgt, &message.Request{Method: "m"})
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("unroutable send took %v, want it to fail fast", elapsed)
			}
			if !errors.Is(err, transport.ErrNoRoute) {
				t.Fatalf("send to %v = %v, want ErrNoRoute", c.tgt, err)
			}
			var nr *transport.NoRouteError
			if !errors.As(err, &nr) {
				t.Fatalf("send to %v = %v (%T), want a *transport.NoRouteError", c.tgt, err, err)
			}
			if nr.Exchange != c.exchange || nr.RoutingKey != c.key {
				t.Errorf("NoRouteError exchange, key = %q, %q; want %q, %q", nr.Exchange, nr.RoutingKey, c.exchange, c.key)
			}
		})
	}
}

func testRoundRobin(t *testing.T, e *env) {
	names := []string{"s1", "s2", "s3"}
	for _, n := range names {
		s := e.listen(n)
		e.serve(s, e.replyName(s))
	}
	cl := e.client()
	count := map[string]int{}
	for i := range 30 {
		rep, err := cl.Call(e.ctx(5*time.Second), e.target(""), &message.Request{Method: "who"})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		count[resultName(t, rep)]++
	}
	for _, n := range names {
		if count[n] == 0 {
			t.Errorf("server %s got none of 30 calls; counts %v", n, count)
		}
	}
}

func testFanout(t *testing.T, e *env) {
	type hit struct{ server, method string }
	hits := make(chan hit, 16)
	names := []string{"s1", "s2", "s3"}
	for _, n := range names {
		s := e.listen(n)
		e.serve(s, func(ctx context.Context, in transport.Incoming) {
			select {
			case hits <- hit{n, in.Request().Method}:
			case <-ctx.Done():
			}
		})
	}
	cl := e.client()
	fan := target.Target{Exchange: e.exchange, Topic: e.topic, Fanout: true}

	// Each server's fanout queue is FIFO, so a duplicate of "first" would
	// reach a server before its "second".
	count := map[hit]int{}
	for _, method := range []string{"first", "second"} {
		if err := cl.Cast(e.ctx(5*time.Second), fan, &message.Request{Method: method}); err != nil {
			t.Fatalf("fanout Cast(%s) = %v", method, err)
		}
		for seen := 0; seen < len(names); {
			h := await(t, hits, 5*time.Second, "fanout cast "+method+" on every server")
			count[h]++
			if h.method == method && count[h] == 1 {
				seen++
			}
		}
	}
	for _, n := range names {
		for _, m := range []string{"first", "second"} {
			if c := count[hit{n, m}]; c != 1 {
				t.Errorf("server %s got fanout cast %s %d times, want 1", n, m, c)
			}
		}
	}
}

func testServerDirect(t *testing.T, e *env) {
	names := []string{"s1", "s2", "s3"}
	for _, n := range names {
		s := e.listen(n)
		e.serve(s, e.replyName(s))
	}
	cl := e.client()
	for i := range 10 {
		rep, err := cl.Call(e.ctx(5*time.Second), e.target("s2"), &message.Request{Method: "who"})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got := resultName(t, rep); got != "s2" {
			t.Errorf("call %d to server s2 answered by %s", i, got)
		}
	}
}

func testFailure(t *testing.T, e *env) {
	failure := &message.Failure{
		Class:     "ValueError",
		Module:    "builtins",
		Message:   "bad value: 'x' <&>",
		Traceback: []string{"Traceback (most recent call last):\n", "  File \"svc.py\", line 3, in divide\n", "ValueError: bad value\n"},
		// Numbers come back as json.Number, every digit kept.
		Args:   []any{"bad value", json.Number("3")},
		Kwargs: map[string]any{"field": "x", "limits": []any{json.Number("1"), json.Number("18446744073709551617")}},
	}
	s := e.listen("s1")
	e.serve(s, func(_ context.Context, in transport.Incoming) {
		e.reply(in, &message.Reply{Failure: failure})
	})
	cl := e.client()
	rep, err := cl.Call(e.ctx(5*time.Second), e.target(""), &message.Request{Method: "divide"})
	if err != nil {
		t.Fatalf("Call = %v, want a reply with a failure", err)
	}
	if !reflect.DeepEqual(rep.Failure, failure) {
		t.Errorf("Call failure = %#v, want %#v", rep.Failure, failure)
	}
	if !jsonEqual(rep.Result, nil) {
		t.Errorf("Call result = %s, want none with a failure", rep.Result)
	}
}

func testTimeout(t *testing.T, e *env) {
	s := e.listen("s1")
	got := make(chan transport.Incoming, 1)
	e.serve(s, record(got))
	cl := e.client()

	const timeout = time.Second
	ctx := e.ctx(timeout)
	req := &message.Request{Method: "slow"}
	start := time.Now()
	_, err := cl.Call(ctx, e.target(""), req)
	elapsed := time.Since(start)
	if !errors.Is(err, transport.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call = %v, want ErrTimeout and context.DeadlineExceeded", err)
	}
	var te *transport.TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("Call = %v (%T), want a *transport.TimeoutError", err, err)
	}
	if te.Heartbeat || te.MsgID == "" {
		t.Errorf("TimeoutError = %+v, want a MsgID, Heartbeat false", te)
	}
	if elapsed < timeout/2 || elapsed > timeout+2*time.Second {
		t.Errorf("Call timed out after %v, want about %v", elapsed, timeout)
	}

	// The reply that comes too late is dropped without error.
	in := await(t, got, 5*time.Second, "request on the server")
	if in.Request().MsgID != te.MsgID {
		t.Errorf("TimeoutError.MsgID = %q, want the request's %q", te.MsgID, in.Request().MsgID)
	}
	if err := in.Reply(e.ctx(5*time.Second), &message.Reply{Result: json.RawMessage(`"late"`)}); err != nil {
		t.Errorf("late Reply = %v, want nil", err)
	}
}

func testNoDeadline(t *testing.T, e *env) {
	cl := e.client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for name, ctx := range map[string]context.Context{"background": context.Background(), "cancelable": ctx} {
		_, err := cl.Call(ctx, e.target(""), &message.Request{Method: "m"})
		if !errors.Is(err, transport.ErrNoDeadline) {
			t.Errorf("Call with %s ctx = %v, want ErrNoDeadline", name, err)
		}
	}
}

func testCallMonitorAlive(t *testing.T, e *env) {
	const monitor = 2 * time.Second
	s := e.listen("s1")
	monitors := make(chan time.Duration, 1)
	e.serve(s, func(ctx context.Context, in transport.Incoming) {
		monitors <- in.Request().CallMonitor
		tick := time.NewTicker(monitor / 2)
		defer tick.Stop()
		for range 3 { // beat for 3 s: longer than the monitor interval
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
			if err := in.Heartbeat(ctx); err != nil {
				e.t.Errorf("Heartbeat = %v", err)
			}
		}
		e.reply(in, &message.Reply{Result: json.RawMessage(`"done"`)})
	})
	cl := e.client()
	rep, err := cl.Call(e.ctx(10*time.Second), e.target(""), &message.Request{Method: "long", CallMonitor: monitor})
	if err != nil {
		t.Fatalf("Call with heartbeats = %v, want success", err)
	}
	if got := resultName(t, rep); got != "done" {
		t.Errorf("Call result = %q, want done", got)
	}
	if got := await(t, monitors, time.Second, "request on the server"); got != monitor {
		t.Errorf("server CallMonitor = %v, want %v", got, monitor)
	}
}

func testCallMonitorSilent(t *testing.T, e *env) {
	const monitor = 2 * time.Second
	s := e.listen("s1")
	e.serve(s, record(make(chan transport.Incoming, 1)))
	cl := e.client()
	start := time.Now()
	_, err := cl.Call(e.ctx(10*time.Second), e.target(""), &message.Request{Method: "hang", CallMonitor: monitor})
	elapsed := time.Since(start)
	var te *transport.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, transport.ErrTimeout) {
		t.Fatalf("Call to a silent server = %v, want a *transport.TimeoutError", err)
	}
	if !te.Heartbeat {
		t.Errorf("TimeoutError.Heartbeat = false, want true: the call monitor ran out")
	}
	if elapsed > 8*time.Second {
		t.Errorf("call monitor fired after %v, want well before the 10s deadline", elapsed)
	}
}

func testStop(t *testing.T, e *env) {
	s := e.listen("s1")
	if err := s.lis.Stop(); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	if _, err := s.lis.Next(e.ctx(5 * time.Second)); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Next after Stop = %v, want ErrClosed", err)
	}
	if err := s.lis.Stop(); err != nil {
		t.Errorf("second Stop = %v, want nil", err)
	}
	if err := s.lis.Close(); err != nil {
		t.Errorf("Close after Stop = %v, want nil", err)
	}
	if err := s.lis.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := s.lis.Next(e.ctx(5 * time.Second)); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Next after Close = %v, want ErrClosed", err)
	}
}

func testStopUnblocksNext(t *testing.T, e *env) {
	s := e.listen("s1")
	errs := make(chan error, 1)
	go func() {
		_, err := s.lis.Next(e.ctx(10 * time.Second))
		errs <- err
	}()
	if err := s.lis.Stop(); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	if err := await(t, errs, 5*time.Second, "return from Next after Stop"); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Next blocked across Stop = %v, want ErrClosed", err)
	}
}

func testStopHandsOver(t *testing.T, e *env) {
	// a listens but never takes a request; b serves. Requests the broker
	// may have pushed towards a must reach b once a stops.
	a := e.listen("a")
	b := e.listen("b")
	served := make(chan struct{}, 64)
	answer := e.replyName(b)
	e.serve(b, func(ctx context.Context, in transport.Incoming) {
		answer(ctx, in)
		select {
		case served <- struct{}{}:
		default:
		}
	})
	cl := e.client()

	const n = 6
	type result struct {
		name string
		err  error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	for range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rep, err := cl.Call(ctx, e.target(""), &message.Request{Method: "who"})
			if err != nil {
				results <- result{err: err}
				return
			}
			var name string
			err = json.Unmarshal(rep.Result, &name)
			results <- result{name, err}
		})
	}
	await(t, served, 5*time.Second, "call served by b")
	if err := a.lis.Stop(); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	for range n {
		r := await(t, results, 15*time.Second, "call result")
		if r.err != nil || r.name != "b" {
			t.Errorf("call while a stopped = %q, %v; want answered by b", r.name, r.err)
		}
	}

	// With a stopped, every request on the topic goes to b.
	for i := range 5 {
		rep, err := cl.Call(e.ctx(5*time.Second), e.target(""), &message.Request{Method: "who"})
		if err != nil {
			t.Fatalf("call %d after Stop: %v", i, err)
		}
		if got := resultName(t, rep); got != "b" {
			t.Errorf("call %d after a stopped answered by %s, want b", i, got)
		}
	}
}

func testCloseFailsCall(t *testing.T, e *env) {
	s := e.listen("s1")
	got := make(chan transport.Incoming, 1)
	e.serve(s, record(got))
	cl := e.client()

	errs := make(chan error, 1)
	go func() {
		_, err := cl.Call(e.ctx(10*time.Second), e.target(""), &message.Request{Method: "hang"})
		errs <- err
	}()
	await(t, got, 5*time.Second, "request on the server")
	if err := cl.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	err := await(t, errs, 3*time.Second, "return from the pending Call after Close")
	if !errors.Is(err, transport.ErrClosed) && !errors.Is(err, transport.ErrConnectionLost) {
		t.Errorf("pending Call after Close = %v, want ErrClosed or ErrConnectionLost", err)
	}

	ctx := e.ctx(5 * time.Second)
	if _, err := cl.Call(ctx, e.target(""), &message.Request{Method: "m"}); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Call after Close = %v, want ErrClosed", err)
	}
	if err := cl.Cast(ctx, e.target(""), &message.Request{Method: "m"}); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Cast after Close = %v, want ErrClosed", err)
	}
	if _, err := cl.Listen(ctx, e.target("s2")); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Listen after Close = %v, want ErrClosed", err)
	}
	if err := cl.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func testCloseStopsListener(t *testing.T, e *env) {
	s := e.listen("s1")
	errs := make(chan error, 1)
	go func() {
		_, err := s.lis.Next(e.ctx(10 * time.Second))
		errs <- err
	}()
	if err := s.tr.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := await(t, errs, 5*time.Second, "return from Next after Close"); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Next blocked across transport Close = %v, want ErrClosed", err)
	}
	if _, err := s.lis.Next(e.ctx(5 * time.Second)); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Next after transport Close = %v, want ErrClosed", err)
	}
}

func testBadTarget(t *testing.T, e *env) {
	tr := e.client()
	cases := []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"listen-no-server", func(ctx context.Context) error {
			_, err := tr.Listen(ctx, e.target(""))
			return err
		}},
		{"listen-no-topic", func(ctx context.Context) error {
			_, err := tr.Listen(ctx, target.Target{Exchange: e.exchange, Server: "s1"})
			return err
		}},
		{"call-fanout", func(ctx context.Context) error {
			_, err := tr.Call(ctx, target.Target{Exchange: e.exchange, Topic: e.topic, Fanout: true}, &message.Request{Method: "m"})
			return err
		}},
		{"call-no-topic", func(ctx context.Context) error {
			_, err := tr.Call(ctx, target.Target{Exchange: e.exchange}, &message.Request{Method: "m"})
			return err
		}},
		{"cast-no-topic", func(ctx context.Context) error {
			return tr.Cast(ctx, target.Target{Exchange: e.exchange}, &message.Request{Method: "m"})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.do(e.ctx(5 * time.Second)); !errors.Is(err, target.ErrInvalid) {
				t.Errorf("got %v, want target.ErrInvalid", err)
			}
		})
	}
}
