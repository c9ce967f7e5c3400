package transporttest

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// Cases that pin what both drivers must do the same way: where a request's
// deadline comes from, that the caller's request is never written,
// application headers, ended contexts, the message size limit and replies
// to a caller that is gone.

// ended returns a context that has already been cancelled and one whose
// deadline has already passed.
func ended(t *testing.T) (cancelled, expired context.Context) {
	c, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
	cancel()
	x, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	t.Cleanup(cancel)
	return c, x
}

// onePrefix checks that err names each layer once: its first prefix,
// such as "rabbit: ", does not come back later in the text.
func onePrefix(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	prefix, _, ok := strings.Cut(msg, ": ")
	if ok && strings.Count(msg, prefix+": ") > 1 {
		t.Errorf("error %q repeats its prefix %q", msg, prefix)
	}
}

// firstMethod waits for the next request of got and returns its method.
func firstMethod(t *testing.T, got <-chan transport.Incoming) string {
	t.Helper()
	return await(t, got, 5*time.Second, "request on the server").Request().Method
}

func testDeadline(t *testing.T, e *env) {
	s := e.listen("s1")
	got := make(chan transport.Incoming, 4)
	e.serve(s, func(ctx context.Context, in transport.Incoming) {
		record(got)(ctx, in)
		e.reply(in, nil)
	})
	cl := e.client()

	ctx := e.ctx(7 * time.Second)
	deadline, _ := ctx.Deadline()
	if _, err := cl.Call(ctx, e.target(""), &message.Request{Method: "call"}); err != nil {
		t.Fatalf("Call = %v", err)
	}
	in := await(t, got, 5*time.Second, "call on the server")
	if want := time.UnixMilli(deadline.UnixMilli()); !in.Deadline().Equal(want) {
		t.Errorf("server Deadline = %v, want the caller's ctx deadline %v (ms precision)", in.Deadline(), want)
	}

	if err := cl.Cast(e.ctx(5*time.Second), e.target(""), &message.Request{Method: "cast"}); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	if in := await(t, got, 5*time.Second, "cast on the server"); !in.Deadline().IsZero() {
		t.Errorf("cast Deadline = %v, want none: a cast's ctx bounds only the hand-over", in.Deadline())
	}
}

func testReusedRequest(t *testing.T, e *env) {
	s := e.listen("s1")
	got := make(chan transport.Incoming, 8)
	e.serve(s, func(ctx context.Context, in transport.Incoming) {
		record(got)(ctx, in)
		e.reply(in, nil)
	})
	cl := e.client()

	req := &message.Request{
		Method:  "m",
		Args:    json.RawMessage(`{"a": 1}`),
		Context: map[string]any{"user": "u1"},
		Headers: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	}
	before := *req
	before.Context = maps.Clone(req.Context)
	before.Headers = maps.Clone(req.Headers)
	seen := map[string]bool{}
	for i, kind := range []string{"call", "call", "cast", "cast"} {
		var err error
		if kind == "call" {
			_, err = cl.Call(e.ctx(5*time.Second), e.target(""), req)
		} else {
			err = cl.Cast(e.ctx(5*time.Second), e.target(""), req)
		}
		if err != nil {
			t.Fatalf("%s %d = %v", kind, i, err)
		}
		if !reflect.DeepEqual(*req, before) {
			t.Fatalf("after %s %d the request is %+v, want it untouched: %+v", kind, i, *req, before)
		}
		id := await(t, got, 5*time.Second, "request on the server").Request().UniqueID
		if id == "" || seen[id] {
			t.Errorf("%s %d arrived with _unique_id %q; want a new one for every send (seen %v)", kind, i, id, seen)
		}
		seen[id] = true
	}

	// A UniqueID the caller chose is sent as it is.
	mine := &message.Request{Method: "m", UniqueID: "0123456789abcdef0123456789abcdef"}
	if err := cl.Cast(e.ctx(5*time.Second), e.target(""), mine); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	if id := await(t, got, 5*time.Second, "cast on the server").Request().UniqueID; id != mine.UniqueID {
		t.Errorf("server UniqueID = %q, want the caller's %q", id, mine.UniqueID)
	}
}

// testDuplicate casts one request twice with the same _unique_id: the
// server gets it once, as from oslo.messaging's duplicate check; the cast
// after it, with another id, is the next request handed out.
func testDuplicate(t *testing.T, e *env) {
	s := e.listen("s1")
	got := make(chan transport.Incoming, 8)
	e.serve(s, record(got))
	cl := e.client()
	dup := &message.Request{Method: "dup", UniqueID: "dddddddddddddddddddddddddddddddd"}
	for i, req := range []*message.Request{dup, dup, {Method: "after"}} {
		if err := cl.Cast(e.ctx(5*time.Second), e.target(""), req); err != nil {
			t.Fatalf("Cast %d = %v", i, err)
		}
	}
	for _, want := range []string{"dup", "after"} {
		if m := await(t, got, 5*time.Second, "cast "+want).Request().Method; m != want {
			t.Errorf("server got %s, want %s (a duplicate handed out twice?)", m, want)
		}
	}
}

func testHeaders(t *testing.T, e *env) {
	s := e.listen("s1")
	got := make(chan transport.Incoming, 8)
	e.serve(s, func(ctx context.Context, in transport.Incoming) {
		record(got)(ctx, in)
		e.reply(in, nil)
	})
	cl := e.client()
	headers := map[string]string{
		"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"tracestate":  "vendor=opaque,other=\u00e9",
		"baggage":     "user=u1,tenant=t 1",
		"empty":       "",
	}
	fan := target.Target{Exchange: e.exchange, Topic: e.topic, Fanout: true}
	sends := []struct {
		name string
		do   func(req *message.Request) error
	}{
		{"call", func(req *message.Request) error {
			_, err := cl.Call(e.ctx(5*time.Second), e.target(""), req)
			return err
		}},
		{"cast", func(req *message.Request) error { return cl.Cast(e.ctx(5*time.Second), e.target("s1"), req) }},
		{"fanout", func(req *message.Request) error { return cl.Cast(e.ctx(5*time.Second), fan, req) }},
	}
	for _, send := range sends {
		for _, h := range []map[string]string{headers, nil} {
			if err := send.do(&message.Request{Method: send.name, Headers: h}); err != nil {
				t.Fatalf("%s with headers %v = %v", send.name, h, err)
			}
			r := await(t, got, 5*time.Second, send.name+" on the server").Request()
			if !reflect.DeepEqual(r.Headers, h) {
				t.Errorf("%s arrived with headers %#v, want %#v", send.name, r.Headers, h)
			}
		}
	}
}

func testReservedHeaders(t *testing.T, e *env) {
	s := e.listen("s1")
	got := make(chan transport.Incoming, 4)
	e.serve(s, func(ctx context.Context, in transport.Incoming) {
		record(got)(ctx, in)
		e.reply(in, nil)
	})
	cl := e.client()
	for _, name := range []string{"x-warren-deadline", "X-Warren-Anything", "", strings.Repeat("h", 256)} {
		req := &message.Request{Method: "bad", Headers: map[string]string{"ok": "v", name: "1"}}
		_, err := cl.Call(e.ctx(5*time.Second), e.target(""), req)
		if !errors.Is(err, transport.ErrInvalidHeader) {
			t.Errorf("Call with header %.20q = %v, want ErrInvalidHeader", name, err)
		}
		onePrefix(t, err)
		if err := cl.Cast(e.ctx(5*time.Second), e.target(""), req); !errors.Is(err, transport.ErrInvalidHeader) {
			t.Errorf("Cast with header %.20q = %v, want ErrInvalidHeader", name, err)
		}
	}
	// Nothing was sent: the next request the server sees is this one.
	if err := cl.Cast(e.ctx(5*time.Second), e.target(""), &message.Request{Method: "good"}); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	if m := firstMethod(t, got); m != "good" {
		t.Errorf("server received %q first, want good: refused requests must not be sent", m)
	}
}

func testCastEndedCtx(t *testing.T, e *env) {
	s := e.listen("s1")
	got := make(chan transport.Incoming, 4)
	e.serve(s, record(got))
	cl := e.client()
	cancelled, expired := ended(t)
	fan := target.Target{Exchange: e.exchange, Topic: e.topic, Fanout: true}
	for _, tgt := range []target.Target{e.target(""), fan} {
		err := cl.Cast(cancelled, tgt, &message.Request{Method: "cancelled"})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Cast(%v) with a cancelled ctx = %v, want context.Canceled", tgt, err)
		}
		onePrefix(t, err)
		err = cl.Cast(expired, tgt, &message.Request{Method: "expired"})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Cast(%v) with an expired ctx = %v, want context.DeadlineExceeded", tgt, err)
		}
		onePrefix(t, err)
	}
	if err := cl.Cast(e.ctx(5*time.Second), e.target(""), &message.Request{Method: "good"}); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	if m := firstMethod(t, got); m != "good" {
		t.Errorf("server received %q first, want good: a cast whose ctx ended must not be sent", m)
	}
}

func testCallEndedCtx(t *testing.T, e *env) {
	s := e.listen("s1")
	got := make(chan transport.Incoming, 4)
	e.serve(s, func(ctx context.Context, in transport.Incoming) {
		record(got)(ctx, in)
		e.reply(in, nil)
	})
	cl := e.client()
	cancelled, expired := ended(t)
	_, err := cl.Call(cancelled, e.target(""), &message.Request{Method: "cancelled"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Call with a cancelled ctx = %v, want context.Canceled", err)
	}
	onePrefix(t, err)
	_, err = cl.Call(expired, e.target(""), &message.Request{Method: "expired"})
	var te *transport.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Call with an expired ctx = %v, want a *transport.TimeoutError", err)
	}
	if _, err := cl.Call(e.ctx(5*time.Second), e.target(""), &message.Request{Method: "good"}); err != nil {
		t.Fatalf("Call = %v", err)
	}
	if m := firstMethod(t, got); m != "good" {
		t.Errorf("server received %q first, want good: a call whose ctx ended must not be sent", m)
	}
}

func testListenEndedCtx(t *testing.T, e *env) {
	tr := e.client()
	cancelled, _ := ended(t)
	tgt := e.target("s1")
	e.mu.Lock()
	e.forget = append(e.forget, tgt)
	e.mu.Unlock()
	if lis, err := tr.Listen(cancelled, tgt); !errors.Is(err, context.Canceled) {
		if lis != nil {
			lis.Close()
		}
		t.Errorf("Listen with a cancelled ctx = %v, want context.Canceled", err)
	}
	s := e.listen("s2")
	if _, err := s.lis.Next(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with a cancelled ctx = %v, want context.Canceled", err)
	}
}

func testTooLarge(t *testing.T, e *env) {
	big := json.RawMessage(`{"blob": "` + strings.Repeat("x", e.h.MaxMessageSize) + `"}`)
	s := e.listen("s1")
	replies := make(chan error, 2)
	e.serve(s, func(ctx context.Context, in transport.Incoming) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		replies <- in.Reply(ctx, &message.Reply{Result: big})
		replies <- in.Reply(ctx, &message.Reply{Result: json.RawMessage(`"small"`)})
	})
	cl := e.client()

	err := cl.Cast(e.ctx(5*time.Second), e.target(""), &message.Request{Method: "big", Args: big})
	if !errors.Is(err, transport.ErrMessageTooLarge) {
		t.Errorf("Cast of %d bytes = %v, want ErrMessageTooLarge", len(big), err)
	}
	onePrefix(t, err)
	_, err = cl.Call(e.ctx(5*time.Second), e.target(""), &message.Request{Method: "big", Args: big})
	if !errors.Is(err, transport.ErrMessageTooLarge) {
		t.Errorf("Call of %d bytes = %v, want ErrMessageTooLarge", len(big), err)
	}
	onePrefix(t, err)

	rep, err := cl.Call(e.ctx(10*time.Second), e.target(""), &message.Request{Method: "answer"})
	if err := await(t, replies, 5*time.Second, "first Reply"); !errors.Is(err, transport.ErrMessageTooLarge) {
		t.Errorf("Reply of %d bytes = %v, want ErrMessageTooLarge", len(big), err)
	} else {
		onePrefix(t, err)
	}
	if err := await(t, replies, 5*time.Second, "second Reply"); err != nil {
		t.Errorf("Reply after a too large one = %v, want nil: the refused reply does not count", err)
	}
	if err != nil {
		t.Fatalf("Call = %v, want the small reply", err)
	}
	if got := resultName(t, rep); got != "small" {
		t.Errorf("Call result = %q, want small", got)
	}
}

func testReplyCallerGone(t *testing.T, e *env) {
	s := e.listen("s1")
	got := make(chan transport.Incoming, 1)
	e.serve(s, record(got))
	cl := e.client()
	errs := make(chan error, 1)
	go func() {
		_, err := cl.Call(e.ctx(10*time.Second), e.target(""), &message.Request{Method: "m", CallMonitor: 5 * time.Second})
		errs <- err
	}()
	in := await(t, got, 5*time.Second, "call on the server")
	if err := cl.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	await(t, errs, 5*time.Second, "return from Call after Close")
	ctx := e.ctx(5 * time.Second)
	if err := in.Heartbeat(ctx); err != nil {
		t.Errorf("Heartbeat to a caller that closed = %v, want nil: it is dropped", err)
	}
	if err := in.Reply(ctx, &message.Reply{Result: json.RawMessage(`1`)}); err != nil {
		t.Errorf("Reply to a caller that closed = %v, want nil: it is dropped", err)
	}
}

func testReplyEndedCtx(t *testing.T, e *env) {
	s := e.listen("s1")
	got := make(chan transport.Incoming, 1)
	e.serve(s, record(got))
	cl := e.client()
	go cl.Call(e.ctx(10*time.Second), e.target(""), &message.Request{Method: "m", CallMonitor: 5 * time.Second})
	in := await(t, got, 5*time.Second, "call on the server")
	cancelled, _ := ended(t)
	if err := in.Heartbeat(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Heartbeat with a cancelled ctx = %v, want context.Canceled", err)
	}
	if err := in.Reply(cancelled, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Reply with a cancelled ctx = %v, want context.Canceled", err)
	}
}

func testReplyServerClosed(t *testing.T, e *env) {
	s := e.listen("s1")
	got := make(chan transport.Incoming, 1)
	e.serve(s, record(got))
	cl := e.client()
	go cl.Call(e.ctx(10*time.Second), e.target(""), &message.Request{Method: "m", CallMonitor: 5 * time.Second})
	in := await(t, got, 5*time.Second, "call on the server")
	if err := s.tr.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	ctx := e.ctx(5 * time.Second)
	if err := in.Heartbeat(ctx); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Heartbeat after the server's transport closed = %v, want ErrClosed", err)
	}
	if err := in.Reply(ctx, nil); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Reply after the server's transport closed = %v, want ErrClosed", err)
	}
}

func testUnencodable(t *testing.T, e *env) {
	s := e.listen("s1")
	got := make(chan transport.Incoming, 4)
	e.serve(s, record(got))
	cl := e.client()
	bad := []message.Request{
		{Method: "array-args", Args: json.RawMessage(`[1]`)},
		{Method: "invalid-args", Args: json.RawMessage(`{"a":`)},
		{Method: "context", Context: map[string]any{"c": make(chan int)}},
		{},
	}
	for _, req := range bad {
		if _, err := cl.Call(e.ctx(5*time.Second), e.target(""), &req); err == nil {
			t.Errorf("Call(%q) = nil, want an error: the request cannot be encoded", req.Method)
		}
		if err := cl.Cast(e.ctx(5*time.Second), e.target(""), &req); err == nil {
			t.Errorf("Cast(%q) = nil, want an error: the request cannot be encoded", req.Method)
		}
	}
	if err := cl.Cast(e.ctx(5*time.Second), e.target(""), &message.Request{Method: "good"}); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	if m := firstMethod(t, got); m != "good" {
		t.Errorf("server received %q first, want good: requests that cannot be encoded must not be sent", m)
	}
}
