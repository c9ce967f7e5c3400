package driver

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/transport"
)

func TestCopiesLeaveTheCallersRequest(t *testing.T) {
	req := &message.Request{Method: "m", Context: map[string]any{"u": "1"}, Headers: map[string]string{"traceparent": "tp"}}
	before := *req
	before.Context, before.Headers = maps.Clone(req.Context), maps.Clone(req.Headers)

	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(1e9, 123456789))
	defer cancel()
	c1, deadline, err := CallCopy(ctx, req)
	if err != nil {
		t.Fatalf("CallCopy = %v", err)
	}
	if want := time.UnixMilli(1e12 + 123); !deadline.Equal(want) {
		t.Errorf("CallCopy deadline = %v, want %v: ctx's to the millisecond", deadline, want)
	}
	c2, err := CastCopy(context.Background(), req)
	if err != nil {
		t.Fatalf("CastCopy = %v", err)
	}
	if !reflect.DeepEqual(*req, before) {
		t.Errorf("after the copies the request is %+v, want %+v", *req, before)
	}
	if c1.MsgID == "" || c2.MsgID != "" || c1.UniqueID == "" || c2.UniqueID == "" || c1.UniqueID == c2.UniqueID {
		t.Errorf("copies: call MsgID %q UniqueID %q, cast MsgID %q UniqueID %q; want a call id and two distinct unique ids",
			c1.MsgID, c1.UniqueID, c2.MsgID, c2.UniqueID)
	}

	mine := &message.Request{Method: "m", UniqueID: "u-1", MsgID: "stale", ReplyTo: "stale"}
	c3, err := CastCopy(context.Background(), mine)
	if err != nil || c3.UniqueID != "u-1" || c3.MsgID != "" || c3.ReplyTo != "" {
		t.Errorf("CastCopy(%+v) = %+v, %v; want the caller's UniqueID and no MsgID or ReplyTo", mine, c3, err)
	}
}

func TestCopyErrors(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := CastCopy(cancelled, &message.Request{Method: "m"}); !errors.Is(err, context.Canceled) {
		t.Errorf("CastCopy with a cancelled ctx = %v, want context.Canceled", err)
	}
	if _, _, err := CallCopy(context.Background(), &message.Request{Method: "m"}); !errors.Is(err, transport.ErrNoDeadline) {
		t.Errorf("CallCopy without deadline = %v, want ErrNoDeadline", err)
	}
	for _, name := range []string{"", "x-warren-deadline", "X-WARREN-x", strings.Repeat("a", 256)} {
		req := &message.Request{Method: "m", Headers: map[string]string{name: "v"}}
		if _, err := CastCopy(context.Background(), req); !errors.Is(err, transport.ErrInvalidHeader) {
			t.Errorf("CastCopy with header %.20q = %v, want ErrInvalidHeader", name, err)
		}
	}
	if err := CheckHeaders(map[string]string{"x-warren": "v", strings.Repeat("a", 255): "v", "traceparent": ""}); err != nil {
		t.Errorf("CheckHeaders of valid names = %v", err)
	}
}

func TestEncode(t *testing.T) {
	req := &message.Request{Method: "m", Args: json.RawMessage(`{"a": "` + strings.Repeat("x", 100) + `"}`)}
	body, err := Encode(req, 1000)
	if err != nil {
		t.Fatalf("Encode = %v", err)
	}
	if _, err := Encode(req, len(body)-1); !errors.Is(err, transport.ErrMessageTooLarge) {
		t.Errorf("Encode over the limit = %v, want ErrMessageTooLarge", err)
	}
	if _, err := Encode(&message.Request{Method: "m", Args: json.RawMessage(`[1]`)}, 1000); err == nil {
		t.Errorf("Encode with array args = nil, want an error")
	}
}

// sent is what a fake driver published.
type sent struct {
	to   string
	body []byte
}

type fakeDriver struct {
	mu   sync.Mutex
	sent []sent
	err  error // returned by Publish
}

func (f *fakeDriver) replier(limit int) *Replier {
	return &Replier{Name: "fake", Limit: limit, Publish: func(_ context.Context, to string, body []byte) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.err != nil {
			return f.err
		}
		f.sent = append(f.sent, sent{to, body})
		return nil
	}}
}

func (f *fakeDriver) messages(t *testing.T) []*wire.ReplyMessage {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*wire.ReplyMessage
	for _, s := range f.sent {
		m, err := wire.DecodeReply(s.body)
		if err != nil {
			t.Fatalf("DecodeReply(%s) = %v", s.body, err)
		}
		if s.to != "reply_q" {
			t.Errorf("published to %q, want reply_q", s.to)
		}
		out = append(out, m)
	}
	return out
}

func TestIncoming(t *testing.T) {
	ctx := context.Background()
	call := &message.Request{Method: "m", MsgID: "id1", ReplyTo: "reply_q", CallMonitor: 2 * time.Second}
	deadline := time.UnixMilli(1e12)

	t.Run("call", func(t *testing.T) {
		f := &fakeDriver{}
		in := f.replier(1000).Incoming(call, deadline)
		if in.Request() != call || !in.Deadline().Equal(deadline) {
			t.Errorf("Request, Deadline = %p, %v; want %p, %v", in.Request(), in.Deadline(), call, deadline)
		}
		if err := in.Heartbeat(ctx); err != nil {
			t.Fatalf("Heartbeat = %v", err)
		}
		big := json.RawMessage(`"` + strings.Repeat("x", 1000) + `"`)
		if err := in.Reply(ctx, &message.Reply{Result: big}); !errors.Is(err, transport.ErrMessageTooLarge) || !strings.HasPrefix(err.Error(), "fake: ") {
			t.Errorf("Reply over the limit = %v, want fake: ... ErrMessageTooLarge", err)
		}
		if err := in.Reply(ctx, &message.Reply{Result: json.RawMessage(`{`)}); err == nil {
			t.Errorf("Reply with invalid JSON = nil, want an error")
		}
		if err := in.Reply(ctx, &message.Reply{Result: json.RawMessage(`1`)}); err != nil {
			t.Fatalf("Reply = %v", err)
		}
		if err := in.Reply(ctx, nil); !errors.Is(err, transport.ErrReplied) {
			t.Errorf("second Reply = %v, want ErrReplied", err)
		}
		if err := in.Heartbeat(ctx); err != nil {
			t.Errorf("Heartbeat after Reply = %v", err)
		}
		ms := f.messages(t)
		if len(ms) != 2 || !ms[0].IsHeartbeat() || ms[1].IsHeartbeat() || !ms[1].Ending || string(ms[1].Result) != "1" || ms[1].MsgID != "id1" {
			t.Errorf("published %+v, want one heartbeat then the reply 1, nothing after", ms)
		}
	})

	t.Run("no heartbeats unasked", func(t *testing.T) {
		f := &fakeDriver{}
		for _, req := range []*message.Request{{Method: "m", MsgID: "id1", ReplyTo: "reply_q"}, {Method: "cast"}} {
			in := f.replier(1000).Incoming(req, time.Time{})
			if err := in.Heartbeat(ctx); err != nil {
				t.Errorf("Heartbeat = %v", err)
			}
		}
		if ms := f.messages(t); len(ms) != 0 {
			t.Errorf("published %+v, want nothing", ms)
		}
	})

	t.Run("cast", func(t *testing.T) {
		f := &fakeDriver{}
		in := f.replier(1000).Incoming(&message.Request{Method: "cast"}, time.Time{})
		for range 2 {
			if err := in.Reply(ctx, nil); err != nil {
				t.Errorf("Reply to a cast = %v, want nil", err)
			}
		}
		if ms := f.messages(t); len(ms) != 0 || !in.Deadline().IsZero() {
			t.Errorf("published %+v, deadline %v; want nothing, none", ms, in.Deadline())
		}
	})

	t.Run("caller gone", func(t *testing.T) {
		f := &fakeDriver{err: &transport.NoRouteError{RoutingKey: "reply_q"}}
		in := f.replier(1000).Incoming(call, deadline)
		if err := in.Heartbeat(ctx); err != nil {
			t.Errorf("Heartbeat to a caller that is gone = %v, want nil", err)
		}
		if err := in.Reply(ctx, nil); err != nil {
			t.Errorf("Reply to a caller that is gone = %v, want nil", err)
		}
	})

	t.Run("publish fails", func(t *testing.T) {
		boom := errors.New("fake: boom")
		f := &fakeDriver{err: boom}
		in := f.replier(1000).Incoming(call, deadline)
		if err := in.Reply(ctx, nil); err != boom {
			t.Errorf("Reply = %v, want the driver's error as it is", err)
		}
	})
}
