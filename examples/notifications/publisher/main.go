// Command publisher sends the notifications a Nova compute service sends
// for the life of a few instances: compute.instance.create.start and .end,
// power_off.end and power_on.end, with payloads shaped like Nova's
// versioned notifications (package nova), as publisher
// nova-compute:<host> on topic "notifications".
//
//	WARREN_TRANSPORT_URL=rabbit://guest:guest@localhost:5672/ go run ./examples/notifications/publisher -instances 3
//
// Like oslo.messaging, it declares the queue notifications.info, so the
// notifications wait there until a listener (examples/notifications/listener
// or usage) comes. Without WARREN_TRANSPORT_URL it uses the in-process
// memory driver, which no other process can reach, and also logs each
// notification to stdout through the log driver.
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
	"github.com/warrenrpc/warren/examples/notifications/nova"
	"github.com/warrenrpc/warren/notify"
	"github.com/warrenrpc/warren/transport"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run publishes and returns the exit code: 0 when every notification was
// confirmed, 1 on failure, 2 for bad arguments.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("publisher", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host, err := os.Hostname()
	if err != nil {
		host = "host1"
	}
	instances := fs.Int("instances", 3, "how many instances' lifecycles to send")
	topic := fs.String("topic", nova.Topic, "notification `topic`")
	timeout := fs.Duration("timeout", 10*time.Second, "bounds connecting and each notification")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *instances < 1 {
		fmt.Fprintln(stderr, "publisher: want -instances of at least 1 and no arguments")
		return 2
	}
	cfg, err := transport.ConfigFromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "publisher: %v\n", err)
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
	dctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	tr, err := warren.Dial(dctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "publisher: %v\n", err)
		return 1
	}
	defer tr.Close()
	opts := []notify.Option{notify.Topics(*topic), notify.Timeout(*timeout)}
	if local {
		fmt.Fprintln(stderr, "publisher: no broker (WARREN_TRANSPORT_URL is not set): publishing on memory://, the in-process driver, and logging each notification here")
		log := slog.New(slog.NewTextHandler(stdout, nil))
		opts = append(opts, notify.Drivers(notify.MessagingV2(tr, transport.QueueLimits{}), notify.Log(log)))
	}
	n := notify.NewNotifier(tr, "nova-compute:"+host, opts...)
	sent, err := nova.PublishSample(ctx, n, *instances, host)
	if err != nil {
		fmt.Fprintf(stderr, "publisher: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "sent %d notifications to topic %q\n", sent, *topic)
	return 0
}
