package dispatcher_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcerr"
)

// named returns a handler that answers with its own label, so a test sees
// which endpoint ran.
func named(label string) endpoints.Handler {
	return endpoints.HandlerFunc(func(context.Context, json.RawMessage) (any, error) { return label, nil })
}

func newDispatcher(t *testing.T, eps []*endpoints.Endpoint, opts ...dispatcher.Option) *dispatcher.Dispatcher {
	t.Helper()
	d, err := dispatcher.New(eps, opts...)
	if err != nil {
		t.Fatalf("dispatcher.New: %v", err)
	}
	return d
}

func TestDispatchRules(t *testing.T) {
	// Endpoints as a server might list them, tried in this order.
	v13 := endpoints.New(endpoints.Version("1.3"))
	v13.Handle("get", named("v1.3 get"))
	v13.Handle("only13", named("v1.3 only13"))
	v10 := endpoints.New() // no version: implements 1.0
	v10.Handle("get", named("v1.0 get"))
	v10.Handle("old", named("v1.0 old"))
	v2 := endpoints.New(endpoints.Version("2.0.1"))
	v2.Handle("get", named("v2 get"))
	calc := endpoints.New(endpoints.Namespace("calc"), endpoints.Version("1.1"))
	calc.Handle("add", named("calc add"))
	eps := []*endpoints.Endpoint{v13, v10, v2, calc}
	d := newDispatcher(t, eps)

	tests := []struct {
		name string
		req  dispatcher.Request
		want string // the label of the handler that runs, or the error message
		is   error  // the sentinel the error matches, nil on success
	}{
		{name: "missing version means 1.0, first endpoint wins",
			req: dispatcher.Request{Method: "get"}, want: "v1.3 get"},
		{name: "1.2 served by 1.3",
			req: dispatcher.Request{Method: "get", Version: "1.2"}, want: "v1.3 get"},
		{name: "1.3 served by 1.3",
			req: dispatcher.Request{Method: "get", Version: "1.3"}, want: "v1.3 get"},
		{name: "later compatible endpoint has the method",
			req: dispatcher.Request{Method: "old", Version: "1.0"}, want: "v1.0 old"},
		{name: "1.1 skips the 1.0 endpoint",
			req:  dispatcher.Request{Method: "old", Version: "1.1"},
			want: "Endpoint does not support RPC method old", is: rpcerr.ErrNoSuchMethod},
		{name: "1.4 is newer than every 1.x endpoint",
			req:  dispatcher.Request{Method: "get", Version: "1.4"},
			want: "Endpoint does not support RPC version 1.4. Attempted method: get", is: rpcerr.ErrUnsupportedVersion},
		{name: "2.0 served by 2.0.1",
			req: dispatcher.Request{Method: "get", Version: "2.0"}, want: "v2 get"},
		{name: "2.0.1 served by 2.0.1",
			req: dispatcher.Request{Method: "get", Version: "2.0.1"}, want: "v2 get"},
		{name: "2.0.2 is newer than 2.0.1",
			req:  dispatcher.Request{Method: "get", Version: "2.0.2"},
			want: "Endpoint does not support RPC version 2.0.2. Attempted method: get", is: rpcerr.ErrUnsupportedVersion},
		{name: "3.0 has no endpoint",
			req:  dispatcher.Request{Method: "get", Version: "3.0"},
			want: "Endpoint does not support RPC version 3.0. Attempted method: get", is: rpcerr.ErrUnsupportedVersion},
		{name: "malformed version",
			req:  dispatcher.Request{Method: "get", Version: "one"},
			want: "Endpoint does not support RPC version one. Attempted method: get", is: rpcerr.ErrUnsupportedVersion},
		{name: "unknown method on compatible endpoints",
			req:  dispatcher.Request{Method: "nope"},
			want: "Endpoint does not support RPC method nope", is: rpcerr.ErrNoSuchMethod},
		{name: "empty method",
			req:  dispatcher.Request{},
			want: "Endpoint does not support RPC method ", is: rpcerr.ErrNoSuchMethod},
		{name: "private method",
			req:  dispatcher.Request{Method: "_private"},
			want: "Endpoint does not support RPC method _private", is: rpcerr.ErrNoSuchMethod},
		{name: "namespace",
			req: dispatcher.Request{Method: "add", Namespace: "calc"}, want: "calc add"},
		{name: "namespace with compatible version",
			req: dispatcher.Request{Method: "add", Namespace: "calc", Version: "1.1"}, want: "calc add"},
		{name: "namespace with incompatible version",
			req:  dispatcher.Request{Method: "add", Namespace: "calc", Version: "1.2"},
			want: "Endpoint does not support RPC version 1.2. Attempted method: add", is: rpcerr.ErrUnsupportedVersion},
		{name: "method of another namespace, version compatible",
			req:  dispatcher.Request{Method: "add"},
			want: "Endpoint does not support RPC method add", is: rpcerr.ErrNoSuchMethod},
		{name: "method of the default namespace asked in another",
			req:  dispatcher.Request{Method: "get", Namespace: "calc"},
			want: "Endpoint does not support RPC method get", is: rpcerr.ErrNoSuchMethod},
		{name: "unknown namespace",
			req:  dispatcher.Request{Method: "add", Namespace: "nova"},
			want: "Endpoint does not support RPC version 1.0. Attempted method: add", is: rpcerr.ErrUnsupportedVersion},
		{name: "ping",
			req: dispatcher.Request{Method: "oslo_rpc_server_ping"}, want: "pong"},
		{name: "ping at 1.2 reaches only the 1.3 endpoint",
			req:  dispatcher.Request{Method: "oslo_rpc_server_ping", Version: "1.2"},
			want: "Endpoint does not support RPC method oslo_rpc_server_ping", is: rpcerr.ErrNoSuchMethod},
		{name: "ping at 1.5",
			req:  dispatcher.Request{Method: "oslo_rpc_server_ping", Version: "1.5"},
			want: "Endpoint does not support RPC version 1.5. Attempted method: oslo_rpc_server_ping", is: rpcerr.ErrUnsupportedVersion},
		{name: "ping in a namespace",
			req:  dispatcher.Request{Method: "oslo_rpc_server_ping", Namespace: "calc"},
			want: "Endpoint does not support RPC method oslo_rpc_server_ping", is: rpcerr.ErrNoSuchMethod},
		{name: "ping at 2.0",
			req:  dispatcher.Request{Method: "oslo_rpc_server_ping", Version: "2.0"},
			want: "Endpoint does not support RPC method oslo_rpc_server_ping", is: rpcerr.ErrNoSuchMethod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := d.Dispatch(context.Background(), &tt.req)
			if tt.is == nil {
				if err != nil {
					t.Fatalf("Dispatch(%+v) error: %v", tt.req, err)
				}
				if want, _ := json.Marshal(tt.want); string(res) != string(want) {
					t.Errorf("Dispatch(%+v) = %s, want %s", tt.req, res, want)
				}
				return
			}
			if !errors.Is(err, tt.is) {
				t.Fatalf("Dispatch(%+v) = %s, %v; want an error matching %v", tt.req, res, err, tt.is)
			}
			if err.Error() != tt.want {
				t.Errorf("Dispatch(%+v) error = %q, want %q", tt.req, err, tt.want)
			}
		})
	}
}

func TestDispatchWithoutPing(t *testing.T) {
	ep := endpoints.New()
	ep.Handle("get", named("get"))
	d := newDispatcher(t, []*endpoints.Endpoint{ep}, dispatcher.NoPing())
	_, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: endpoints.PingMethod})
	if !errors.Is(err, rpcerr.ErrNoSuchMethod) {
		t.Errorf("ping without the ping endpoint = %v, want NoSuchMethod", err)
	}
}

func TestDispatchPingOnly(t *testing.T) {
	d := newDispatcher(t, nil)
	res, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: endpoints.PingMethod, Version: "1.0"})
	if err != nil || string(res) != `"pong"` {
		t.Errorf("ping = %s, %v; want \"pong\"", res, err)
	}
}

func TestDispatchOwnPingWins(t *testing.T) {
	ep := endpoints.New()
	ep.Handle(endpoints.PingMethod, named("mine"))
	d := newDispatcher(t, []*endpoints.Endpoint{ep})
	res, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: endpoints.PingMethod})
	if err != nil || string(res) != `"mine"` {
		t.Errorf("ping = %s, %v; want \"mine\"", res, err)
	}
}

func TestDispatchErrorsAreTyped(t *testing.T) {
	d := newDispatcher(t, nil)
	tests := []struct {
		name          string
		req           dispatcher.Request
		class, module string
		check         func(error) bool
	}{
		{"no such method", dispatcher.Request{Method: "m"}, "NoSuchMethod", "oslo_messaging.rpc.dispatcher", func(err error) bool {
			var e *dispatcher.NoSuchMethodError
			return errors.As(err, &e) && e.Method == "m" && !errors.Is(err, rpcerr.ErrUnsupportedVersion)
		}},
		{"unsupported version", dispatcher.Request{Method: "m", Version: "7.1"}, "UnsupportedVersion", "oslo_messaging.rpc.dispatcher", func(err error) bool {
			var e *dispatcher.UnsupportedVersionError
			return errors.As(err, &e) && e.Method == "m" && e.Version == "7.1" && !errors.Is(err, rpcerr.ErrNoSuchMethod)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Dispatch(context.Background(), &tt.req)
			wrapped := fmt.Errorf("rpcserver: %w", err)
			if !tt.check(wrapped) {
				t.Errorf("errors.Is/As on %v failed", wrapped)
			}
			var c rpcerr.Classed
			if !errors.As(wrapped, &c) {
				t.Fatalf("%v is not rpcerr.Classed", err)
			}
			if class, module := c.ExceptionClass(); class != tt.class || module != tt.module {
				t.Errorf("ExceptionClass() = %q, %q; want %q, %q", class, module, tt.class, tt.module)
			}
		})
	}
}

func TestUnsupportedVersionDefaultsTo10(t *testing.T) {
	ep := endpoints.New(endpoints.Version("2.0"))
	ep.Handle("get", named("get"))
	d := newDispatcher(t, []*endpoints.Endpoint{ep}, dispatcher.NoPing())
	_, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: "get"})
	var e *dispatcher.UnsupportedVersionError
	if !errors.As(err, &e) || e.Version != "1.0" {
		t.Errorf("Dispatch(get, no version) = %v, want UnsupportedVersion for 1.0", err)
	}
}

func TestNewErrors(t *testing.T) {
	bad := endpoints.New()
	bad.Handle("_x", named("x"))
	badVersion := endpoints.New(endpoints.Version("1.x"))
	tests := []struct {
		name string
		eps  []*endpoints.Endpoint
		opts []dispatcher.Option
		want string
		is   error
	}{
		{"nil endpoint", []*endpoints.Endpoint{endpoints.New(), nil}, nil, "dispatcher: endpoint 1 is nil", nil},
		{"registration error", []*endpoints.Endpoint{bad}, nil,
			`dispatcher: endpoint 0: endpoints: invalid registration: method "_x": names starting with "_" are private`, endpoints.ErrInvalid},
		{"bad version", []*endpoints.Endpoint{badVersion}, nil, "dispatcher: endpoint 0: endpoints: invalid registration", endpoints.ErrInvalid},
		{"no endpoints", nil, []dispatcher.Option{dispatcher.NoPing()}, "dispatcher: no endpoints", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := dispatcher.New(tt.eps, tt.opts...)
			if err == nil {
				t.Fatalf("New = %v, nil; want an error", d)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("New error = %q, want it to start with %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("New error = %v, does not match %v", err, tt.is)
			}
		})
	}
}

func TestNewDoesNotModifyEndpointSlice(t *testing.T) {
	a := endpoints.New()
	a.Handle("m", named("a"))
	eps := make([]*endpoints.Endpoint, 1, 2)
	eps[0] = a
	newDispatcher(t, eps)
	if got := eps[:2][1]; got != nil {
		t.Errorf("New wrote the ping endpoint into the caller's spare capacity")
	}
}

func TestNewCopiesEndpoints(t *testing.T) {
	ep := endpoints.New()
	ep.Handle("before", named("before"))
	d := newDispatcher(t, []*endpoints.Endpoint{ep})
	ep.Handle("after", named("after"))
	if _, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: "before"}); err != nil {
		t.Errorf("Dispatch(before) = %v", err)
	}
	if _, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: "after"}); !errors.Is(err, rpcerr.ErrNoSuchMethod) {
		t.Errorf("Dispatch(after) = %v, want NoSuchMethod: registering after New must not reach the dispatcher", err)
	}
}

func TestDispatchPassesRequestContextAndArgs(t *testing.T) {
	type key struct{}
	ep := endpoints.New()
	ep.Handle("see", endpoints.HandlerFunc(func(ctx context.Context, args json.RawMessage) (any, error) {
		return map[string]any{
			"args":    string(args),
			"user":    endpoints.RequestContext(ctx)["user"],
			"ctx_val": ctx.Value(key{}),
		}, nil
	}))
	d := newDispatcher(t, []*endpoints.Endpoint{ep})
	ctx := context.WithValue(context.Background(), key{}, "kept")
	tests := []struct {
		name string
		req  dispatcher.Request
		want string
	}{
		{"with context", dispatcher.Request{Method: "see", Args: json.RawMessage(`{"a":1}`), Context: map[string]any{"user": "u1"}},
			`{"args":"{\"a\":1}","ctx_val":"kept","user":"u1"}`},
		{"nil args become {}", dispatcher.Request{Method: "see"}, `{"args":"{}","ctx_val":"kept","user":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := d.Dispatch(ctx, &tt.req)
			if err != nil || string(res) != tt.want {
				t.Errorf("Dispatch = %s, %v; want %s", res, err, tt.want)
			}
		})
	}
}

func TestDispatchArgsMustBeAnObject(t *testing.T) {
	ran := false
	ep := endpoints.New()
	ep.Handle("raw", endpoints.HandlerFunc(func(context.Context, json.RawMessage) (any, error) { ran = true; return nil, nil }))
	d := newDispatcher(t, []*endpoints.Endpoint{ep})
	tests := []struct{ args, want string }{
		{`[1]`, "raw() argument after ** must be a mapping, not list"},
		{` "s"`, "raw() argument after ** must be a mapping, not str"},
		{`null`, "raw() argument after ** must be a mapping, not NoneType"},
		{`true`, "raw() argument after ** must be a mapping, not bool"},
		{`-12`, "raw() argument after ** must be a mapping, not int"},
		{`1.5e3`, "raw() argument after ** must be a mapping, not float"},
	}
	for _, tt := range tests {
		_, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: "raw", Args: json.RawMessage(tt.args)})
		var ae *endpoints.ArgumentError
		if !errors.As(err, &ae) || err.Error() != tt.want {
			t.Errorf("Dispatch(raw, %s) = %v, want ArgumentError %q", tt.args, err, tt.want)
		}
	}
	if ran {
		t.Error("the handler ran with arguments that are not an object")
	}
}

func TestDispatchHandlerErrorAndResults(t *testing.T) {
	boom := rpcerr.NewError("Boom", "it broke")
	ep := endpoints.New()
	ep.Handle("fail", endpoints.HandlerFunc(func(context.Context, json.RawMessage) (any, error) { return "ignored", boom }))
	ep.Handle("nothing", endpoints.HandlerFunc(func(context.Context, json.RawMessage) (any, error) { return nil, nil }))
	ep.Handle("chan", endpoints.HandlerFunc(func(context.Context, json.RawMessage) (any, error) { return make(chan int), nil }))
	ep.Handle("raw", endpoints.HandlerFunc(func(context.Context, json.RawMessage) (any, error) {
		return json.RawMessage(` {"a": [1, 2]} `), nil
	}))
	d := newDispatcher(t, []*endpoints.Endpoint{ep})
	ctx := context.Background()

	if res, err := d.Dispatch(ctx, &dispatcher.Request{Method: "fail"}); err != boom || res != nil {
		t.Errorf("Dispatch(fail) = %s, %v; want nil and the handler's error as is", res, err)
	}
	if res, err := d.Dispatch(ctx, &dispatcher.Request{Method: "nothing"}); err != nil || string(res) != "null" {
		t.Errorf("Dispatch(nothing) = %s, %v; want null", res, err)
	}
	if res, err := d.Dispatch(ctx, &dispatcher.Request{Method: "raw"}); err != nil || string(res) != `{"a":[1,2]}` {
		t.Errorf("Dispatch(raw) = %s, %v; want the raw result compacted", res, err)
	}
	res, err := d.Dispatch(ctx, &dispatcher.Request{Method: "chan"})
	var ute *json.UnsupportedTypeError
	if !errors.As(err, &ute) || !strings.HasPrefix(err.Error(), `dispatcher: method "chan": encoding the result: `) {
		t.Errorf("Dispatch(chan) = %s, %v; want a wrapped *json.UnsupportedTypeError", res, err)
	}
}

func TestInterceptors(t *testing.T) {
	var trace []string
	record := func(name string) dispatcher.Interceptor {
		return func(ctx context.Context, req *dispatcher.Request, next dispatcher.Handler) (any, error) {
			trace = append(trace, name+" in "+req.Method)
			res, err := next(ctx, req)
			trace = append(trace, name+" out")
			return res, err
		}
	}
	ep := endpoints.New()
	endpoints.Register(ep, "add", func(_ context.Context, p struct{ X, Y int }) (int, error) {
		trace = append(trace, "handler")
		return p.X + p.Y, nil
	})
	d := newDispatcher(t, []*endpoints.Endpoint{ep},
		dispatcher.Interceptors(record("first"), record("second")),
		dispatcher.Interceptors(record("third")))

	res, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: "add", Args: json.RawMessage(`{"x":1,"y":2}`)})
	if err != nil || string(res) != "3" {
		t.Fatalf("Dispatch(add) = %s, %v; want 3", res, err)
	}
	want := []string{"first in add", "second in add", "third in add", "handler", "third out", "second out", "first out"}
	if !slices.Equal(trace, want) {
		t.Errorf("trace = %q, want %q", trace, want)
	}

	trace = nil
	if _, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: "nope"}); !errors.Is(err, rpcerr.ErrNoSuchMethod) {
		t.Fatalf("Dispatch(nope) = %v", err)
	}
	if len(trace) != 0 {
		t.Errorf("interceptors ran for an unroutable request: %q", trace)
	}
}

func TestInterceptorCanRefuseReplaceAndRewrite(t *testing.T) {
	denied := rpcerr.NewError("Forbidden", "not allowed")
	ep := endpoints.New()
	endpoints.Register(ep, "echo", func(_ context.Context, m map[string]int) (map[string]int, error) { return m, nil })
	endpoints.Register(ep, "secret", func(context.Context, struct{}) (string, error) { return "s3cr3t", nil })
	guard := func(ctx context.Context, req *dispatcher.Request, next dispatcher.Handler) (any, error) {
		switch req.Method {
		case "secret":
			return nil, denied
		case "echo":
			rewritten := *req
			rewritten.Args = json.RawMessage(`{"rewritten":1}`)
			res, err := next(ctx, &rewritten)
			return map[string]any{"wrapped": res}, err
		}
		return next(ctx, req)
	}
	d := newDispatcher(t, []*endpoints.Endpoint{ep}, dispatcher.Interceptors(guard))
	if _, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: "secret"}); err != denied {
		t.Errorf("Dispatch(secret) = %v, want the interceptor's error", err)
	}
	res, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: "echo", Args: json.RawMessage(`{"a":1}`)})
	if err != nil || string(res) != `{"wrapped":{"rewritten":1}}` {
		t.Errorf("Dispatch(echo) = %s, %v; want the rewritten, wrapped result", res, err)
	}
}

func TestTypedArgumentErrorThroughDispatch(t *testing.T) {
	ep := endpoints.New()
	endpoints.Register(ep, "divide", func(_ context.Context, a struct {
		X int `json:"x"`
		Y int `json:"y"`
	}) (int, error) {
		return a.X / a.Y, nil
	})
	d := newDispatcher(t, []*endpoints.Endpoint{ep})
	_, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: "divide", Args: json.RawMessage(`{"x":1,"q":2}`)})
	var ae *endpoints.ArgumentError
	if !errors.As(err, &ae) || err.Error() != "divide() got an unexpected keyword argument 'q'" {
		t.Errorf("Dispatch(divide, q=2) = %v, want the TypeError of an unexpected keyword", err)
	}
}

func TestDispatchConcurrent(t *testing.T) {
	ep := endpoints.FromObject(&counter{})
	d := newDispatcher(t, []*endpoints.Endpoint{ep})
	done := make(chan error)
	for range 8 {
		go func() {
			var err error
			for range 100 {
				if _, e := d.Dispatch(context.Background(), &dispatcher.Request{Method: "echo", Args: json.RawMessage(`{"n":1}`)}); e != nil {
					err = e
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

type counter struct{}

type nArgs struct {
	N int `json:"n"`
}

func (counter) Echo(_ context.Context, a nArgs) (int, error) { return a.N, nil }

func TestEmptyNamespaceIsNotTheDefault(t *testing.T) {
	def := endpoints.New()
	def.Handle("who", named("default"))
	d := newDispatcher(t, []*endpoints.Endpoint{def})
	res, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: "who"})
	if err != nil || string(res) != `"default"` {
		t.Fatalf("Dispatch(who, no namespace) = %s, %v; want the default endpoint", res, err)
	}
	for _, method := range []string{"who", endpoints.PingMethod} {
		res, err = d.Dispatch(context.Background(), &dispatcher.Request{Method: method, EmptyNamespace: true})
		if !errors.Is(err, rpcerr.ErrUnsupportedVersion) {
			t.Errorf("Dispatch(%s, namespace \"\") = %s, %v; want UnsupportedVersion, as oslo answers", method, res, err)
		}
	}
}

func TestEmptyArgsAreFreshForEachCall(t *testing.T) {
	ep := endpoints.New()
	ep.Handle("scribble", endpoints.HandlerFunc(func(_ context.Context, args json.RawMessage) (any, error) {
		seen := string(args)
		for i := range args {
			args[i] = 'x'
		}
		return seen, nil
	}))
	d := newDispatcher(t, []*endpoints.Endpoint{ep})
	for i := range 2 {
		res, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: "scribble"})
		if err != nil || string(res) != `"{}"` {
			t.Fatalf("Dispatch(scribble) #%d = %s, %v; want the handler to see {}", i, res, err)
		}
	}
}

func TestBigIntegersReachHandlers(t *testing.T) {
	ep := endpoints.New()
	endpoints.Register(ep, "echo", func(_ context.Context, m map[string]any) (map[string]any, error) { return m, nil })
	d := newDispatcher(t, []*endpoints.Endpoint{ep})
	args := `{"n":9007199254740993,"f":3.0,"list":[18446744073709551615]}`
	res, err := d.Dispatch(context.Background(), &dispatcher.Request{Method: "echo", Args: json.RawMessage(args)})
	if err != nil || string(res) != `{"f":3.0,"list":[18446744073709551615],"n":9007199254740993}` {
		t.Errorf("Dispatch(echo, %s) = %s, %v; want every digit back", args, res, err)
	}
}

func TestNilInterceptorRefused(t *testing.T) {
	_, err := dispatcher.New([]*endpoints.Endpoint{endpoints.New()}, dispatcher.Interceptors(nil))
	if err == nil || !strings.HasPrefix(err.Error(), "dispatcher: interceptor 0 is nil") {
		t.Errorf("New(Interceptors(nil)) = %v, want an error naming the nil interceptor", err)
	}
}
