package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve", "--topic T [--server S] [flags]",
		"Serves topic T as server S with the built-in methods, in the default namespace\n"+
			"at version 1.0, until SIGINT or SIGTERM; then it stops taking requests, lets\n"+
			"those running finish and reply (for up to --grace), and exits 0:\n\n"+
			"  echo(data)               returns data\n"+
			"  add(a, b)                returns a + b\n"+
			"  divide(num1, num2=1)     returns num1 / num2; fails with InvalidOperation when num2 is 0\n"+
			"  sleep(seconds)           returns seconds after sleeping that long\n"+
			"  fail(message)            fails with a RuntimeError carrying message\n"+
			"  "+endpoints.PingMethod+"     returns \"pong\"\n"+
			"  "+rpcserver.InfoMethod+"   describes the server: host, pid, workers,\n"+
			"                           request counts, namespaces, versions, methods\n\n"+
			"It prints one line on stdout once it listens. Failures are logged on stderr,\n"+
			"and with --verbose every request as it starts.\n\n"+
			"  warren serve --topic calculator --server calc-1\n\n"+exitCodesHelp, stderr)
	var conn connFlags
	conn.register(fs)
	tgt := target.Target{}
	fs.StringVar(&tgt.Topic, "topic", "", "`topic` to serve (required)")
	fs.StringVar(&tgt.Server, "server", hostname(), "server `name`: the queue <topic>.<name> reaches this server only")
	workers := fs.Int("workers", rpcserver.DefaultWorkers, "`number` of requests handled at once")
	grace := fs.Duration("grace", rpcserver.DefaultGracePeriod, "how long running requests may go on after SIGINT or SIGTERM")
	verbose := fs.Bool("verbose", false, "log each request on stderr as it starts")
	rep := &reporter{cmd: "serve", w: stderr}
	pos, code, ok := rep.parse(fs, args)
	if !ok {
		return code
	}
	switch {
	case len(pos) > 0:
		return rep.badInput("unexpected argument %q", pos[0])
	case tgt.Topic == "":
		return rep.badInput("--topic is required")
	case *workers < 1:
		return rep.badInput("--workers must be at least 1")
	case *grace <= 0:
		return rep.badInput("--grace must be positive")
	}
	if err := tgt.ValidateServer(); err != nil {
		return rep.badInput("%v", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var dopts []dispatcher.Option
	if *verbose {
		dopts = append(dopts, dispatcher.Interceptors(logRequests(log)))
	}
	disp, err := dispatcher.New([]*endpoints.Endpoint{builtinEndpoint()}, dopts...)
	if err != nil {
		return rep.fail(err)
	}
	tr, err := conn.dial(ctx, "serve")
	if err != nil {
		return rep.fail(err)
	}
	defer tr.Close()
	srv := rpcserver.New(tr, tgt, disp, rpcserver.Workers(*workers), rpcserver.GracePeriod(*grace), rpcserver.Logger(log),
		rpcserver.Introspection())
	if err := srv.Listen(ctx); err != nil {
		return rep.fail(err)
	}
	fmt.Fprintf(stdout, "serving topic %q as server %q; stop with SIGINT or SIGTERM\n", tgt.Topic, tgt.Server)
	if err := srv.Serve(ctx); !errors.Is(err, rpcserver.ErrServerClosed) {
		return rep.fail(err)
	}
	fmt.Fprintln(stdout, "stopped")
	return exitOK
}

// logRequests returns the interceptor of --verbose: it logs each request
// as its method starts.
func logRequests(log *slog.Logger) dispatcher.Interceptor {
	return func(ctx context.Context, req *dispatcher.Request, next dispatcher.Handler) (any, error) {
		log.Info("request", "method", req.Method, "namespace", req.Namespace, "version", req.Version,
			"args", string(req.Args), "context", req.Context)
		return next(ctx, req)
	}
}
