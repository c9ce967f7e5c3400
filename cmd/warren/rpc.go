package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// rpcRequest is a call, cast or ping command line: its flags and arguments.
type rpcRequest struct {
	conn    connFlags
	tgt     target.Target
	timeout time.Duration
	reqCtx  contextFlag
	json    bool
	method  string
	args    json.RawMessage // nil when the command line gave none
}

// rpcCommand is what call, cast and ping differ in; run does the rest.
type rpcCommand struct {
	name, synopsis, description string
	// timeout is the default of --timeout.
	timeout time.Duration
	// flags registers the command's own flags on fs, filling r; nil for none.
	flags func(fs *flag.FlagSet, r *rpcRequest)
	// positional reads the arguments after the flags into r; it returns
	// a message for bad ones.
	positional func(r *rpcRequest, args []string) error
	// send runs r on tr and returns the exit code.
	send func(ctx context.Context, tr transport.Transport, r *rpcRequest, rep *reporter, stdout io.Writer) int
}

// run reads the command line args into a request, dials the broker within
// --timeout and hands the request to c.send.
func (c rpcCommand) run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(c.name, c.synopsis, c.description, stderr)
	r := rpcRequest{reqCtx: contextFlag{}}
	r.conn.register(fs)
	fs.StringVar(&r.tgt.Topic, "topic", "", "`topic` to send to (required)")
	fs.StringVar(&r.tgt.Server, "server", "", "send to the server with this `name` only")
	fs.DurationVar(&r.timeout, "timeout", c.timeout, "how long connecting and sending (and for call and ping, waiting for the reply) may take")
	fs.BoolVar(&r.json, "json", false, "report failures on stderr as one JSON object")
	if c.flags != nil {
		c.flags(fs, &r)
	}
	rep := &reporter{cmd: c.name, json: wantsJSON(args), w: stderr}
	pos, code, ok := rep.parse(fs, args)
	if !ok {
		return code
	}
	rep.json = r.json
	switch {
	case r.tgt.Topic == "":
		return rep.badInput("--topic is required")
	case r.timeout <= 0:
		return rep.badInput("--timeout must be positive")
	}
	if err := c.positional(&r, pos); err != nil {
		return rep.badInput("%v", err)
	}
	if err := r.tgt.ValidateCast(); err != nil {
		return rep.badInput("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	tr, err := r.conn.dial(ctx, c.name)
	if err != nil {
		return rep.fail(err)
	}
	defer tr.Close()
	return c.send(ctx, tr, &r, rep, stdout)
}

// methodAndArgs reads METHOD [ARGS] into r.
func methodAndArgs(r *rpcRequest, args []string) error {
	switch {
	case len(args) == 0:
		return errors.New("a method is required")
	case len(args) > 2:
		return fmt.Errorf("unexpected argument %q after the JSON arguments", args[2])
	}
	r.method = args[0]
	if len(args) == 2 {
		raw := []byte(args[1])
		if !json.Valid(raw) || !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			return fmt.Errorf("ARGS must be a JSON object of keyword arguments, such as '{\"a\": 2, \"b\": 3}', not %q", args[1])
		}
		r.args = raw
	}
	return nil
}

// client returns the client r describes on tr.
func (r *rpcRequest) client(tr transport.Transport) *rpcclient.Client {
	opts := []rpcclient.Option{}
	if len(r.reqCtx) > 0 {
		opts = append(opts, rpcclient.RequestContext(r.reqCtx))
	}
	return rpcclient.New(tr, r.tgt, opts...)
}

// kwargs returns the arguments as rpcclient takes them.
func (r *rpcRequest) kwargs() any {
	if r.args == nil {
		return nil
	}
	return r.args
}

// explain adds to err what the command line asked for, when err is a
// condition the user acts on: the target nobody serves, the time waited.
func (r *rpcRequest) explain(err error) error {
	switch {
	case errors.Is(err, transport.ErrNoConsumer):
		return fmt.Errorf("nobody serves %s: its queue is left without a consumer: %w", describe(r.tgt), err)
	case errors.Is(err, transport.ErrNoRoute):
		return fmt.Errorf("nobody serves %s: no queue takes its messages: %w", describe(r.tgt), err)
	case errors.Is(err, transport.ErrTimeout):
		return fmt.Errorf("no reply from %s within %v: %w", describe(r.tgt), r.timeout, err)
	}
	return err
}

// describe names tgt for messages: topic "calc", server "s1".
func describe(tgt target.Target) string {
	s := fmt.Sprintf("topic %q", tgt.Topic)
	if tgt.Server != "" {
		s += fmt.Sprintf(", server %q", tgt.Server)
	}
	if tgt.Fanout {
		s += " (fanout)"
	}
	return s
}

// rpcFlags registers the flags call and cast add to the common ones.
func rpcFlags(fs *flag.FlagSet, r *rpcRequest) {
	fs.StringVar(&r.tgt.Namespace, "namespace", "", "endpoint `namespace` (default: the default namespace)")
	fs.StringVar(&r.tgt.Version, "version", "", "API `version` to ask for, such as 1.2 (default: none, which servers read as 1.0)")
	fs.Var(r.reqCtx, "ctx", "request context entry `key=value` (a string) or key:=JSON; repeatable")
}

func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return rpcCommand{
		name:     "call",
		synopsis: "--topic T [flags] METHOD [ARGS]",
		description: "Calls METHOD on a server of topic T and prints its result as JSON on stdout.\n" +
			"ARGS is a JSON object of keyword arguments ({} when omitted).\n\n" +
			"  warren call --topic calculator divide '{\"num1\": 200, \"num2\": 100}'\n" +
			"  warren call --topic compute --server host1 --ctx user_id=admin get_stats\n\n" +
			"A remote failure prints \"remote error: <module>.<class>: <message>\" and the\n" +
			"remote traceback on stderr. A topic nobody serves fails at once (exit 4).\n\n" + exitCodesHelp,
		timeout:    30 * time.Second,
		flags:      rpcFlags,
		positional: methodAndArgs,
		send:       call,
	}.run(ctx, args, stdout, stderr)
}

// call runs the call r on tr and prints its result on stdout.
func call(ctx context.Context, tr transport.Transport, r *rpcRequest, rep *reporter, stdout io.Writer) int {
	var result json.RawMessage
	if err := r.client(tr).Call(ctx, r.method, r.kwargs(), &result); err != nil {
		return rep.fail(r.explain(err))
	}
	if result == nil {
		result = json.RawMessage("null")
	}
	fmt.Fprintf(stdout, "%s\n", result)
	return exitOK
}

func runCast(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return rpcCommand{
		name:     "cast",
		synopsis: "--topic T [flags] METHOD [ARGS]",
		description: "Casts METHOD to a server of topic T, or with --fanout to all of them, without\n" +
			"waiting for it to run; returns once the broker confirmed the message. ARGS is a\n" +
			"JSON object of keyword arguments ({} when omitted).\n\n" +
			"  warren cast --topic calculator --fanout reset\n\n" + exitCodesHelp,
		timeout: 30 * time.Second,
		flags: func(fs *flag.FlagSet, r *rpcRequest) {
			rpcFlags(fs, r)
			fs.BoolVar(&r.tgt.Fanout, "fanout", false, "send to every server of the topic")
		},
		positional: methodAndArgs,
		send:       cast,
	}.run(ctx, args, stdout, stderr)
}

// cast sends the cast r on tr and confirms it on stdout.
func cast(ctx context.Context, tr transport.Transport, r *rpcRequest, rep *reporter, stdout io.Writer) int {
	if err := r.client(tr).Cast(ctx, r.method, r.kwargs()); err != nil {
		return rep.fail(r.explain(err))
	}
	fmt.Fprintf(stdout, "cast %s sent to %s\n", r.method, describe(r.tgt))
	return exitOK
}

func runPing(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return rpcCommand{
		name:     "ping",
		synopsis: "--topic T [--server S] [flags]",
		description: "Checks that a server of topic T (or the server S) answers: it calls oslo's\n" +
			"ping method, " + endpoints.PingMethod + ", and prints the round-trip time. It works as a\n" +
			"Kubernetes liveness or readiness probe against Go and Python servers:\n\n" +
			"  warren ping --topic compute --server \"$HOSTNAME\" --timeout 5s\n\n" +
			"A warren server always answers it; a Python server answers it when\n" +
			"rpc_ping_enabled is set, and otherwise replies NoSuchMethod or\n" +
			"UnsupportedVersion, which also proves it alive: ping then says so and exits 0.\n" +
			"It declares no queue but its reply queue, which it deletes before it exits.\n\n" +
			exitCodesHelp,
		timeout: 5 * time.Second,
		positional: func(_ *rpcRequest, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unexpected argument %q", args[0])
			}
			return nil
		},
		send: ping,
	}.run(ctx, args, stdout, stderr)
}

// pingReport is ping's --json output on stdout.
type pingReport struct {
	Topic   string  `json:"topic"`
	Server  string  `json:"server,omitempty"`
	Reply   string  `json:"reply"`
	Seconds float64 `json:"rtt_seconds"`
	// Note says why a reply other than "pong" proves the server alive.
	Note string `json:"note,omitempty"`
}

// ping calls the ping method of r's target on tr and prints the round trip.
func ping(ctx context.Context, tr transport.Transport, r *rpcRequest, rep *reporter, stdout io.Writer) int {
	start := time.Now()
	var reply string
	err := r.client(tr).Call(ctx, endpoints.PingMethod, nil, &reply)
	rtt := time.Since(start)
	report := pingReport{Topic: r.tgt.Topic, Server: r.tgt.Server, Reply: reply, Seconds: rtt.Seconds()}
	if errors.Is(err, rpcerr.ErrNoSuchMethod) || errors.Is(err, rpcerr.ErrUnsupportedVersion) {
		report.Reply = "NoSuchMethod"
		if remote := (*rpcerr.RemoteError)(nil); errors.As(err, &remote) {
			report.Reply = remote.Class
		}
		report.Note = "the server answered without a ping endpoint (for oslo.messaging, set rpc_ping_enabled)"
	} else if err != nil {
		return rep.fail(r.explain(err))
	}
	if r.json {
		b, _ := json.Marshal(report) // plain values: cannot fail
		fmt.Fprintf(stdout, "%s\n", b)
		return exitOK
	}
	fmt.Fprintf(stdout, "%s from %s in %v\n", report.Reply, describe(r.tgt), rtt.Round(time.Microsecond))
	if report.Note != "" {
		fmt.Fprintf(stdout, "%s\n", report.Note)
	}
	return exitOK
}
