package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
)

// TestBinaryOnBroker runs the warren binary against RabbitMQ: warren serve
// in the background, and every exit code of call, cast and ping against
// it.
func TestBinaryOnBroker(t *testing.T) {
	topic, exchange := uniqueName(t, "rpc"), uniqueName(t, "x")
	deleteOnBroker(t, []string{topic, topic + ".s1"}, []string{topic + "_fanout", exchange})
	conn := []string{"--url", testBrokerURL(), "--exchange", exchange}
	srv := startWarren(t, append([]string{"serve", "--topic", topic, "--server", "s1", "--grace", "20s", "--verbose"}, conn...)...)
	srv.waitOutput(t, &srv.stdout, "serving topic", processLimit)

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // a substring
		wantStderr string // a substring; "" means none at all
	}{
		{"call", []string{"call", "--topic", topic, "add", `{"a": 1, "b": 2}`}, exitOK, "3\n", ""},
		{"call flags after method", []string{"call", "echo", `{"data": [1, "x"]}`, "--topic", topic, "--server", "s1"}, exitOK, `[1,"x"]` + "\n", ""},
		{"call server info", []string{"call", "--topic", topic, "--server", "s1", "warren_rpc_server_info"}, exitOK, `"server":"s1"`, ""},
		{"call sleep", []string{"call", "--topic", topic, "sleep", `{"seconds": 0.01}`}, exitOK, "0.01\n", ""},
		{"call remote error", []string{"call", "--topic", topic, "divide", `{"num1": 1, "num2": 0}`},
			exitFailed, "", "remote error: warren.InvalidOperation: invalid operation\n"},
		{"call remote error as JSON", []string{"call", "--json", "--topic", topic, "fail", `{"message": "disk full"}`},
			exitFailed, "", `"remote":{"module":"builtins","class":"RuntimeError","message":"disk full"}`},
		{"call missing argument", []string{"call", "--topic", topic, "add", `{"a": 1}`},
			exitFailed, "", "remote error: builtins.TypeError: add() missing 1 required positional argument: 'b'\n"},
		{"call unknown method", []string{"call", "--topic", topic, "square"},
			exitFailed, "", "remote error: oslo_messaging.rpc.dispatcher.NoSuchMethod: Endpoint does not support RPC method square\n"},
		{"call timeout", []string{"call", "--timeout", "1s", "--topic", topic, "sleep", `{"seconds": 30}`},
			exitTimeout, "", "no reply from topic \"" + topic + "\" within 1s"},
		{"call nobody", []string{"call", "--topic", topic + "-nobody", "add"},
			exitUnreachable, "", "nobody serves topic \"" + topic + "-nobody\""},
		{"call nobody as JSON", []string{"call", "--json", "--topic", topic + "-nobody", "add"},
			exitUnreachable, "", `{"command":"call","exit_code":4,"kind":"unreachable","error":"nobody serves topic`},
		{"call other server", []string{"call", "--topic", topic, "--server", "s2", "add"},
			exitUnreachable, "", "nobody serves topic \"" + topic + "\", server \"s2\""},
		{"cast", []string{"cast", "--topic", topic, "add", `{"a": 1, "b": 2}`}, exitOK, "cast add sent to topic", ""},
		{"fanout cast", []string{"cast", "--fanout", "--topic", topic, "add", `{"a": 1, "b": 2}`}, exitOK, "(fanout)", ""},
		{"cast nobody", []string{"cast", "--topic", topic + "-nobody", "add"}, exitUnreachable, "", "nobody serves topic"},
		{"ping", []string{"ping", "--topic", topic}, exitOK, "pong from topic \"" + topic + "\" in ", ""},
		{"ping server as JSON", []string{"ping", "--json", "--topic", topic, "--server", "s1"}, exitOK, `"reply":"pong","rtt_seconds":`, ""},
		{"ping nobody", []string{"ping", "--topic", topic, "--server", "gone"}, exitUnreachable, "", "nobody serves topic"},
		{"bad JSON", []string{"call", "--topic", topic, "add", "{a: 1}"}, exitUsage, "", "ARGS must be a JSON object"},
		{"bad flag", []string{"ping", "--topic", topic, "--count", "1"}, exitUsage, "", "flag provided but not defined: -count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			code, stdout, stderr := runBinary(t, append(tt.args, conn...)...)
			if code != tt.wantCode || !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) || (tt.wantStderr == "") != (stderr == "") {
				t.Errorf("warren %q = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q",
					tt.args, code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
			// No route is known at once: well under the 30 s timeout.
			if tt.wantCode == exitUnreachable && time.Since(start) > 10*time.Second {
				t.Errorf("warren %q took %v to report no route", tt.args, time.Since(start))
			}
		})
	}

	t.Run("unreachable broker", func(t *testing.T) {
		for _, cmd := range [][]string{{"call", "--topic", topic, "add"}, {"ping", "--topic", topic}, {"cast", "--topic", topic, "add"}, {"notify", "--event-type", "e"}} {
			code, _, stderr := runBinary(t, append(cmd, "--timeout", "1s", "--url", "amqp://guest:guest@127.0.0.1:1/")...)
			if code != exitUnreachable || !strings.Contains(stderr, "broker unreachable") {
				t.Errorf("warren %q on a closed port = %d, stderr %q; want %d, broker unreachable", cmd, code, stderr, exitUnreachable)
			}
		}
	})

	t.Run("SIGTERM shuts down gracefully", func(t *testing.T) {
		// A call in flight when the server is told to stop gets its reply.
		slow := startWarren(t, append([]string{"call", "--topic", topic, "sleep", `{"seconds": 2.5}`}, conn...)...)
		srv.waitOutput(t, &srv.stderr, `method=sleep namespace="" version="" args="{\"seconds\":2.5}"`, processLimit)
		if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		slow.wait(t)
		if slow.code != exitOK || slow.stdout.String() != "2.5\n" {
			t.Errorf("the call in flight at SIGTERM = %d, stdout %q, stderr %q; want 0, 2.5", slow.code, slow.stdout.String(), slow.stderr.String())
		}
		srv.wait(t)
		if srv.code != exitOK || !strings.HasSuffix(srv.stdout.String(), "stopped\n") {
			t.Errorf("warren serve after SIGTERM = %d, stdout %q, stderr %q; want 0, stopped", srv.code, srv.stdout.String(), srv.stderr.String())
		}
	})
}

// TestPingLeavesNoQueue answers warren ping from a raw AMQP consumer, which
// learns the ping's reply queue from the request: once ping exited 0, a
// passive declare of that queue finds nothing.
func TestPingLeavesNoQueue(t *testing.T) {
	topic, exchange := uniqueName(t, "ping"), uniqueName(t, "x")
	deleteOnBroker(t, []string{topic}, []string{exchange})
	conn, err := amqp.Dial(testBrokerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// oslo.messaging's flags: a topic exchange and a queue, neither durable.
	if err := ch.ExchangeDeclare(exchange, "topic", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(topic, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(topic, topic, exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	requests, err := ch.Consume(topic, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}

	p := startWarren(t, "ping", "--topic", topic, "--url", testBrokerURL(), "--exchange", exchange, "--timeout", "30s")
	var d amqp.Delivery
	select {
	case d = <-requests:
	case <-time.After(processLimit):
		t.Fatalf("no ping request came; warren ping stderr:\n%s", p.stderr.String())
	}
	req, err := wire.DecodeRequest(d.Body)
	if err != nil || req.Method != "oslo_rpc_server_ping" || req.ReplyTo == "" || req.Namespace != "" || req.Version != "" {
		t.Fatalf("the ping request = %+v, %v; want oslo_rpc_server_ping with a reply queue, no namespace or version", req, err)
	}
	if _, err := ch.QueueDeclarePassive(req.ReplyTo, false, false, false, false, nil); err != nil {
		t.Fatalf("the ping's reply queue %s is not there while it waits: %v", req.ReplyTo, err)
	}
	body, err := wire.EncodeReply(req.MsgID, &message.Reply{Result: json.RawMessage(`"pong"`)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := ch.PublishWithContext(ctx, "", req.ReplyTo, false, false, amqp.Publishing{ContentType: "application/json", Body: body}); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	if p.code != exitOK || !strings.HasPrefix(p.stdout.String(), "pong from topic") {
		t.Fatalf("warren ping = %d, stdout %q, stderr %q; want 0, pong", p.code, p.stdout.String(), p.stderr.String())
	}
	check, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	_, err = check.QueueDeclarePassive(req.ReplyTo, false, false, false, false, nil)
	var ae *amqp.Error
	if !errors.As(err, &ae) || ae.Code != amqp.NotFound {
		t.Errorf("after warren ping exited, passive declare of its reply queue %s = %v, want 404 NOT_FOUND", req.ReplyTo, err)
	}
}

// TestNotifyAndListen has warren listen --count 2 receive what two warren
// notify runs send, and print each as a JSON line.
func TestNotifyAndListen(t *testing.T) {
	topic, exchange, pool := uniqueName(t, "notes"), uniqueName(t, "x"), uniqueName(t, "pool")
	deleteOnBroker(t, []string{pool, topic + ".info", topic + ".error"}, []string{exchange})
	conn := []string{"--url", testBrokerURL(), "--exchange", exchange, "--topic", topic}
	l := startWarren(t, append([]string{"listen", "--pool", pool, "--priority", "info,error", "--count", "2"}, conn...)...)
	l.waitOutput(t, &l.stderr, "listening to topic", processLimit)

	sends := [][]string{
		{"notify", "--publisher-id", "compute.host1", "--event-type", "compute.instance.create.end",
			"--ctx", "request_id=req-1", "--ctx", `roles:=["admin"]`, `{"id": 42}`},
		{"notify", "--priority", "ERROR", "--publisher-id", "compute.host1", "--event-type", "compute.instance.create.error"},
	}
	for _, args := range sends {
		code, stdout, stderr := runBinary(t, append(args, conn...)...)
		if code != exitOK || !strings.Contains(stdout, " sent to "+topic+".") {
			t.Fatalf("warren %q = %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	l.wait(t)
	if l.code != exitOK {
		t.Fatalf("warren listen --count 2 = %d, stderr:\n%s", l.code, l.stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(l.stdout.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("warren listen printed %d lines, want 2:\n%s", len(lines), l.stdout.String())
	}
	want := []listened{
		{Priority: "info", PublisherID: "compute.host1", EventType: "compute.instance.create.end",
			Payload: json.RawMessage(`{"id":42}`), Context: map[string]any{"request_id": "req-1", "roles": []any{"admin"}}},
		{Priority: "error", PublisherID: "compute.host1", EventType: "compute.instance.create.error",
			Payload: json.RawMessage(`{}`)},
	}
	for i, line := range lines {
		var got listened
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		if got.MessageID == "" || got.Timestamp == "" {
			t.Errorf("line %d %q has no message_id or timestamp", i, line)
		}
		got.MessageID, got.Timestamp = "", ""
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(want[i])
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("line %d = %s, want %s", i, gotJSON, wantJSON)
		}
	}
}
