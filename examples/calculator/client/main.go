package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/warrenrpc/warren"
	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/examples/calculator/calc"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run calls the calculator and returns the exit code: 0 when every answer
// was as expected, 1 otherwise, 2 for bad arguments.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 10*time.Second, "how long connecting, and then each call, may take")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: client [-timeout duration]\n\nCalls the calculator on topic %q and checks the answers.\nThe transport is WARREN_TRANSPORT_URL; when unset, the in-process memory\ndriver with a calculator server started in this process.\n\n", calc.Topic)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "client: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "client: -timeout must be positive")
		return 2
	}

	cfg, err := transport.ConfigFromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 1
	}
	onMemory, where := true, ""
	if cfg.URL == "" {
		cfg.URL = "memory://" // this example's choice; warren.Dial refuses an empty URL
	} else {
		u, err := transport.ParseURL(cfg.URL)
		if err != nil {
			fmt.Fprintf(stderr, "client: WARREN_TRANSPORT_URL: %v\n", err)
			return 1
		}
		onMemory = u.Scheme == "memory"
		where = fmt.Sprintf("%s, control exchange %q", u, cfg.ControlExchange)
	}
	dctx, cancel := context.WithTimeout(ctx, *timeout)
	tr, err := warren.Dial(dctx, cfg)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 1
	}
	defer tr.Close()

	if onMemory {
		stop, err := startServer(ctx, tr, "local")
		if err != nil {
			fmt.Fprintf(stderr, "client: starting the in-process server: %v\n", err)
			return 1
		}
		defer stop()
		fmt.Fprintln(stdout, "calculator client on the in-process memory driver, with calculator server \"local\" in this process")
	} else {
		fmt.Fprintf(stdout, "calculator client on %s\n", where)
	}

	c := rpcclient.New(tr, target.Target{Topic: calc.Topic}, rpcclient.Timeout(*timeout))
	failed := 0
	expect := func(ok bool) {
		if !ok {
			failed++
		}
	}
	expect(callValue(ctx, stdout, c, "divide", "num1=200, num2=100", map[string]any{"num1": 200, "num2": 100}, 2))
	expect(callRemoteError(ctx, stdout, c, "divide", "num1=1, num2=0", map[string]any{"num1": 1, "num2": 0},
		"InvalidOperation", "invalid operation"))
	expect(callValue(ctx, stdout, c, "add", "a=2, b=3", map[string]any{"a": 2, "b": 3}, 5))

	const total = 3
	if failed > 0 {
		fmt.Fprintf(stdout, "%d of %d answers were not as expected\n", failed, total)
		return 1
	}
	fmt.Fprintf(stdout, "all %d answers as expected\n", total)
	return 0
}

// callValue calls method and reports whether it returned want.
func callValue(ctx context.Context, w io.Writer, c *rpcclient.Client, method, shown string, args map[string]any, want float64) bool {
	var got float64
	if err := c.Call(ctx, method, args, &got); err != nil {
		fmt.Fprintf(w, "%s(%s) failed: %v (want %v)\n", method, shown, err, want)
		return false
	}
	if got != want {
		fmt.Fprintf(w, "%s(%s) = %v, want %v\n", method, shown, got, want)
		return false
	}
	fmt.Fprintf(w, "%s(%s) = %v\n", method, shown, got)
	return true
}

// callRemoteError calls method and reports whether it failed with the
// remote exception class and message.
func callRemoteError(ctx context.Context, w io.Writer, c *rpcclient.Client, method, shown string, args map[string]any, class, message string) bool {
	var got any
	err := c.Call(ctx, method, args, &got)
	var remote *rpcerr.RemoteError
	switch {
	case err == nil:
		fmt.Fprintf(w, "%s(%s) = %v, want the remote error %s: %s\n", method, shown, got, class, message)
		return false
	case !errors.As(err, &remote):
		fmt.Fprintf(w, "%s(%s) failed: %v (want the remote error %s: %s)\n", method, shown, err, class, message)
		return false
	case remote.Class != class || remote.Message != message:
		fmt.Fprintf(w, "%s(%s) failed with the remote error %s: %s, want %s: %s\n", method, shown, remote.Class, remote.Message, class, message)
		return false
	}
	fmt.Fprintf(w, "%s(%s) failed as expected: %s: %s\n", method, shown, remote.Class, remote.Message)
	return true
}

// startServer starts a calculator server named name on tr and returns once
// it listens. stop shuts it down and waits for it.
func startServer(ctx context.Context, tr transport.Transport, name string) (stop func(), err error) {
	d, err := dispatcher.New([]*endpoints.Endpoint{calc.Endpoint(calc.ServerName(name))})
	if err != nil {
		return nil, err
	}
	srv := rpcserver.New(tr, target.Target{Topic: calc.Topic, Server: name}, d)
	if err := srv.Listen(ctx); err != nil {
		return nil, err
	}
	serveCtx, shutdown := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx) }()
	return func() {
		shutdown()
		<-served
	}, nil
}
