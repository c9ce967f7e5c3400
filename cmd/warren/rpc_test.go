package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
)

// testTopic is the topic the tests' server listens on.
const testTopic = "calculator"

// serveBuiltins serves the built-in endpoint, and whoami, as server name
// of testTopic on tr until the test ends.
func serveBuiltins(t *testing.T, tr transport.Transport, name string) {
	t.Helper()
	whoami := endpoints.New()
	endpoints.Register(whoami, "whoami", func(context.Context, struct{}) (string, error) { return name, nil })
	d, err := dispatcher.New([]*endpoints.Endpoint{builtinEndpoint(), whoami})
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

func TestCallAndCast(t *testing.T) {
	tr := memory.New()
	defer tr.Close()
	serveBuiltins(t, tr, "calc-1")

	tests := []struct {
		name       string
		cast       bool
		tgt        target.Target
		method     string
		args       string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"call", false, target.Target{Topic: testTopic}, "divide", `{"num1": 200, "num2": 100}`,
			exitOK, "2\n", ""},
		{"call one server", false, target.Target{Topic: testTopic, Server: "calc-1"}, "whoami", "",
			exitOK, "\"calc-1\"\n", ""},
		{"call remote error", false, target.Target{Topic: testTopic}, "divide", `{"num1": 1, "num2": 0}`,
			exitFailed, "", "warren: remote error warren.InvalidOperation: invalid operation\n"},
		{"call unknown method", false, target.Target{Topic: testTopic}, "square", `{"n": 3}`,
			exitFailed, "", "warren: remote error oslo_messaging.rpc.dispatcher.NoSuchMethod: Endpoint does not support RPC method square\n"},
		{"call unsupported version", false, target.Target{Topic: testTopic, Version: "2.0"}, "add", `{"a": 1, "b": 2}`,
			exitFailed, "", "warren: remote error oslo_messaging.rpc.dispatcher.UnsupportedVersion: Endpoint does not support RPC version 2.0. Attempted method: add\n"},
		{"call nobody", false, target.Target{Topic: "nobody"}, "add", "",
			exitFailed, "", "warren: rpcclient: call add: transport: no queue is bound to exchange \"openstack\" with routing key \"nobody\"\n"},
		{"cast", true, target.Target{Topic: testTopic}, "add", `{"a": 1, "b": 2}`,
			exitOK, "cast add sent to calculator\n", ""},
		{"fanout cast", true, target.Target{Topic: testTopic, Fanout: true}, "add", `{"a": 1, "b": 2}`,
			exitOK, "cast add sent to calculator fanout\n", ""},
		{"cast nobody", true, target.Target{Topic: "nobody"}, "add", "",
			exitFailed, "", "warren: rpcclient: cast add: transport: no queue is bound to exchange \"openstack\" with routing key \"nobody\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			r := &rpcRequest{tgt: tt.tgt, method: tt.method}
			if tt.args != "" {
				r.args = json.RawMessage(tt.args)
			}
			var stdout, stderr bytes.Buffer
			var code int
			if tt.cast {
				code = cast(ctx, tr, r, &stdout, &stderr)
			} else {
				code = call(ctx, tr, r, &stdout, &stderr)
			}
			if code != tt.wantCode || stdout.String() != tt.wantStdout || stderr.String() != tt.wantStderr {
				t.Errorf("%s %s(%s) = %d, stdout %q, stderr %q; want %d, %q, %q", map[bool]string{false: "call", true: "cast"}[tt.cast],
					tt.method, tt.args, code, stdout.String(), stderr.String(), tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}
