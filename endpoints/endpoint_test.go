package endpoints_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/target"
)

type pair struct {
	X int `json:"x"`
	Y int `json:"y"`
}

func add(_ context.Context, p pair) (int, error) { return p.X + p.Y, nil }

func okHandler() endpoints.Handler {
	return endpoints.HandlerFunc(func(context.Context, json.RawMessage) (any, error) { return "ok", nil })
}

func TestHandleRegistrationErrors(t *testing.T) {
	tests := []struct {
		name     string
		register func(e *endpoints.Endpoint)
		opts     []endpoints.Option
		wantIs   []error
	}{
		{
			name:     "empty name",
			register: func(e *endpoints.Endpoint) { e.Handle("", okHandler()) },
		},
		{
			name:     "private name",
			register: func(e *endpoints.Endpoint) { e.Handle("_secret", okHandler()) },
		},
		{
			name: "duplicate name",
			register: func(e *endpoints.Endpoint) {
				e.Handle("add", okHandler())
				endpoints.Register(e, "add", add)
			},
		},
		{
			name:     "nil handler",
			register: func(e *endpoints.Endpoint) { e.Handle("add", nil) },
		},
		{
			name:     "nil HandlerFunc",
			register: func(e *endpoints.Endpoint) { e.Handle("add", endpoints.HandlerFunc(nil)) },
		},
		{
			name: "nil typed function",
			register: func(e *endpoints.Endpoint) {
				endpoints.Register[pair, int](e, "add", nil)
			},
		},
		{
			name: "argument type that cannot hold keywords",
			register: func(e *endpoints.Endpoint) {
				endpoints.Register(e, "twice", func(_ context.Context, n int) (int, error) { return 2 * n, nil })
			},
		},
		{
			name: "slice argument type",
			register: func(e *endpoints.Endpoint) {
				endpoints.Register(e, "sum", func(_ context.Context, ns []int) (int, error) { return len(ns), nil })
			},
		},
		{
			name: "map with keys JSON cannot decode",
			register: func(e *endpoints.Endpoint) {
				endpoints.Register(e, "m", func(_ context.Context, m map[bool]int) (int, error) { return len(m), nil })
			},
		},
		{
			name: "struct decoded from a JSON string only",
			register: func(e *endpoints.Endpoint) {
				endpoints.Register(e, "t", func(_ context.Context, tm textOnly) (int, error) { return 0, nil })
			},
		},
		{
			name:     "nil pointer handler",
			register: func(e *endpoints.Endpoint) { e.Handle("p", (*ptrHandler)(nil)) },
		},
		{
			name:     "malformed version",
			opts:     []endpoints.Option{endpoints.Version("1")},
			register: func(*endpoints.Endpoint) {},
			wantIs:   []error{target.ErrBadVersion},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := endpoints.New(tt.opts...)
			tt.register(e)
			err := e.Err()
			if err == nil {
				t.Fatal("Err() = nil, want a registration error")
			}
			for _, target := range append([]error{endpoints.ErrInvalid}, tt.wantIs...) {
				if !errors.Is(err, target) {
					t.Errorf("Err() = %v, does not match %v", err, target)
				}
			}
		})
	}
}

// textOnly decodes only from JSON strings.
type textOnly struct{ s string }

func (t *textOnly) UnmarshalText(b []byte) error { t.s = string(b); return nil }

type ptrHandler struct{}

func (*ptrHandler) ServeRPC(context.Context, json.RawMessage) (any, error) { return nil, nil }

// upper is a map key decoded through UnmarshalText.
type upper string

func (u *upper) UnmarshalText(b []byte) error { *u = upper(strings.ToUpper(string(b))); return nil }

func TestRegisterMapArguments(t *testing.T) {
	e := endpoints.New()
	endpoints.Register(e, "ints", func(_ context.Context, m map[int]string) (map[int]string, error) { return m, nil })
	endpoints.Register(e, "upper", func(_ context.Context, m map[upper]int) (map[upper]int, error) { return m, nil })
	if err := e.Err(); err != nil {
		t.Fatalf("Err() = %v", err)
	}
	res, err := e.Handler("ints").ServeRPC(context.Background(), json.RawMessage(`{"1":"a"}`))
	if m, ok := res.(map[int]string); err != nil || !ok || m[1] != "a" {
		t.Errorf("ints(1=a) = %v, %v", res, err)
	}
	res, err = e.Handler("upper").ServeRPC(context.Background(), json.RawMessage(`{"a":1}`))
	if m, ok := res.(map[upper]int); err != nil || !ok || m["A"] != 1 {
		t.Errorf("upper(a=1) = %v, %v", res, err)
	}
}

func TestErrKeepsFirstErrorAndValidMethods(t *testing.T) {
	e := endpoints.New()
	e.Handle("_first", okHandler())
	e.Handle("", okHandler())
	endpoints.Register(e, "add", add)
	err := e.Err()
	if err == nil || !errors.Is(err, endpoints.ErrInvalid) {
		t.Fatalf("Err() = %v, want an ErrInvalid", err)
	}
	if want := `endpoints: invalid registration: method "_first": names starting with "_" are private`; err.Error() != want {
		t.Errorf("Err() = %q, want %q", err, want)
	}
	if got := e.Methods(); !slices.Equal(got, []string{"add"}) {
		t.Errorf("Methods() = %q, want [add]", got)
	}
}

func TestEndpointAccessors(t *testing.T) {
	e := endpoints.New(endpoints.Namespace("calc"), endpoints.Version("1.3"))
	endpoints.Register(e, "sub", add)
	endpoints.Register(e, "add", add)
	e.Handle("mul", okHandler())
	if err := e.Err(); err != nil {
		t.Fatalf("Err() = %v", err)
	}
	if got := e.NamespaceName(); got != "calc" {
		t.Errorf("NamespaceName() = %q, want calc", got)
	}
	if got := e.VersionString(); got != "1.3" {
		t.Errorf("VersionString() = %q, want 1.3", got)
	}
	if got, want := e.Methods(), []string{"add", "mul", "sub"}; !slices.Equal(got, want) {
		t.Errorf("Methods() = %q, want %q", got, want)
	}
	if e.Handler("add") == nil || e.Handler("div") != nil {
		t.Errorf("Handler(add) = %v, Handler(div) = %v; want a handler and nil", e.Handler("add"), e.Handler("div"))
	}
	res, err := e.Handler("add").ServeRPC(context.Background(), json.RawMessage(`{"x": 2, "y": 3}`))
	if err != nil || res != 5 {
		t.Errorf("add(x=2, y=3) = %v, %v; want 5, nil", res, err)
	}

	d := endpoints.New()
	if d.NamespaceName() != "" || d.VersionString() != "" || len(d.Methods()) != 0 || d.Err() != nil {
		t.Errorf("New() = ns %q, version %q, methods %q, err %v; want all zero", d.NamespaceName(), d.VersionString(), d.Methods(), d.Err())
	}
}

func TestPing(t *testing.T) {
	p := endpoints.Ping()
	if p.Err() != nil || p.NamespaceName() != "" || p.VersionString() != "1.0" {
		t.Fatalf("Ping() = ns %q, version %q, err %v; want \"\", 1.0, nil", p.NamespaceName(), p.VersionString(), p.Err())
	}
	if got := p.Methods(); !slices.Equal(got, []string{"oslo_rpc_server_ping"}) {
		t.Fatalf("Ping().Methods() = %q", got)
	}
	for _, args := range []string{`{}`, `{"anything": [1, 2]}`} {
		res, err := p.Handler(endpoints.PingMethod).ServeRPC(context.Background(), json.RawMessage(args))
		if err != nil || res != "pong" {
			t.Errorf("ping(%s) = %v, %v; want pong, nil", args, res, err)
		}
	}
}

func TestErrorClass(t *testing.T) {
	tests := []struct {
		name                  string
		err                   rpcerr.Classed
		class, module, errStr string
	}{
		{"NewError", rpcerr.NewError("NotFound", "thing 7 not found"), "NotFound", "warren", "thing 7 not found"},
		{"explicit module", &rpcerr.Error{Class: "KeyError", Module: "builtins", Message: "'k'"}, "KeyError", "builtins", "'k'"},
		{"zero class", &rpcerr.Error{Message: "boom"}, "Error", "warren", "boom"},
		{"argument error", &endpoints.ArgumentError{Method: "f", Err: errors.New("got an unexpected keyword argument 'x'")},
			"TypeError", "builtins", "f() got an unexpected keyword argument 'x'"},
		{"argument error without method", &endpoints.ArgumentError{Err: errors.New("bad")}, "TypeError", "builtins", "bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class, module := tt.err.ExceptionClass()
			if class != tt.class || module != tt.module {
				t.Errorf("ExceptionClass() = %q, %q; want %q, %q", class, module, tt.class, tt.module)
			}
			if got := tt.err.Error(); got != tt.errStr {
				t.Errorf("Error() = %q, want %q", got, tt.errStr)
			}
		})
	}
}

func TestErrorsAs(t *testing.T) {
	cause := errors.New("cause")
	var err error = &endpoints.ArgumentError{Method: "f", Err: cause}
	wrapped := errors.Join(errors.New("context"), err)
	var ae *endpoints.ArgumentError
	if !errors.As(wrapped, &ae) || ae.Method != "f" {
		t.Errorf("errors.As(%v, *ArgumentError) failed", wrapped)
	}
	if !errors.Is(wrapped, cause) {
		t.Errorf("errors.Is(%v, cause) = false; ArgumentError must unwrap to Err", wrapped)
	}
	var classed rpcerr.Classed
	if !errors.As(wrapped, &classed) {
		t.Errorf("errors.As(%v, Classed) failed", wrapped)
	}
	var e *rpcerr.Error
	if !errors.As(errors.Join(rpcerr.NewError("NotFound", "x")), &e) || e.Class != "NotFound" {
		t.Errorf("errors.As(*Error) failed")
	}
}

func TestRequestContext(t *testing.T) {
	ctx := context.Background()
	if got := endpoints.RequestContext(ctx); got != nil {
		t.Errorf("RequestContext(background) = %v, want nil", got)
	}
	m := map[string]any{"user_id": "u1", "request_id": "req-1"}
	got := endpoints.RequestContext(endpoints.WithRequestContext(ctx, m))
	if got["user_id"] != "u1" || got["request_id"] != "req-1" || len(got) != 2 {
		t.Errorf("RequestContext = %v, want %v", got, m)
	}
}
