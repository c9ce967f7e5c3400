package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/warrenrpc/warren"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// rpcRequest is a call or cast command line: its flags and arguments.
type rpcRequest struct {
	tgt     target.Target
	timeout time.Duration
	method  string
	args    json.RawMessage // nil when the command line gave none
}

// rpcFlags registers on fs the flags call and cast share, filling r.
func (r *rpcRequest) rpcFlags(fs *flag.FlagSet) {
	fs.StringVar(&r.tgt.Server, "server", "", "send to the server with this `name` only")
	fs.StringVar(&r.tgt.Namespace, "namespace", "", "endpoint `namespace` (default: the default namespace)")
	fs.StringVar(&r.tgt.Version, "version", "", "API `version` to ask for, such as 1.2 (default: none, which servers read as 1.0)")
	fs.StringVar(&r.tgt.Exchange, "exchange", "", "`exchange` to publish to (default: WARREN_CONTROL_EXCHANGE)")
	fs.DurationVar(&r.timeout, "timeout", 30*time.Second, "how long connecting and sending (and for call, waiting for the reply) may take")
}

// positional reads <topic> <method> [json-args] from fs's arguments.
func (r *rpcRequest) positional(fs *flag.FlagSet) (code int, ok bool) {
	if fs.NArg() < 2 {
		return usageError(fs, "a topic and a method are required"), false
	}
	if fs.NArg() > 3 {
		return usageError(fs, "unexpected argument %q after the JSON arguments", fs.Arg(3)), false
	}
	r.tgt.Topic, r.method = fs.Arg(0), fs.Arg(1)
	if fs.NArg() == 3 {
		raw := []byte(fs.Arg(2))
		if !json.Valid(raw) || !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			return usageError(fs, "json-args must be a JSON object of keyword arguments, such as '{\"a\": 2, \"b\": 3}', not %q", fs.Arg(2)), false
		}
		r.args = raw
	}
	if r.timeout <= 0 {
		return usageError(fs, "-timeout must be positive"), false
	}
	return exitOK, true
}

// kwargs returns the arguments as rpcclient takes them.
func (r *rpcRequest) kwargs() any {
	if r.args == nil {
		return nil
	}
	return r.args
}

// rpcCommand is what call and cast differ in; run does the rest.
type rpcCommand struct {
	name        string
	description string
	// flags registers the command's own flags on fs, filling r; nil for none.
	flags func(fs *flag.FlagSet, r *rpcRequest)
	// send runs r on tr and returns the exit code.
	send func(ctx context.Context, tr transport.Transport, r *rpcRequest, stdout, stderr io.Writer) int
}

// run reads the command line args into a request, dials the broker within
// -timeout and hands the request to c.send.
func (c rpcCommand) run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(c.name, "[flags] <topic> <method> [json-args]", c.description, stderr)
	var r rpcRequest
	r.rpcFlags(fs)
	if c.flags != nil {
		c.flags(fs, &r)
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := r.positional(fs); !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	tr, err := dialBroker(ctx, c.name)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	defer tr.Close()
	return c.send(ctx, tr, &r, stdout, stderr)
}

func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return rpcCommand{
		name: "call",
		description: "Calls method on a server of topic through the broker in WARREN_TRANSPORT_URL and\n" +
			"prints its result as JSON. json-args is a JSON object of keyword arguments.\n\n" +
			"  warren call calculator divide '{\"num1\": 200, \"num2\": 100}'",
		send: call,
	}.run(ctx, args, stdout, stderr)
}

// call runs the call r on tr and prints its result on stdout.
func call(ctx context.Context, tr transport.Transport, r *rpcRequest, stdout, stderr io.Writer) int {
	var result json.RawMessage
	if err := rpcclient.New(tr, r.tgt).Call(ctx, r.method, r.kwargs(), &result); err != nil {
		printRPCError(stderr, err)
		return exitFailed
	}
	if result == nil {
		result = json.RawMessage("null")
	}
	fmt.Fprintf(stdout, "%s\n", result)
	return exitOK
}

func runCast(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return rpcCommand{
		name: "cast",
		description: "Casts method to a server of topic, or with -fanout to all of them, through the\n" +
			"broker in WARREN_TRANSPORT_URL, without waiting for it to run. json-args is a\n" +
			"JSON object of keyword arguments.\n\n" +
			"  warren cast -fanout calculator reset",
		flags: func(fs *flag.FlagSet, r *rpcRequest) {
			fs.BoolVar(&r.tgt.Fanout, "fanout", false, "send to every server of the topic")
		},
		send: cast,
	}.run(ctx, args, stdout, stderr)
}

// cast sends the cast r on tr and confirms it on stdout.
func cast(ctx context.Context, tr transport.Transport, r *rpcRequest, stdout, stderr io.Writer) int {
	if err := rpcclient.New(tr, r.tgt).Cast(ctx, r.method, r.kwargs()); err != nil {
		printRPCError(stderr, err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "cast %s sent to %s\n", r.method, r.tgt)
	return exitOK
}

// dialBroker opens the broker transport WARREN_TRANSPORT_URL names for the
// command cmd, which cannot run on the in-process memory driver. Its
// errors start with "warren: ".
func dialBroker(ctx context.Context, cmd string) (transport.Transport, error) {
	cfg, err := transport.ConfigFromEnv()
	if err != nil {
		return nil, fmt.Errorf("warren: %w", err)
	}
	if cfg.URL == "" {
		return nil, fmt.Errorf("warren: WARREN_TRANSPORT_URL is not set; %s needs a broker", cmd)
	}
	u, err := brokerURL(cfg)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, fmt.Errorf("warren: WARREN_TRANSPORT_URL names the in-process memory driver; %s needs a broker", cmd)
	}
	return warren.Dial(ctx, cfg)
}

// brokerURL returns the parsed transport URL of cfg when it names a broker,
// and nil when it names the memory driver (empty or memory://).
func brokerURL(cfg transport.Config) (*transport.URL, error) {
	if cfg.URL == "" {
		return nil, nil
	}
	u, err := transport.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("warren: WARREN_TRANSPORT_URL: %w", err)
	}
	if u.Scheme == "memory" {
		return nil, nil
	}
	return u, nil
}

// printRPCError prints why a call or cast failed: a remote error as its
// exception, with the remote traceback when there is one.
func printRPCError(w io.Writer, err error) {
	var remote *rpcerr.RemoteError
	if !errors.As(err, &remote) {
		fmt.Fprintf(w, "warren: %v\n", err)
		return
	}
	fmt.Fprintf(w, "warren: remote error %s.%s: %s\n", remote.Module, remote.Class, remote.Message)
	for _, line := range remote.Traceback {
		fmt.Fprintf(w, "  %s\n", strings.TrimRight(line, "\n"))
	}
}
