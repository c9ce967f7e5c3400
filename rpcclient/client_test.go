package rpcclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// fakeTransport records what the client hands to the transport and answers
// calls with a fixed reply or error.
type fakeTransport struct {
	transport.Notifications // nil: the client sends no notifications

	reply *message.Reply
	err   error

	mu   sync.Mutex
	sent []sent
}

type sent struct {
	call     bool
	tgt      target.Target
	req      message.Request
	deadline time.Time // zero when ctx had none
}

func (f *fakeTransport) record(ctx context.Context, call bool, tgt target.Target, req *message.Request) {
	d, _ := ctx.Deadline()
	f.mu.Lock()
	f.sent = append(f.sent, sent{call: call, tgt: tgt, req: *req, deadline: d})
	f.mu.Unlock()
}

func (f *fakeTransport) Cast(ctx context.Context, tgt target.Target, req *message.Request) error {
	f.record(ctx, false, tgt, req)
	return f.err
}

func (f *fakeTransport) Call(ctx context.Context, tgt target.Target, req *message.Request) (*message.Reply, error) {
	f.record(ctx, true, tgt, req)
	if f.err != nil {
		return nil, f.err
	}
	if f.reply == nil {
		return &message.Reply{}, nil
	}
	return f.reply, nil
}

func (f *fakeTransport) Listen(context.Context, target.Target) (transport.Listener, error) {
	return nil, errors.New("fake: cannot listen")
}

func (f *fakeTransport) Close() error { return nil }

func (f *fakeTransport) all() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.sent...)
}

// last returns the only request sent so far.
func (f *fakeTransport) last(t *testing.T) sent {
	t.Helper()
	s := f.all()
	if len(s) != 1 {
		t.Fatalf("transport got %d requests, want 1", len(s))
	}
	return s[0]
}

var calcTarget = target.Target{Topic: "calculator"}

func TestCallBuildsRequest(t *testing.T) {
	ft := &fakeTransport{}
	c := rpcclient.New(ft, target.Target{Topic: "calculator", Namespace: "math", Version: "1.2", Exchange: "ex"},
		rpcclient.RequestContext(map[string]any{"user": "u1"}),
		rpcclient.CallMonitor(4*time.Second))
	if err := c.Call(t.Context(), "add", map[string]int{"a": 1}, nil); err != nil {
		t.Fatalf("Call: %v", err)
	}
	got := ft.last(t)
	want := message.Request{
		Method:      "add",
		Args:        json.RawMessage(`{"a":1}`),
		Namespace:   "math",
		Version:     "1.2",
		Context:     map[string]any{"user": "u1"},
		CallMonitor: 4 * time.Second,
	}
	if !got.call || !reflect.DeepEqual(got.req, want) {
		t.Errorf("Call sent call=%v %+v, want call=true %+v", got.call, got.req, want)
	}
	if wantTgt := (target.Target{Topic: "calculator", Namespace: "math", Version: "1.2", Exchange: "ex"}); got.tgt != wantTgt {
		t.Errorf("Call sent to %v, want %v", got.tgt, wantTgt)
	}
}

func TestCastBuildsRequest(t *testing.T) {
	ft := &fakeTransport{}
	c := rpcclient.New(ft, calcTarget, rpcclient.Fanout(), rpcclient.CallMonitor(4*time.Second))
	if err := c.Cast(t.Context(), "reset", nil); err != nil {
		t.Fatalf("Cast: %v", err)
	}
	got := ft.last(t)
	if got.call || got.req.Method != "reset" || got.req.Args != nil || got.req.CallMonitor != 0 {
		t.Errorf("Cast sent call=%v %+v, want a cast of reset with no args or call monitor", got.call, got.req)
	}
	if !got.tgt.Fanout {
		t.Errorf("Cast sent to %v, want a fanout target", got.tgt)
	}
}

func TestTimeouts(t *testing.T) {
	ctxDeadline := time.Now().Add(time.Hour)
	tests := []struct {
		name string
		opts []rpcclient.Option
		ctx  func(t *testing.T) context.Context
		want time.Duration // expected remaining time at the call; 0: the ctx deadline
	}{
		{name: "default", ctx: background, want: rpcclient.DefaultTimeout},
		{name: "option", opts: []rpcclient.Option{rpcclient.Timeout(5 * time.Second)}, ctx: background, want: 5 * time.Second},
		{name: "zero option restores default", opts: []rpcclient.Option{rpcclient.Timeout(0)}, ctx: background, want: rpcclient.DefaultTimeout},
		{name: "ctx deadline wins", opts: []rpcclient.Option{rpcclient.Timeout(5 * time.Second)}, ctx: func(t *testing.T) context.Context {
			ctx, cancel := context.WithDeadline(context.Background(), ctxDeadline)
			t.Cleanup(cancel)
			return ctx
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, kind := range []string{"call", "cast"} {
				ft := &fakeTransport{}
				c := rpcclient.New(ft, calcTarget, tt.opts...)
				start := time.Now()
				var err error
				if kind == "call" {
					err = c.Call(tt.ctx(t), "add", nil, nil)
				} else {
					err = c.Cast(tt.ctx(t), "add", nil)
				}
				end := time.Now()
				if err != nil {
					t.Fatalf("%s: %v", kind, err)
				}
				got := ft.last(t)
				if got.deadline.IsZero() {
					t.Fatalf("%s: transport ctx has no deadline", kind)
				}
				if tt.want == 0 {
					if !got.deadline.Equal(ctxDeadline) {
						t.Errorf("%s: transport ctx deadline %v, want the caller's %v", kind, got.deadline, ctxDeadline)
					}
				} else if got.deadline.Before(start.Add(tt.want)) || got.deadline.After(end.Add(tt.want)) {
					t.Errorf("%s: transport ctx deadline %v, want %v after the call started", kind, got.deadline.Sub(start), tt.want)
				}
			}
		})
	}
}

func background(*testing.T) context.Context { return context.Background() }

func TestVersionCap(t *testing.T) {
	tests := []struct {
		name, version, vcap string
		wantCapErr          bool
		wantErr             error // when not a *VersionCapError
	}{
		{name: "no cap, no version", version: "", vcap: ""},
		{name: "no cap", version: "7.3", vcap: ""},
		{name: "equal", version: "1.2", vcap: "1.2"},
		{name: "lower minor", version: "1.1", vcap: "1.2"},
		{name: "higher minor", version: "1.3", vcap: "1.2", wantCapErr: true},
		{name: "other major", version: "2.0", vcap: "1.2", wantCapErr: true},
		{name: "lower major", version: "0.9", vcap: "1.2", wantCapErr: true},
		{name: "revision above", version: "1.2.1", vcap: "1.2", wantCapErr: true},
		{name: "revision below", version: "1.2.1", vcap: "1.2.3"},
		{name: "no version under a cap", version: "", vcap: "1.2", wantCapErr: true},
		{name: "malformed cap", version: "1.0", vcap: "one", wantErr: target.ErrBadVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fakeTransport{}
			c := rpcclient.New(ft, target.Target{Topic: "calculator", Version: tt.version}, rpcclient.VersionCap(tt.vcap))
			errs := map[string]error{
				"call": c.Call(t.Context(), "add", nil, nil),
				"cast": c.Cast(t.Context(), "add", nil),
			}
			for kind, err := range errs {
				var capErr *rpcclient.VersionCapError
				switch {
				case tt.wantCapErr:
					if !errors.As(err, &capErr) || capErr.Version != tt.version || capErr.Cap != tt.vcap || capErr.Method != "add" {
						t.Errorf("%s at %q under cap %q = %v, want *VersionCapError{add %s %s}", kind, tt.version, tt.vcap, err, tt.version, tt.vcap)
					}
				case tt.wantErr != nil:
					if !errors.Is(err, tt.wantErr) {
						t.Errorf("%s under cap %q = %v, want %v", kind, tt.vcap, err, tt.wantErr)
					}
				case err != nil:
					t.Errorf("%s at %q under cap %q = %v, want nil", kind, tt.version, tt.vcap, err)
				}
			}
			wantSent := 2
			if tt.wantCapErr || tt.wantErr != nil {
				wantSent = 0
			}
			if n := len(ft.all()); n != wantSent {
				t.Errorf("transport got %d requests, want %d", n, wantSent)
			}
		})
	}
}

func TestPrepareDoesNotMutate(t *testing.T) {
	ft := &fakeTransport{}
	ctxMap := map[string]any{"user": "u1"}
	base := rpcclient.New(ft, calcTarget, rpcclient.VersionCap("1.5"), rpcclient.Version("1.0"), rpcclient.RequestContext(ctxMap))
	ctxMap["user"] = "changed after the option"

	prepared := base.Prepare(rpcclient.Server("host-1"), rpcclient.Version("1.4"), rpcclient.Namespace("math"),
		rpcclient.Exchange("ex"), rpcclient.RequestContext(map[string]any{"user": "u2"}))
	twice := prepared.Prepare(rpcclient.Topic("other"), rpcclient.Fanout(), rpcclient.VersionCap(""), rpcclient.Version(""))

	for _, c := range []*rpcclient.Client{base, prepared, twice, base} {
		if err := c.Cast(t.Context(), "ping", nil); err != nil {
			t.Fatalf("Cast: %v", err)
		}
	}
	got := ft.all()
	want := []struct {
		tgt  target.Target
		user string
	}{
		{target.Target{Topic: "calculator", Version: "1.0"}, "u1"},
		{target.Target{Topic: "calculator", Version: "1.4", Server: "host-1", Namespace: "math", Exchange: "ex"}, "u2"},
		{target.Target{Topic: "other", Server: "host-1", Namespace: "math", Exchange: "ex", Fanout: true}, "u2"},
		{target.Target{Topic: "calculator", Version: "1.0"}, "u1"},
	}
	for i, w := range want {
		if got[i].tgt != w.tgt || got[i].req.Context["user"] != w.user {
			t.Errorf("cast %d went to %v with user %v, want %v with user %v", i, got[i].tgt, got[i].req.Context["user"], w.tgt, w.user)
		}
	}
}

func TestArgs(t *testing.T) {
	type kw struct {
		A int `json:"a"`
	}
	tests := []struct {
		name    string
		args    any
		want    json.RawMessage // sent args when no error
		wantErr string
	}{
		{name: "nil", args: nil, want: nil},
		{name: "nil map", args: map[string]any(nil), want: nil},
		{name: "nil struct pointer", args: (*kw)(nil), want: nil},
		{name: "map", args: map[string]int{"a": 1}, want: json.RawMessage(`{"a":1}`)},
		{name: "struct", args: kw{A: 2}, want: json.RawMessage(`{"a":2}`)},
		{name: "raw object", args: json.RawMessage(` { "a" : 3 } `), want: json.RawMessage(`{"a":3}`)},
		{name: "slice", args: []int{1}, wantErr: "JSON object"},
		{name: "string", args: "a", wantErr: "JSON object"},
		{name: "number", args: 42, wantErr: "JSON object"},
		{name: "unencodable", args: map[string]any{"f": func() {}}, wantErr: "encoding arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fakeTransport{}
			c := rpcclient.New(ft, calcTarget)
			callErr := c.Call(t.Context(), "add", tt.args, nil)
			castErr := c.Cast(t.Context(), "add", tt.args)
			if tt.wantErr != "" {
				for _, err := range []error{callErr, castErr} {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "rpcclient: ") {
						t.Errorf("args %#v: error %v, want one containing %q", tt.args, err, tt.wantErr)
					}
				}
				if n := len(ft.all()); n != 0 {
					t.Errorf("transport got %d requests, want none", n)
				}
				return
			}
			if callErr != nil || castErr != nil {
				t.Fatalf("args %#v: call %v, cast %v", tt.args, callErr, castErr)
			}
			for _, s := range ft.all() {
				if string(s.req.Args) != string(tt.want) {
					t.Errorf("args %#v sent as %s, want %s", tt.args, s.req.Args, tt.want)
				}
			}
		})
	}
}

func TestRefusedBeforeSending(t *testing.T) {
	var n int
	tests := []struct {
		name    string
		do      func(ctx context.Context, ft *fakeTransport) error
		wantIs  error
		wantMsg string
	}{
		{name: "fanout call", wantIs: target.ErrInvalid, do: func(ctx context.Context, ft *fakeTransport) error {
			return rpcclient.New(ft, calcTarget, rpcclient.Fanout()).Call(ctx, "add", nil, nil)
		}},
		{name: "call without topic", wantIs: target.ErrInvalid, do: func(ctx context.Context, ft *fakeTransport) error {
			return rpcclient.New(ft, target.Target{}).Call(ctx, "add", nil, nil)
		}},
		{name: "cast without topic", wantIs: target.ErrInvalid, do: func(ctx context.Context, ft *fakeTransport) error {
			return rpcclient.New(ft, target.Target{}).Cast(ctx, "add", nil)
		}},
		{name: "malformed version", wantIs: target.ErrInvalid, do: func(ctx context.Context, ft *fakeTransport) error {
			return rpcclient.New(ft, calcTarget, rpcclient.Version("1")).Cast(ctx, "add", nil)
		}},
		{name: "call without method", wantMsg: "method name", do: func(ctx context.Context, ft *fakeTransport) error {
			return rpcclient.New(ft, calcTarget).Call(ctx, "", nil, nil)
		}},
		{name: "cast without method", wantMsg: "method name", do: func(ctx context.Context, ft *fakeTransport) error {
			return rpcclient.New(ft, calcTarget).Cast(ctx, "", nil)
		}},
		{name: "reply not a pointer", wantMsg: "pointer", do: func(ctx context.Context, ft *fakeTransport) error {
			return rpcclient.New(ft, calcTarget).Call(ctx, "add", nil, n)
		}},
		{name: "nil reply pointer", wantMsg: "pointer", do: func(ctx context.Context, ft *fakeTransport) error {
			return rpcclient.New(ft, calcTarget).Call(ctx, "add", nil, (*int)(nil))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fakeTransport{}
			err := tt.do(t.Context(), ft)
			if err == nil || !strings.HasPrefix(err.Error(), "rpcclient: ") {
				t.Fatalf("error %v, want an rpcclient error", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v, want one matching %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %v, want one containing %q", err, tt.wantMsg)
			}
			if n := len(ft.all()); n != 0 {
				t.Errorf("transport got %d requests, want none", n)
			}
		})
	}
}

func TestCallReply(t *testing.T) {
	tests := []struct {
		name    string
		result  string
		reply   func() any // fresh reply target
		want    any        // what the reply target holds afterwards
		wantErr string
	}{
		{name: "number", result: `3`, reply: func() any { return new(int) }, want: 3},
		{name: "struct", result: `{"sum":3}`, reply: func() any { return new(struct{ Sum int }) }, want: struct{ Sum int }{3}},
		{name: "null leaves reply untouched", result: `null`, reply: func() any { v := 7; return &v }, want: 7},
		{name: "no result leaves reply untouched", result: ``, reply: func() any { v := "kept"; return &v }, want: "kept"},
		{name: "wrong type", result: `"three"`, reply: func() any { return new(int) }, wantErr: "decoding the result into *int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fakeTransport{reply: &message.Reply{Result: json.RawMessage(tt.result)}}
			reply := tt.reply()
			err := rpcclient.New(ft, calcTarget).Call(t.Context(), "add", nil, reply)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Call with result %s = %v, want error containing %q", tt.result, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Call with result %s: %v", tt.result, err)
			}
			if got := reflect.ValueOf(reply).Elem().Interface(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Call with result %s decoded %#v, want %#v", tt.result, got, tt.want)
			}
		})
	}
	t.Run("nil reply ignores result", func(t *testing.T) {
		ft := &fakeTransport{reply: &message.Reply{Result: json.RawMessage(`[1,2]`)}}
		if err := rpcclient.New(ft, calcTarget).Call(t.Context(), "add", nil, nil); err != nil {
			t.Errorf("Call with nil reply = %v, want nil", err)
		}
	})
}

func TestTransportErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		wantIs []error
	}{
		{name: "timeout", err: &transport.TimeoutError{MsgID: "m1"}, wantIs: []error{transport.ErrTimeout, context.DeadlineExceeded}},
		{name: "bare deadline exceeded", err: context.DeadlineExceeded, wantIs: []error{transport.ErrTimeout, context.DeadlineExceeded}},
		{name: "closed", err: transport.ErrClosed, wantIs: []error{transport.ErrClosed}},
		{name: "no route", err: &transport.NoRouteError{Exchange: "openstack", RoutingKey: "calculator"}, wantIs: []error{transport.ErrNoRoute}},
		{name: "cancelled", err: context.Canceled, wantIs: []error{context.Canceled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rpcclient.New(&fakeTransport{err: tt.err}, calcTarget)
			callErr := c.Call(t.Context(), "add", nil, nil)
			castErr := c.Cast(t.Context(), "add", nil)
			for _, err := range []error{callErr, castErr} {
				if err == nil || !strings.HasPrefix(err.Error(), "rpcclient: ") {
					t.Fatalf("error %v, want an rpcclient error", err)
				}
			}
			for _, want := range tt.wantIs {
				if !errors.Is(callErr, want) {
					t.Errorf("Call error %v does not match %v", callErr, want)
				}
			}
			if tt.name == "cancelled" && errors.Is(callErr, transport.ErrTimeout) {
				t.Errorf("Call error %v matches ErrTimeout, want it not to", callErr)
			}
		})
	}
}

func TestRemoteError(t *testing.T) {
	tests := []struct {
		name      string
		failure   message.Failure
		wantMsg   string
		wantMod   string
		isNoSuch  bool
		isVersion bool
	}{
		{
			name:    "application error",
			failure: message.Failure{Class: "InvalidOperation", Module: "warren", Message: "invalid operation", Traceback: []string{"tb\n"}, Args: []any{"invalid operation"}, Kwargs: map[string]any{"code": 3.0}},
			wantMsg: "rpcclient: call x: remote InvalidOperation: invalid operation", wantMod: "warren",
		},
		{
			name:    "no message",
			failure: message.Failure{Class: "KeyError", Module: "builtins"},
			wantMsg: "rpcclient: call x: remote KeyError", wantMod: "builtins",
		},
		{
			name:    "python 2 module",
			failure: message.Failure{Class: "ValueError", Module: "exceptions", Message: "bad"},
			wantMsg: "rpcclient: call x: remote ValueError: bad", wantMod: "builtins",
		},
		{
			name:    "no such method",
			failure: message.Failure{Class: "NoSuchMethod", Module: "oslo_messaging.rpc.dispatcher", Message: "Endpoint does not support RPC method x"},
			wantMsg: "rpcclient: call x: remote NoSuchMethod: Endpoint does not support RPC method x", wantMod: "oslo_messaging.rpc.dispatcher",
			isNoSuch: true,
		},
		{
			name:    "unsupported version",
			failure: message.Failure{Class: "UnsupportedVersion", Module: "oslo_messaging.rpc.dispatcher", Message: "Endpoint does not support RPC version 2.0. Attempted method: x"},
			wantMsg: "rpcclient: call x: remote UnsupportedVersion: Endpoint does not support RPC version 2.0. Attempted method: x", wantMod: "oslo_messaging.rpc.dispatcher",
			isVersion: true,
		},
		{
			name:    "same class from another module",
			failure: message.Failure{Class: "NoSuchMethod", Module: "myservice", Message: "m"},
			wantMsg: "rpcclient: call x: remote NoSuchMethod: m", wantMod: "myservice",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.failure
			c := rpcclient.New(&fakeTransport{reply: &message.Reply{Failure: &f}}, calcTarget)
			err := c.Call(t.Context(), "x", nil, nil)
			var re *rpcerr.RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("Call = %v, want a *RemoteError", err)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("Error() = %q, want %q", err.Error(), tt.wantMsg)
			}
			if re.Class != f.Class || re.Module != tt.wantMod || re.Message != f.Message ||
				!reflect.DeepEqual(re.Traceback, f.Traceback) || !reflect.DeepEqual(re.Args, f.Args) || !reflect.DeepEqual(re.Kwargs, f.Kwargs) {
				t.Errorf("RemoteError %+v, want the failure %+v (module %s)", re, f, tt.wantMod)
			}
			if got := errors.Is(err, rpcerr.ErrNoSuchMethod); got != tt.isNoSuch {
				t.Errorf("errors.Is(ErrNoSuchMethod) = %v, want %v", got, tt.isNoSuch)
			}
			if got := errors.Is(err, rpcerr.ErrUnsupportedVersion); got != tt.isVersion {
				t.Errorf("errors.Is(ErrUnsupportedVersion) = %v, want %v", got, tt.isVersion)
			}
		})
	}
}

func TestCallMonitorOption(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want time.Duration
	}{
		{name: "set", d: 4 * time.Second, want: 4 * time.Second},
		{name: "zero", d: 0, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fakeTransport{}
			if err := rpcclient.New(ft, calcTarget, rpcclient.CallMonitor(tt.d)).Call(t.Context(), "add", nil, nil); err != nil {
				t.Fatal(err)
			}
			if got := ft.last(t).req.CallMonitor; got != tt.want {
				t.Errorf("CallMonitor(%v) sent %v, want %v", tt.d, got, tt.want)
			}
		})
	}
}

// callerTransport is a fakeTransport that records the function that
// called its Call.
type callerTransport struct {
	fakeTransport
	caller string
}

func (f *callerTransport) Call(ctx context.Context, tgt target.Target, req *message.Request) (*message.Reply, error) {
	pcs := make([]uintptr, 1)
	runtime.Callers(2, pcs)
	fr, _ := runtime.CallersFrames(pcs).Next()
	f.caller = fr.Function
	return f.fakeTransport.Call(ctx, tgt, req)
}

// TestCallWaitsInOneFrame: without interceptors, Client.Call calls the
// transport itself, so that a waiting call holds no more frames than it
// needs (many may wait at once, each on its caller's stack).
func TestCallWaitsInOneFrame(t *testing.T) {
	tr := &callerTransport{}
	cl := rpcclient.New(tr, calcTarget)
	if err := cl.Call(context.Background(), "add", nil, nil); err != nil {
		t.Fatal(err)
	}
	if want := "github.com/warrenrpc/warren/rpcclient.(*Client).Call"; tr.caller != want {
		t.Errorf("transport's Call called by %s, want %s", tr.caller, want)
	}
}
