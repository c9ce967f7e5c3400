package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
)

// testTopic is the topic the tests' server listens on.
const testTopic = "calculator"

// serveBuiltins serves the built-in endpoint, whoami and context as
// server name of testTopic on tr until the test ends; opts go to the
// dispatcher.
func serveBuiltins(t *testing.T, tr transport.Transport, name string, opts ...dispatcher.Option) {
	t.Helper()
	extra := endpoints.New()
	endpoints.Register(extra, "whoami", func(context.Context, struct{}) (string, error) { return name, nil })
	endpoints.Register(extra, "context", func(ctx context.Context, _ struct{}) (map[string]any, error) {
		return endpoints.RequestContext(ctx), nil
	})
	d, err := dispatcher.New([]*endpoints.Endpoint{builtinEndpoint(), extra}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	r, err := startReplica(t.Context(), tr, target.Target{Topic: testTopic, Server: name}, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.stop(10 * time.Second); err != nil {
			t.Errorf("stopping %s: %v", name, err)
		}
	})
}

// TestCallCastPing runs call, cast and ping on the memory driver, and
// checks their output and exit codes.
func TestCallCastPing(t *testing.T) {
	tr := memory.New()
	t.Cleanup(func() { tr.Close() }) // after the servers stop
	serveBuiltins(t, tr, "calc-1")
	serveBuiltins(t, tr, "noping", dispatcher.NoPing())

	type sender func(ctx context.Context, tr transport.Transport, r *rpcRequest, rep *reporter, stdout io.Writer) int
	tests := []struct {
		name       string
		send       sender
		tgt        target.Target
		method     string
		args       string
		ctx        contextFlag
		timeout    time.Duration
		json       bool
		wantCode   int
		wantStdout string // a prefix
		wantStderr string // a prefix
	}{
		{name: "call", send: call, tgt: target.Target{Topic: testTopic}, method: "divide", args: `{"num1": 200, "num2": 100}`,
			wantStdout: "2\n"},
		{name: "call one server", send: call, tgt: target.Target{Topic: testTopic, Server: "calc-1"}, method: "whoami",
			wantStdout: "\"calc-1\"\n"},
		{name: "call with context", send: call, tgt: target.Target{Topic: testTopic}, method: "context",
			ctx: contextFlag{"user": "alice", "roles": []any{"admin"}}, wantStdout: `{"roles":["admin"],"user":"alice"}` + "\n"},
		{name: "call remote error", send: call, tgt: target.Target{Topic: testTopic}, method: "divide", args: `{"num1": 1, "num2": 0}`,
			wantCode: exitFailed, wantStderr: "remote error: warren.InvalidOperation: invalid operation\n"},
		{name: "call remote error as JSON", send: call, tgt: target.Target{Topic: testTopic}, method: "fail", args: `{"message": "disk full"}`, json: true,
			wantCode: exitFailed, wantStderr: `{"command":"call","exit_code":1,"kind":"failed","error":"remote error: builtins.RuntimeError: disk full","remote":{"module":"builtins","class":"RuntimeError","message":"disk full"}}` + "\n"},
		{name: "call unknown method", send: call, tgt: target.Target{Topic: testTopic}, method: "square", args: `{"n": 3}`,
			wantCode: exitFailed, wantStderr: "remote error: oslo_messaging.rpc.dispatcher.NoSuchMethod: Endpoint does not support RPC method square\n"},
		{name: "call unsupported version", send: call, tgt: target.Target{Topic: testTopic, Version: "2.0"}, method: "add", args: `{"a": 1, "b": 2}`,
			wantCode: exitFailed, wantStderr: "remote error: oslo_messaging.rpc.dispatcher.UnsupportedVersion: Endpoint does not support RPC version 2.0. Attempted method: add\n"},
		{name: "call nobody", send: call, tgt: target.Target{Topic: "nobody"}, method: "add",
			wantCode: exitUnreachable, wantStderr: `warren call: nobody serves topic "nobody": no queue takes its messages: `},
		{name: "call nobody as JSON", send: call, tgt: target.Target{Topic: "nobody"}, method: "add", json: true,
			wantCode: exitUnreachable, wantStderr: `{"command":"call","exit_code":4,"kind":"unreachable","error":"nobody serves topic \"nobody\"`},
		{name: "call timeout", send: call, tgt: target.Target{Topic: testTopic}, method: "sleep", args: `{"seconds": 60}`, timeout: 50 * time.Millisecond,
			wantCode: exitTimeout, wantStderr: `warren call: no reply from topic "calculator" within 50ms: `},
		{name: "cast", send: cast, tgt: target.Target{Topic: testTopic}, method: "add", args: `{"a": 1, "b": 2}`,
			wantStdout: "cast add sent to topic \"calculator\"\n"},
		{name: "fanout cast", send: cast, tgt: target.Target{Topic: testTopic, Fanout: true}, method: "add", args: `{"a": 1, "b": 2}`,
			wantStdout: "cast add sent to topic \"calculator\" (fanout)\n"},
		{name: "cast nobody", send: cast, tgt: target.Target{Topic: "nobody"}, method: "add",
			wantCode: exitUnreachable, wantStderr: `warren cast: nobody serves topic "nobody": `},
		{name: "ping", send: ping, tgt: target.Target{Topic: testTopic, Server: "calc-1"},
			wantStdout: "pong from topic \"calculator\", server \"calc-1\" in "},
		{name: "ping as JSON", send: ping, tgt: target.Target{Topic: testTopic, Server: "calc-1"}, json: true,
			wantStdout: `{"topic":"calculator","server":"calc-1","reply":"pong","rtt_seconds":`},
		{name: "ping without ping endpoint", send: ping, tgt: target.Target{Topic: testTopic, Server: "noping"},
			wantStdout: "NoSuchMethod from topic \"calculator\", server \"noping\" in "},
		{name: "ping nobody", send: ping, tgt: target.Target{Topic: testTopic, Server: "gone"},
			wantCode: exitUnreachable, wantStderr: `warren ping: nobody serves topic "calculator", server "gone": `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &rpcRequest{tgt: tt.tgt, method: tt.method, reqCtx: tt.ctx, json: tt.json, timeout: 10 * time.Second}
			if tt.timeout != 0 {
				r.timeout = tt.timeout
			}
			if tt.args != "" {
				r.args = json.RawMessage(tt.args)
			}
			ctx, cancel := context.WithTimeout(t.Context(), r.timeout)
			defer cancel()
			var stdout, stderr bytes.Buffer
			code := tt.send(ctx, tr, r, &reporter{cmd: strings.Fields(tt.name)[0], json: tt.json, w: &stderr}, &stdout)
			if code != tt.wantCode || !strings.HasPrefix(stdout.String(), tt.wantStdout) || !strings.HasPrefix(stderr.String(), tt.wantStderr) ||
				(tt.wantStdout == "") != (stdout.Len() == 0) || (tt.wantStderr == "") != (stderr.Len() == 0) {
				t.Errorf("%s %s(%s) = %d, stdout %q, stderr %q; want %d, %q..., %q...", tt.name,
					tt.method, tt.args, code, stdout.String(), stderr.String(), tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestContextFlag(t *testing.T) {
	tests := []struct {
		arg     string
		want    any    // the value of key k
		wantErr string // part of the error
	}{
		{arg: "k=v", want: "v"},
		{arg: "k=a=b", want: "a=b"},
		{arg: "k=", want: ""},
		{arg: "k=42", want: "42"},
		{arg: "k:=42", want: 42.0},
		{arg: `k:=["admin","member"]`, want: []any{"admin", "member"}},
		{arg: `k:=true`, want: true},
		{arg: "k=x:=y", want: "x:=y"},
		{arg: "k:={", wantErr: "the value after := must be JSON"},
		{arg: "novalue", wantErr: `"novalue" is not key=value or key:=JSON`},
		{arg: "=v", wantErr: "is not key=value"},
		{arg: ":=1", wantErr: "empty key"},
	}
	for _, tt := range tests {
		c := contextFlag{}
		err := c.Set(tt.arg)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Set(%q) = %v, want an error with %q", tt.arg, err, tt.wantErr)
			}
			continue
		}
		got, _ := json.Marshal(c["k"])
		want, _ := json.Marshal(tt.want)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Set(%q) = %v, k = %s; want nil, %s", tt.arg, err, got, want)
		}
	}
}

func TestWantsJSON(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"--json"}, true},
		{[]string{"-json", "--topic", "x"}, true},
		{[]string{"--json=true"}, true},
		{[]string{"--json=false"}, false},
		{[]string{"--", "--json"}, false},
		{[]string{"json"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := wantsJSON(tt.args); got != tt.want {
			t.Errorf("wantsJSON(%q) = %t, want %t", tt.args, got, tt.want)
		}
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"remote", fmt.Errorf("rpcclient: %w", &rpcerr.RemoteError{Class: "ValueError", Module: "builtins"}), exitFailed},
		{"bad input", fmt.Errorf("%w: x", errBadInput), exitUsage},
		{"bad URL", fmt.Errorf("warren: %w", transport.ErrInvalidURL), exitUsage},
		{"bad target", fmt.Errorf("rpcclient: %w", target.ErrInvalid), exitUsage},
		{"too large", fmt.Errorf("rabbit: %w", transport.ErrMessageTooLarge), exitUsage},
		{"timeout", &transport.TimeoutError{MsgID: "m"}, exitTimeout},
		{"deadline", context.DeadlineExceeded, exitTimeout},
		{"no route", &transport.NoRouteError{Exchange: "x", RoutingKey: "t"}, exitUnreachable},
		{"unreachable while dialing past the deadline", fmt.Errorf("%w: %w", errUnreachable, context.DeadlineExceeded), exitUnreachable},
		{"connection lost", transport.ErrConnectionLost, exitUnreachable},
		{"cast not sent", fmt.Errorf("rabbit: %w: %w", transport.ErrNotSent, context.DeadlineExceeded), exitUnreachable},
		{"blocked", &transport.BlockedError{Reason: "low on memory"}, exitUnreachable},
		{"interrupted", context.Canceled, exitFailed},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) [%s] = %d, want %d", tt.err, tt.name, got, tt.want)
		}
	}
}
