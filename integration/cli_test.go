package integration_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warrenrpc/warren/endpoints"
)

// caller is a running testdata/oslo_caller.py: an oslo.messaging client
// the test drives one request at a time.
type caller struct {
	p      *peer
	mu     sync.Mutex
	nextID int
}

// callerReply is one answer of oslo_caller.py.
type callerReply struct {
	ID           string          `json:"id"`
	OK           bool            `json:"ok"`
	Result       json.RawMessage `json:"result"`
	Type         string          `json:"type"`
	ExcClass     string          `json:"exc_class"`
	IsValueError bool            `json:"is_value_error"`
	ExcType      string          `json:"exc_type"`
	Message      string          `json:"message"`
}

// startCaller starts an oslo.messaging client of the bus's topic and
// returns once it is ready. When the test ends, it stops and its reply
// queue is deleted.
func startCaller(t *testing.T, b *bus) *caller {
	t.Helper()
	return startCallerEnv(t, b, nil)
}

// startCallerEnv is startCaller with env added to the caller's
// environment.
func startCallerEnv(t *testing.T, b *bus, env []string) *caller {
	t.Helper()
	c := &caller{p: startPeerEnv(t, env, "oslo_caller.py", osloURL(t), b.Exchange, b.Topic)}
	// Runs before the peer's own cleanup: stop it and learn its reply
	// queue, which oslo.messaging leaves behind.
	t.Cleanup(func() {
		_ = c.p.stdin.Close()
		select {
		case <-c.p.done:
		case <-time.After(30 * time.Second):
			return // the peer's cleanup reports it
		}
		c.p.mu.Lock()
		defer c.p.mu.Unlock()
		for _, l := range c.p.lines {
			var r callerReply
			var q string
			if json.Unmarshal([]byte(l), &r) == nil && r.ID == "reply_q" && json.Unmarshal(r.Result, &q) == nil && q != "" {
				b.forgetQueue(q)
			}
		}
	})
	c.p.waitReady(t)
	return c
}

// do sends req (see oslo_caller.py) and returns the answer.
func (c *caller) do(t *testing.T, req map[string]any) callerReply {
	t.Helper()
	c.mu.Lock()
	c.nextID++
	id := fmt.Sprintf("r%d", c.nextID)
	c.mu.Unlock()
	req["id"] = id
	line, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.p.stdin.Write(append(line, '\n')); err != nil {
		t.Fatalf("writing to oslo_caller.py: %v", err)
	}
	var r callerReply
	c.p.waitLine(t, "the answer to "+string(line), peerLifetime, func(l string) bool {
		return json.Unmarshal([]byte(l), &r) == nil && r.ID == id
	})
	return r
}

// warrenBinary is the warren command, built once for the tests that run
// it; TestMain removes its directory.
var warrenBinary struct {
	once      sync.Once
	dir, path string
	err       error
}

// warren returns the path of the warren command, building it first.
func warren(t *testing.T) string {
	t.Helper()
	warrenBinary.once.Do(func() {
		warrenBinary.dir, warrenBinary.err = os.MkdirTemp("", "warren-integration-")
		if warrenBinary.err != nil {
			return
		}
		warrenBinary.path = filepath.Join(warrenBinary.dir, "warren")
		out, err := exec.Command("go", "build", "-o", warrenBinary.path, "../cmd/warren").CombinedOutput()
		if err != nil {
			warrenBinary.err = fmt.Errorf("go build ../cmd/warren: %v: %s", err, out)
		}
	})
	if warrenBinary.err != nil {
		t.Fatal(warrenBinary.err)
	}
	return warrenBinary.path
}

// cliRun is a finished run of the warren command.
type cliRun struct {
	code           int
	stdout, stderr string
}

// runCLI runs the warren command with args and the bus's broker and
// exchange, and returns its exit code and output.
func runCLI(t *testing.T, b *bus, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), peerLifetime)
	defer cancel()
	cmd := exec.CommandContext(ctx, warren(t), append(args, "--url", brokerURL(), "--exchange", b.Exchange)...)
	cmd.Env = append(os.Environ(), "WARREN_TRANSPORT_URL=", "WARREN_CONTROL_EXCHANGE=")
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("warren %q: %v", args, err)
	}
	return cliRun{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// TestCLIToPythonServer runs warren call, cast and ping against an
// oslo.messaging server.
func TestCLIToPythonServer(t *testing.T) {
	b := newBus(t, "clipy")
	b.forgetServer("py1")
	py := startPeer(t, "oslo_server.py", osloURL(t), b.Exchange, b.Topic, "py1")
	py.waitReady(t)
	calc := []string{"--topic", b.Topic, "--namespace", "calc", "--version", "1.2"}

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // the JSON result, when wantCode is 0
		wantStderr string // a prefix
	}{
		{"call", append([]string{"call", "add", `{"a": 2, "b": 3}`}, calc...), 0, `5`, ""},
		{"server-direct call", append([]string{"call", "whoami", "--server", "py1"}, calc...), 0, `"py1"`, ""},
		{"request context", append([]string{"call", "ctx_echo", "--ctx", "user=cli-user", "--ctx", `roles:=["admin"]`}, calc...),
			0, `{"user": "cli-user", "roles": ["admin"]}`, ""},
		{"ValueError", append([]string{"call", "boom"}, calc...), 1, "", "remote error: builtins.ValueError: bad thing\n  Traceback (most recent call last):\n"},
		{"NoSuchMethod", append([]string{"call", "nope"}, calc...), 1, "",
			"remote error: oslo_messaging.rpc.dispatcher.NoSuchMethod: Endpoint does not support RPC method nope\n"},
		{"UnsupportedVersion", []string{"call", "add", "--topic", b.Topic, "--namespace", "calc", "--version", "2.0"}, 1, "",
			"remote error: oslo_messaging.rpc.dispatcher.UnsupportedVersion: Endpoint does not support RPC version 2.0. Attempted method: add\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, b, tt.args...)
			if r.code != tt.wantCode || !strings.HasPrefix(r.stderr, tt.wantStderr) ||
				(tt.wantCode == 0 && !jsonEqual(t, json.RawMessage(r.stdout), tt.wantStdout)) {
				t.Errorf("warren %q = %d\nstdout: %s\nstderr: %s\nwant %d, %s, stderr %q...", tt.args, r.code, r.stdout, r.stderr,
					tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}

	t.Run("ping", func(t *testing.T) {
		for _, args := range [][]string{{"ping", "--topic", b.Topic}, {"ping", "--topic", b.Topic, "--server", "py1"}} {
			if r := runCLI(t, b, args...); r.code != 0 || !strings.HasPrefix(r.stdout, "pong from topic") {
				t.Errorf("warren %q = %d, stdout %q, stderr %q; want 0, pong", args, r.code, r.stdout, r.stderr)
			}
		}
	})
	t.Run("cast and fanout cast", func(t *testing.T) {
		for _, args := range [][]string{
			append([]string{"cast", "record", `{"value": "cli-cast"}`}, calc...),
			append([]string{"cast", "--fanout", "record", `{"value": "cli-fanout"}`}, calc...),
		} {
			if r := runCLI(t, b, args...); r.code != 0 {
				t.Fatalf("warren %q = %d, stderr %q", args, r.code, r.stderr)
			}
		}
		py.waitRecord(t, "cli-cast")
		py.waitRecord(t, "cli-fanout")
	})
}

// TestPythonToCLIServer has an oslo.messaging client call warren serve.
func TestPythonToCLIServer(t *testing.T) {
	b := newBus(t, "pycli-serve")
	b.forgetServer("go1")
	ctx, cancel := context.WithTimeout(context.Background(), peerLifetime)
	defer cancel()
	srv := exec.CommandContext(ctx, warren(t), "serve", "--topic", b.Topic, "--server", "go1", "--verbose",
		"--url", brokerURL(), "--exchange", b.Exchange)
	srv.Env = append(os.Environ(), "WARREN_TRANSPORT_URL=", "WARREN_CONTROL_EXCHANGE=")
	srvOut := &peer{script: "warren serve", changed: make(chan struct{}, 1), done: make(chan struct{})}
	srvOut.stderr.changed = srvOut.changed // its --verbose log is waited for
	srv.Stderr = &srvOut.stderr
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	go srvOut.collect(stdout, srv.Wait)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = srv.Process.Kill()
		}
		<-srvOut.done
	})
	srvOut.waitLine(t, "the serving line", peerLifetime, func(l string) bool { return strings.HasPrefix(l, "serving topic") })
	py := startCaller(t, b)

	results := []struct {
		name string
		req  map[string]any
		want string // the result as JSON
	}{
		{"call", map[string]any{"op": "call", "method": "add", "args": map[string]int{"a": 2, "b": 3}}, `5`},
		{"call echo", map[string]any{"op": "call", "method": "echo", "args": map[string]any{"data": map[string]any{"k": []int{1, 2}}}}, `{"k": [1, 2]}`},
		{"server-direct call", map[string]any{"op": "call", "server": "go1", "method": "divide", "args": map[string]int{"num1": 9}}, `9`},
		{"version 1.0 asked", map[string]any{"op": "call", "version": "1.0", "method": "add", "args": map[string]int{"a": 1, "b": 1}}, `2`},
		{"ping", map[string]any{"op": "call", "method": endpoints.PingMethod}, `"pong"`},
		{"ping by name", map[string]any{"op": "call", "server": "go1", "method": endpoints.PingMethod}, `"pong"`},
		// Without warren serve's heartbeats every second the call
		// would fail after 2 s.
		{"call monitor on a slow method", map[string]any{"op": "call", "method": "sleep", "args": map[string]float64{"seconds": 3.5},
			"timeout": 20, "call_monitor_timeout": 2}, `3.5`},
		{"cast", map[string]any{"op": "cast", "method": "echo", "args": map[string]string{"data": "py-cast"}, "ctxt": map[string]string{"user": "py-user"}}, `null`},
		{"fanout cast", map[string]any{"op": "cast", "fanout": true, "method": "echo", "args": map[string]string{"data": "py-fanout"}}, `null`},
	}
	for _, tt := range results {
		t.Run(tt.name, func(t *testing.T) {
			r := py.do(t, tt.req)
			if !r.OK || !jsonEqual(t, r.Result, tt.want) {
				t.Errorf("Python got %+v, want %s", r, tt.want)
			}
		})
	}
	t.Run("casts and request context reached warren serve", func(t *testing.T) {
		for _, want := range []string{`args="{\"data\": \"py-cast\"}" context=map[user:py-user]`, `args="{\"data\": \"py-fanout\"}"`} {
			srvOut.waitStderr(t, want)
		}
	})

	failures := []struct {
		name                      string
		req                       map[string]any
		excClass, excType, prefix string // excType "*" is not checked
	}{
		{"remote error", map[string]any{"op": "call", "method": "divide", "args": map[string]int{"num1": 1, "num2": 0}},
			"RemoteError", "InvalidOperation", "Remote error: InvalidOperation invalid operation"},
		{"builtin exception", map[string]any{"op": "call", "method": "fail", "args": map[string]string{"message": "disk full"}},
			"RuntimeError", "*", "disk full"},
		{"NoSuchMethod", map[string]any{"op": "call", "method": "nope"}, "RemoteError", "NoSuchMethod", "Remote error: NoSuchMethod"},
		{"UnsupportedVersion", map[string]any{"op": "call", "version": "2.0", "method": "add"}, "RemoteError", "UnsupportedVersion", "Remote error: UnsupportedVersion"},
		{"other namespace", map[string]any{"op": "call", "namespace": "calc", "method": "add"}, "RemoteError", "UnsupportedVersion", "Remote error: UnsupportedVersion"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			r := py.do(t, tt.req)
			if r.OK || strings.TrimSuffix(r.ExcClass, "_Remote") != tt.excClass || (tt.excType != "*" && r.ExcType != tt.excType) || !strings.HasPrefix(r.Message, tt.prefix) {
				t.Errorf("Python got %+v, want %s (exc_type %q) %q...", r, tt.excClass, tt.excType, tt.prefix)
			}
		})
	}

	t.Run("SIGTERM", func(t *testing.T) {
		stopped = true
		if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-srvOut.done:
		case <-time.After(waitLimit):
			t.Fatalf("warren serve did not stop within %v of SIGTERM", waitLimit)
		}
		srvOut.mu.Lock()
		lines := srvOut.lines
		srvOut.mu.Unlock()
		if srvOut.waitErr != nil || len(lines) == 0 || lines[len(lines)-1] != "stopped" {
			t.Errorf("warren serve after SIGTERM: %v, stdout %q", srvOut.waitErr, lines)
		}
	})
}

// waitStderr waits until the process's stderr holds want; p.stderr must
// signal p.changed.
func (p *peer) waitStderr(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(waitLimit)
	for !strings.Contains(p.stderr.String(), want) {
		select {
		case <-p.changed:
		case <-p.done:
			if !strings.Contains(p.stderr.String(), want) {
				t.Fatalf("%s exited without logging %q\nstderr:\n%s", p.script, want, p.stderr.String())
			}
		case <-timeout:
			t.Fatalf("%s did not log %q within %v\nstderr:\n%s", p.script, want, waitLimit, p.stderr.String())
		}
	}
}
