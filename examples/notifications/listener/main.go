// Command listener prints the notifications of a topic, one JSON object a
// line: priority, publisher id, event type, payload, request context,
// message id and timestamp.
//
//	WARREN_TRANSPORT_URL=rabbit://guest:guest@localhost:5672/ go run ./examples/notifications/listener -pool audit
//
// -priority picks the priorities (comma-separated, all by default),
// -pool joins a pool (shared with other listeners of that pool, Go or
// Python), -event keeps the event types a regular expression matches, and
// -count exits after that many notifications. It stops on SIGINT or
// SIGTERM, letting the notification in hand finish.
//
// Without WARREN_TRANSPORT_URL it uses the in-process memory driver and
// first publishes a sample of Nova-style notifications itself, so it runs
// anywhere.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
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

// line is what the listener prints for a notification.
type line struct {
	Priority    notify.Priority `json:"priority"`
	PublisherID string          `json:"publisher_id"`
	EventType   string          `json:"event_type"`
	Payload     json.RawMessage `json:"payload"`
	Context     map[string]any  `json:"context,omitempty"`
	MessageID   string          `json:"message_id"`
	Timestamp   time.Time       `json:"timestamp"`
}

// run listens until ctx ends or -count notifications were printed, and
// returns the exit code: 0 after a clean stop, 1 on failure, 2 for bad
// arguments.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("listener", flag.ContinueOnError)
	fs.SetOutput(stderr)
	topic := fs.String("topic", notify.DefaultTopic, "notification `topic`")
	prios := fs.String("priority", "", "comma-separated priorities; empty means all")
	pool := fs.String("pool", "", "pool to join; empty means none: share the publishers' queue <topic>.<priority>")
	event := fs.String("event", "", "regular expression event types must match (at their start)")
	count := fs.Int("count", 0, "exit after this many notifications; 0 means run until a signal")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	priorities := notify.Priorities()
	if *prios != "" {
		priorities = nil
		for _, s := range strings.Split(*prios, ",") {
			p, err := notify.ParsePriority(strings.TrimSpace(s))
			if err != nil {
				fmt.Fprintf(stderr, "listener: %v\n", err)
				return 2
			}
			priorities = append(priorities, p)
		}
	}
	cfg, err := transport.ConfigFromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "listener: %v\n", err)
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
		fmt.Fprintf(stderr, "listener: %v\n", err)
		return 1
	}
	defer tr.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		printed int
	)
	enc := json.NewEncoder(stdout)
	show := notify.HandlerFunc(func(_ context.Context, n *notify.Notification) error {
		mu.Lock()
		defer mu.Unlock()
		if *count > 0 && printed >= *count {
			return notify.ErrRequeue // for another listener of the pool
		}
		printed++
		if err := enc.Encode(line{n.Priority, n.PublisherID, n.EventType, n.Payload, n.Context, n.MessageID, n.Timestamp}); err != nil {
			return err
		}
		if *count > 0 && printed == *count {
			cancel()
		}
		return nil
	})
	handlers := map[notify.Priority]notify.Handler{}
	for _, p := range priorities {
		handlers[p] = show
	}
	l, err := notify.NewListener(tr, []target.Target{{Topic: *topic}},
		[]notify.Endpoint{{Filter: notify.Filter{EventType: *event}, Handlers: handlers}},
		notify.Pool(*pool), notify.Ordered())
	if err != nil {
		fmt.Fprintf(stderr, "listener: %v\n", err)
		return 2
	}
	if err := l.Listen(ctx); err != nil {
		fmt.Fprintf(stderr, "listener: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "listener: listening on topic %q, priorities %v\n", *topic, priorities)
	if local {
		fmt.Fprintln(stderr, "listener: no broker (WARREN_TRANSPORT_URL is not set): on memory://, the in-process driver, publishing a sample first")
		n := notify.NewNotifier(tr, "nova-compute:demo", notify.Topics(*topic))
		if _, err := nova.PublishSample(ctx, n, 2, "demo"); err != nil {
			fmt.Fprintf(stderr, "listener: %v\n", err)
			return 1
		}
	}
	served := make(chan error, 1)
	// Serve ignores ctx's end: the end leads to Shutdown, which lets the
	// notification in hand finish.
	go func() { served <- l.Serve(context.WithoutCancel(ctx)) }()
	select {
	case err := <-served:
		fmt.Fprintf(stderr, "listener: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := l.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "listener: %v\n", err)
		return 1
	}
	<-served
	return 0
}
