package integration_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
)

// dispatcherModule is where oslo.messaging's dispatch errors come from.
const dispatcherModule = "oslo_messaging.rpc.dispatcher"

// TestGoClientPythonServer calls an oslo.messaging server (testdata/
// oslo_server.py: namespace calc, version 1.3) from warren's client.
func TestGoClientPythonServer(t *testing.T) {
	b := newBus(t, "pysrv")
	b.forgetServer("py1")
	py := startPeer(t, "oslo_server.py", osloURL(t), b.Exchange, b.Topic, "py1")
	py.waitReady(t)
	client := newClient(t, b, rpcclient.Namespace("calc"), rpcclient.Version("1.2"))
	ctx := withTimeout(t, 60*time.Second)

	t.Run("results", func(t *testing.T) {
		tests := []struct {
			name   string
			client *rpcclient.Client
			method string
			args   any
			want   string // the result as JSON
		}{
			{"call", client, "add", map[string]int{"a": 2, "b": 3}, `5`},
			{"newest compatible version", client.Prepare(rpcclient.Version("1.3")), "add", map[string]int{"a": 1, "b": 1}, `2`},
			{"request context", client.Prepare(rpcclient.RequestContext(map[string]any{"user": "go-user"})), "ctx_user", nil, `"go-user"`},
			{"server by name", client.Prepare(rpcclient.Server("py1")), "whoami", nil, `"py1"`},
			{"request context round trip", client.Prepare(rpcclient.RequestContext(map[string]any{"user": "go-user", "roles": []string{"admin"}})),
				"ctx_echo", nil, `{"user": "go-user", "roles": ["admin"]}`},
			// rpc_ping_enabled: the ping endpoint is in no namespace.
			{"ping", newClient(t, b), endpoints.PingMethod, nil, `"pong"`},
			{"ping by name", newClient(t, b, rpcclient.Server("py1")), endpoints.PingMethod, nil, `"pong"`},
			// Without the Python server's heartbeats every second the
			// call would fail after 2 s.
			{"call monitor on a slow method", client.Prepare(rpcclient.CallMonitor(2 * time.Second)), "slow", map[string]float64{"seconds": 3.5}, `"slept"`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var got json.RawMessage
				if err := tt.client.Call(ctx, tt.method, tt.args, &got); err != nil || !jsonEqual(t, got, tt.want) {
					t.Errorf("Call(%s) = %s, %v; want %s, nil", tt.method, got, err, tt.want)
				}
			})
		}
	})

	t.Run("errors", func(t *testing.T) {
		tests := []remoteErrorCase{
			{name: "ValueError", client: client, method: "boom",
				class: "ValueError", module: "builtins", message: "bad thing"},
			{name: "unknown method", client: client, method: "no_such_method",
				class: "NoSuchMethod", module: dispatcherModule,
				message: "Endpoint does not support RPC method no_such_method", is: rpcerr.ErrNoSuchMethod},
			{name: "newer major version", client: client.Prepare(rpcclient.Version("2.0")), method: "add", args: addArgs{A: 1, B: 1},
				class: "UnsupportedVersion", module: dispatcherModule,
				message: "Endpoint does not support RPC version 2.0. Attempted method: add", is: rpcerr.ErrUnsupportedVersion},
			{name: "newer minor version", client: client.Prepare(rpcclient.Version("1.4")), method: "add", args: addArgs{A: 1, B: 1},
				class: "UnsupportedVersion", module: dispatcherModule,
				message: "Endpoint does not support RPC version 1.4. Attempted method: add", is: rpcerr.ErrUnsupportedVersion},
			{name: "other namespace", client: client.Prepare(rpcclient.Namespace("")), method: "add", args: addArgs{A: 1, B: 1},
				class: "UnsupportedVersion", module: dispatcherModule,
				message: "Endpoint does not support RPC version 1.2. Attempted method: add", is: rpcerr.ErrUnsupportedVersion},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { tt.check(ctx, t, true) })
		}
	})

	t.Run("big ints both ways", func(t *testing.T) {
		got, err := rpcclient.Call[any](ctx, client, "add", map[string]any{"a": uint64(1) << 63, "b": json.Number("18446744073709551616")})
		if want := json.Number("27670116110564327424"); err != nil || got != want {
			t.Errorf("add(2^63, 2^64) = %#v, %v; want %s, every digit", got, err, want)
		}
	})

	t.Run("cast", func(t *testing.T) {
		if err := client.Cast(ctx, "record", map[string]string{"value": "go-cast"}); err != nil {
			t.Fatalf("Cast: %v", err)
		}
		py.waitRecord(t, "go-cast")
	})

	t.Run("fanout cast", func(t *testing.T) {
		if err := client.Prepare(rpcclient.Fanout()).Cast(ctx, "record", map[string]string{"value": "go-fanout"}); err != nil {
			t.Fatalf("fanout Cast: %v", err)
		}
		py.waitRecord(t, "go-fanout")
	})
}

// pyCase is one line of testdata/oslo_client.py's report.
type pyCase struct {
	Case         string          `json:"case"`
	OK           bool            `json:"ok"`
	Result       json.RawMessage `json:"result"`
	Type         string          `json:"type"`
	ExcClass     string          `json:"exc_class"`
	IsValueError bool            `json:"is_value_error"`
	ExcType      string          `json:"exc_type"`
	Message      string          `json:"message"`
}

// cases returns the report of testdata/oslo_client.py by case, and has
// the bus delete the reply queue it used.
func (py *peer) cases(t *testing.T, b *bus) map[string]pyCase {
	t.Helper()
	cases := make(map[string]pyCase)
	py.mu.Lock()
	for _, l := range py.lines {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var c pyCase
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Errorf("oslo_client.py printed %q: %v", l, err)
			continue
		}
		cases[c.Case] = c
	}
	py.mu.Unlock()
	if q, ok := cases["reply_q"]; ok {
		var name string
		if err := json.Unmarshal(q.Result, &name); err == nil && name != "" {
			t.Logf("oslo_client.py used reply queue %s; deleting it at the end", name)
			b.forgetQueue(name)
		}
	}
	return cases
}

// TestPythonClientGoServer has an oslo.messaging client
// (testdata/oslo_client.py) call a warren server, and checks what the
// Python side observed.
func TestPythonClientGoServer(t *testing.T) {
	b := newBus(t, "pycli")
	events := make(chan event, 4)
	startServer(t, b, "go1", []*endpoints.Endpoint{calcEndpoint("go1", nil, events, endpoints.Namespace("calc"))})
	py := startPeer(t, "oslo_client.py", osloURL(t), b.Exchange, b.Topic, "go1")
	py.waitReady(t)
	py.waitLine(t, "DONE", peerLifetime, func(l string) bool { return l == "DONE" })

	cases := py.cases(t, b)

	results := []struct {
		name, typ, want string // Python type name, result as JSON
	}{
		{"add_int", "int", `5`},
		{"mul_float", "float", `4.5`},
		{"echo_str", "str", `"h\u00e9llo \u2603"`},
		{"info_dict", "dict", `{"n": 3, "server": "go1", "tags": ["a", "b"]}`},
		{"ctx_user", "str", `"py-user"`},
		{"monitored_slow", "str", `"slept"`},
		{"direct", "str", `"go1"`},
		{"ping", "str", `"pong"`},
		{"cast", "NoneType", `null`},
	}
	for _, tt := range results {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := cases[tt.name]
			switch {
			case !ok:
				t.Fatalf("oslo_client.py did not report case %s", tt.name)
			case !c.OK:
				t.Fatalf("Python raised %s (exc_type %q): %s", c.ExcClass, c.ExcType, c.Message)
			}
			if c.Type != tt.typ || !jsonEqual(t, c.Result, tt.want) {
				t.Errorf("Python got %s %s, want %s %s", c.Type, c.Result, tt.typ, tt.want)
			}
		})
	}

	failures := []struct {
		name, excClass, excType, message string
		valueError                       bool
	}{
		{name: "fail_value_error", excClass: "ValueError", message: "bad value 42", valueError: true},
		{name: "fail_other_module", excClass: "RemoteError", excType: "InvalidOperation",
			message: "Remote error: InvalidOperation invalid operation"},
		{name: "no_such_method", excClass: "RemoteError", excType: "NoSuchMethod"},
		{name: "version_2_0", excClass: "RemoteError", excType: "UnsupportedVersion"},
		{name: "ping_empty_namespace", excClass: "RemoteError", excType: "UnsupportedVersion"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := cases[tt.name]
			switch {
			case !ok:
				t.Fatalf("oslo_client.py did not report case %s", tt.name)
			case c.OK:
				t.Fatalf("Python got result %s, want an exception", c.Result)
			}
			// A rebuilt builtin exception has class ValueError, or the
			// dynamic subclass ValueError_Remote.
			if strings.TrimSuffix(c.ExcClass, "_Remote") != tt.excClass || c.ExcType != tt.excType || c.IsValueError != tt.valueError {
				t.Errorf("Python raised %s (exc_type %q, ValueError %t), want %s (exc_type %q, ValueError %t)",
					c.ExcClass, c.ExcType, c.IsValueError, tt.excClass, tt.excType, tt.valueError)
			}
			if tt.message != "" && c.Message != tt.message {
				t.Errorf("Python's exception message starts %q, want %q", c.Message, tt.message)
			}
		})
	}

	t.Run("big_int", func(t *testing.T) {
		c, ok := cases["big_int"]
		if !ok || !c.OK {
			t.Fatalf("big_int: %+v", c)
		}
		// Every digit, and 3.0 still a float: compared as text, since
		// decoding would round.
		if want := `{"f": 3.0, "n": 18446744073709551617}`; c.Type != "dict" || string(c.Result) != want {
			t.Errorf("Python got %s %s, want dict %s", c.Type, c.Result, want)
		}
	})

	t.Run("cast reached the Go server", func(t *testing.T) {
		e := waitEvents(t, events, 1)[0]
		if e.Value != "from-python" {
			t.Errorf("the Go server recorded %+v, want value from-python", e)
		}
	})
}

// jsonEqual reports whether JSON got and want hold the same value.
func jsonEqual(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expected JSON %q: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return bytes.Equal(gb, wb)
}

// TestMixedReplicas serves one topic with two Go and two Python servers at
// once: they declare the same queues and exchanges (either may come first),
// share the calls of a Go and of a Python client round-robin, and each gets
// every fanout cast from either.
func TestMixedReplicas(t *testing.T) {
	b := newBus(t, "mixed")
	events := make(chan event, 8)
	calc := func(name string) []*endpoints.Endpoint {
		return []*endpoints.Endpoint{calcEndpoint(name, nil, events, endpoints.Namespace("calc"))}
	}
	// go1 declares first, py1 declares over it, go2 declares over both.
	startServer(t, b, "go1", calc("go1"))
	pys := map[string]*peer{}
	for _, name := range []string{"py1", "py2"} {
		b.forgetServer(name)
		pys[name] = startPeer(t, "oslo_server.py", osloURL(t), b.Exchange, b.Topic, name)
	}
	startServer(t, b, "go2", calc("go2"))
	caller := startCaller(t, b)
	for _, py := range pys {
		py.waitReady(t)
	}
	client := newClient(t, b, rpcclient.Namespace("calc"), rpcclient.Version("1.3"))
	ctx := withTimeout(t, 60*time.Second)

	// The Python servers declare their queues before READY but consume
	// them once their poll loop runs: an answer by name shows each
	// consumes the shared queue too.
	for name := range pys {
		var who string
		if err := client.Prepare(rpcclient.Server(name)).Call(ctx, "whoami", nil, &who); err != nil || who != name {
			t.Fatalf("whoami on %s = %q, %v; want %s, nil", name, who, err, name)
		}
	}
	servers := []string{"go1", "go2", "py1", "py2"}
	const calls = 24
	checkShared := func(t *testing.T, who func() (string, error)) {
		handled := make(map[string]int)
		for i := range calls {
			w, err := who()
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
			handled[w]++
		}
		for _, s := range servers {
			if handled[s] == 0 {
				t.Errorf("server %s answered none of %d calls (%v); want the broker to share them", s, calls, handled)
			}
			delete(handled, s)
		}
		if len(handled) != 0 {
			t.Errorf("unexpected servers answered: %v", handled)
		}
	}
	checkFanout := func(t *testing.T, value string, cast func() error) {
		if err := cast(); err != nil {
			t.Fatalf("fanout cast: %v", err)
		}
		for _, py := range pys {
			py.waitRecord(t, value)
		}
		got := make(map[string]bool)
		for _, e := range waitEvents(t, events, 2) {
			got[e.Server] = e.Value == value
		}
		if !got["go1"] || !got["go2"] {
			t.Errorf("fanout cast reached the Go servers as %v, want go1 and go2", got)
		}
	}

	t.Run("go client shares calls", func(t *testing.T) {
		checkShared(t, func() (string, error) {
			var who string
			err := client.Call(ctx, "whoami", nil, &who)
			return who, err
		})
	})
	t.Run("python client shares calls", func(t *testing.T) {
		checkShared(t, func() (string, error) {
			r := caller.do(t, map[string]any{"op": "call", "method": "whoami", "namespace": "calc", "version": "1.3"})
			var who string
			if !r.OK || json.Unmarshal(r.Result, &who) != nil {
				return "", fmt.Errorf("whoami from Python: %+v", r)
			}
			return who, nil
		})
	})
	t.Run("go client fanout reaches all four", func(t *testing.T) {
		checkFanout(t, "go-fanout", func() error {
			return client.Prepare(rpcclient.Fanout()).Cast(ctx, "record", map[string]string{"value": "go-fanout"})
		})
	})
	t.Run("python client fanout reaches all four", func(t *testing.T) {
		checkFanout(t, "py-fanout", func() error {
			r := caller.do(t, map[string]any{"op": "cast", "fanout": true, "method": "record", "namespace": "calc", "version": "1.3",
				"args": map[string]string{"value": "py-fanout"}})
			if !r.OK {
				return fmt.Errorf("Python raised %s: %s", r.ExcClass, r.Message)
			}
			return nil
		})
	})
	// A declaration with other flags than the Python servers' would have
	// closed their channels with 406 PRECONDITION_FAILED, which
	// oslo.messaging logs and retries.
	for name, py := range pys {
		if log := py.stderr.String(); strings.Contains(log, "PRECONDITION_FAILED") {
			t.Errorf("oslo_server.py %s hit PRECONDITION_FAILED:\n%s", name, log)
		}
	}
}
