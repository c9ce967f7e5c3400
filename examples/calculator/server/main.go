package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/warrenrpc/warren"
	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/examples/calculator/calc"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

// gracePeriod bounds how long requests in flight may take to finish once a
// signal asked the server to stop; callers of those still running then are
// told the server is shutting down.
const gracePeriod = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run serves until ctx ends and returns the exit code: 0 after a clean
// shutdown, 1 on failure, 2 for bad arguments.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host, err := os.Hostname()
	if err != nil {
		host = "calculator"
	}
	name := fs.String("server", host, "server `name`; calls to topic \""+calc.Topic+"\" with this server name reach only this server")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: server [-server name]\n\nServes the calculator on topic %q until SIGINT or SIGTERM.\nThe transport is WARREN_TRANSPORT_URL (in-process memory driver when unset).\n\n", calc.Topic)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "server: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *name == "" {
		fmt.Fprintln(stderr, "server: -server must not be empty")
		return 2
	}

	cfg, err := transport.ConfigFromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	}
	where := "the in-process memory driver"
	if cfg.URL == "" {
		cfg.URL = "memory://"
		fmt.Fprintln(stderr, "server: WARREN_TRANSPORT_URL is not set: serving on memory://, the in-process driver, which no other process can reach")
	} else {
		u, err := transport.ParseURL(cfg.URL)
		if err != nil {
			fmt.Fprintf(stderr, "server: WARREN_TRANSPORT_URL: %v\n", err)
			return 1
		}
		if u.Scheme != "memory" {
			where = fmt.Sprintf("%s, control exchange %q", u, cfg.ControlExchange)
		}
	}
	tr, err := warren.Dial(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	}
	defer tr.Close()

	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := newServer(tr, *name, log, rpcserver.GracePeriod(gracePeriod))
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	}
	if err := srv.Listen(ctx); err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "calculator server %q serving topic %q on %s\n", *name, calc.Topic, where)
	// A signal ends ctx: Serve stops taking requests and lets those in
	// flight finish within the grace period.
	if err := srv.Serve(ctx); !errors.Is(err, rpcserver.ErrServerClosed) {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "stopped")
	return 0
}

// newServer returns the calculator server named name on tr, logging every
// request it handles to log (and, as every server does with its Logger, a
// failing cast at warn level), and answering rpcserver.InfoMethod, so that
// `warren call calculator warren_rpc_server_info` describes it.
func newServer(tr transport.Transport, name string, log *slog.Logger, opts ...rpcserver.Option) (*rpcserver.Server, error) {
	d, err := dispatcher.New([]*endpoints.Endpoint{calc.Endpoint(calc.ServerName(name))},
		dispatcher.Interceptors(logRequests(log)))
	if err != nil {
		return nil, err
	}
	opts = append([]rpcserver.Option{rpcserver.Logger(log), rpcserver.Introspection()}, opts...)
	return rpcserver.New(tr, target.Target{Topic: calc.Topic, Server: name}, d, opts...), nil
}

// logRequests logs every request that reached a method, with its result or
// the error sent back to the caller.
func logRequests(log *slog.Logger) dispatcher.Interceptor {
	return func(ctx context.Context, req *dispatcher.Request, next dispatcher.Handler) (any, error) {
		res, err := next(ctx, req)
		attrs := []slog.Attr{slog.String("method", req.Method), slog.String("args", string(req.Args))}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		} else {
			attrs = append(attrs, slog.Any("result", res))
		}
		log.LogAttrs(ctx, slog.LevelInfo, "handled", attrs...)
		return res, err
	}
}
