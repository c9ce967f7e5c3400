// Command usage keeps what each project runs (instances, vCPUs, memory)
// from the compute.instance.* notifications a Nova deployment sends, the
// starting point of a billing or capacity service. It joins pool "usage"
// on topic "notifications", so several replicas share the work and a
// Python consumer of the same pool can run beside them; it prints a line
// per event and the usage of every project when it stops. Start it before
// the publishers: the pool's queue gets the notifications sent after it
// was first declared.
//
// Nova sends notifications to control exchange "nova":
//
//	WARREN_TRANSPORT_URL=rabbit://guest:guest@localhost:5672/ WARREN_CONTROL_EXCHANGE=nova go run ./examples/notifications/usage
//
// Without WARREN_TRANSPORT_URL it uses the in-process memory driver and
// publishes a sample of events itself first, so it runs anywhere.
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
	"github.com/warrenrpc/warren/examples/notifications/nova"
	"github.com/warrenrpc/warren/notify"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run consumes until ctx ends and returns the exit code: 0 after a clean
// stop, 1 on failure, 2 for bad arguments.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("usage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	topic := fs.String("topic", nova.Topic, "notification `topic`")
	pool := fs.String("pool", "usage", "pool shared by the replicas")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg, err := transport.ConfigFromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "usage: %v\n", err)
		return 1
	}
	// In process unless told otherwise: this example's choice, since
	// warren.Dial refuses an empty URL.
	local := cfg.URL == ""
	if local {
		cfg.URL = "memory://"
	} else if u, err := transport.ParseURL(cfg.URL); err == nil && u.Scheme == "memory" {
		local = true
	}
	tr, err := warren.Dial(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "usage: %v\n", err)
		return 1
	}
	defer tr.Close()

	ledger := nova.NewLedger()
	// Ordered: events of one instance must be booked in the order sent.
	l, err := notify.NewListener(tr, []target.Target{{Topic: *topic}},
		[]notify.Endpoint{ledger.Endpoint(func(s string) { fmt.Fprintln(stdout, s) })},
		notify.Pool(*pool), notify.Ordered())
	if err != nil {
		fmt.Fprintf(stderr, "usage: %v\n", err)
		return 1
	}
	if err := l.Listen(ctx); err != nil {
		fmt.Fprintf(stderr, "usage: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "consuming compute.instance.* on topic %q in pool %q\n", *topic, *pool)
	if local {
		fmt.Fprintln(stderr, "usage: no broker (WARREN_TRANSPORT_URL is not set): on memory://, the in-process driver, publishing a sample first")
		n := notify.NewNotifier(tr, "nova-compute:demo", notify.Topics(*topic))
		if _, err := nova.PublishSample(ctx, n, 3, "demo"); err != nil {
			fmt.Fprintf(stderr, "usage: %v\n", err)
			return 1
		}
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(context.WithoutCancel(ctx)) }()
	select {
	case err := <-served:
		fmt.Fprintf(stderr, "usage: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "usage: %v\n", err)
		return 1
	}
	<-served
	u := ledger.Usage()
	fmt.Fprintln(stdout, "usage by project:")
	for _, p := range nova.Projects(u) {
		fmt.Fprintf(stdout, "  %s: %d instances, %d vCPUs, %d MB\n", p, u[p].Instances, u[p].VCPUs, u[p].MemoryMB)
	}
	return 0
}
