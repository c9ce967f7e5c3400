package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/warrenrpc/warren/notify"
	"github.com/warrenrpc/warren/target"
)

func runNotify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("notify", "--event-type E [flags] [PAYLOAD]",
		"Sends one notification in oslo.messaging's messagingv2 format to the queue\n"+
			"<topic>.<priority>, and returns once the broker confirmed it. PAYLOAD is any\n"+
			"JSON value ({} when omitted).\n\n"+
			"  warren notify --publisher-id compute.host1 --event-type compute.instance.create.end '{\"id\": 42}'\n\n"+
			exitCodesHelp, stderr)
	var conn connFlags
	conn.register(fs)
	topic := fs.String("topic", notify.DefaultTopic, "notification `topic`")
	priority := fs.String("priority", string(notify.Info), "`priority`: audit, debug, info, warn, error, critical or sample")
	publisher := fs.String("publisher-id", "warren."+hostname(), "publisher `id`")
	eventType := fs.String("event-type", "", "event `type`, such as compute.instance.create.end (required)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long connecting and sending may take")
	reqCtx := contextFlag{}
	fs.Var(reqCtx, "ctx", "request context entry `key=value` (a string) or key:=JSON; repeatable")
	rep := &reporter{cmd: "notify", w: stderr}
	pos, code, ok := rep.parse(fs, args)
	if !ok {
		return code
	}
	payload := json.RawMessage("{}")
	switch {
	case len(pos) > 1:
		return rep.badInput("unexpected argument %q after the payload", pos[1])
	case len(pos) == 1:
		if !json.Valid([]byte(pos[0])) {
			return rep.badInput("PAYLOAD must be JSON, not %q", pos[0])
		}
		payload = json.RawMessage(pos[0])
	}
	prio, err := notify.ParsePriority(*priority)
	switch {
	case err != nil:
		return rep.badInput("--priority: %v", err)
	case *eventType == "":
		return rep.badInput("--event-type is required")
	case *topic == "":
		return rep.badInput("--topic must not be empty")
	case *timeout <= 0:
		return rep.badInput("--timeout must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	tr, err := conn.dial(ctx, "notify")
	if err != nil {
		return rep.fail(err)
	}
	defer tr.Close()
	n := notify.NewNotifier(tr, *publisher, notify.Topics(*topic))
	if err := n.Notify(ctx, prio, reqCtx, *eventType, payload); err != nil {
		return rep.fail(err)
	}
	fmt.Fprintf(stdout, "%s %s sent to %s.%s\n", prio, *eventType, *topic, prio)
	return exitOK
}

// listened is one notification as listen prints it: one JSON line.
type listened struct {
	Priority    notify.Priority `json:"priority"`
	PublisherID string          `json:"publisher_id"`
	EventType   string          `json:"event_type"`
	Payload     json.RawMessage `json:"payload"`
	Context     map[string]any  `json:"context"`
	MessageID   string          `json:"message_id"`
	Timestamp   string          `json:"timestamp,omitempty"`
}

func runListen(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("listen", "[flags]",
		"Prints each notification of --topic as one JSON line on stdout, until SIGINT or\n"+
			"SIGTERM, or until --count arrived:\n\n"+
			"  {\"priority\": \"info\", \"publisher_id\": ..., \"event_type\": ..., \"payload\": ...,\n"+
			"   \"context\": {...}, \"message_id\": ..., \"timestamp\": \"2006-01-02T15:04:05.999999Z\"}\n\n"+
			"Without --pool it shares the queues <topic>.<priority> with every other listener\n"+
			"in no pool, such as a service's: each notification goes to one of them. With\n"+
			"--pool P it gets every notification sent after the pool's queue P was first\n"+
			"declared; that queue stays on the broker afterwards, as oslo's pool queues do.\n"+
			"It prints a line on stderr once it listens.\n\n"+
			"  warren listen --pool warren-cli --priority info,error --count 10\n\n"+exitCodesHelp, stderr)
	var conn connFlags
	conn.register(fs)
	topic := fs.String("topic", notify.DefaultTopic, "notification `topic`")
	priorities := fs.String("priority", "", "comma-separated `priorities` to listen to (default: all)")
	pool := fs.String("pool", "", "listener pool `name`")
	count := fs.Int("count", 0, "exit after this `number` of notifications (0: never)")
	rep := &reporter{cmd: "listen", w: stderr}
	pos, code, ok := rep.parse(fs, args)
	if !ok {
		return code
	}
	prios := notify.Priorities()
	if *priorities != "" {
		prios = nil
		for p := range strings.SplitSeq(*priorities, ",") {
			prio, err := notify.ParsePriority(strings.TrimSpace(p))
			if err != nil {
				return rep.badInput("--priority: %v", err)
			}
			prios = append(prios, prio)
		}
	}
	switch {
	case len(pos) > 0:
		return rep.badInput("unexpected argument %q", pos[0])
	case *topic == "":
		return rep.badInput("--topic must not be empty")
	case *count < 0:
		return rep.badInput("--count must not be negative")
	}

	p := &printer{out: stdout, limit: *count, full: make(chan struct{})}
	handlers := make(map[notify.Priority]notify.Handler, len(prios))
	for _, prio := range prios {
		handlers[prio] = notify.HandlerFunc(p.print)
	}
	opts := []notify.ListenerOption{notify.Ordered(), notify.OnListen(func() {
		fmt.Fprintf(stderr, "listening to topic %q (%s)\n", *topic, describePool(*pool))
	})}
	if *pool != "" {
		opts = append(opts, notify.Pool(*pool))
	}
	tr, err := conn.dial(ctx, "listen")
	if err != nil {
		return rep.fail(err)
	}
	defer tr.Close()
	l, err := notify.NewListener(tr, []target.Target{{Topic: *topic}}, []notify.Endpoint{{Handlers: handlers}}, opts...)
	if err != nil {
		return rep.badInput("%v", err)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(ctx) }()
	select {
	case err = <-served:
	case <-p.full:
		err = l.Shutdown(context.WithoutCancel(ctx))
		if served := <-served; err == nil {
			err = served
		}
	}
	if err != nil && !errors.Is(err, notify.ErrListenerClosed) {
		return rep.fail(err)
	}
	return exitOK
}

// describePool says which queues a listener of pool consumes.
func describePool(pool string) string {
	if pool == "" {
		return "no pool"
	}
	return fmt.Sprintf("pool %q", pool)
}

// printer prints notifications, up to limit when it is not 0, then closes
// full. The listener runs it on one worker at a time.
type printer struct {
	out   io.Writer
	limit int

	mu      sync.Mutex
	printed int
	full    chan struct{}
}

// print prints n as one JSON line. Once the limit is reached it gives
// notifications back to the broker unprinted.
func (p *printer) print(_ context.Context, n *notify.Notification) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.limit > 0 && p.printed >= p.limit {
		return notify.ErrRequeue
	}
	l := listened{
		Priority: n.Priority, PublisherID: n.PublisherID, EventType: n.EventType,
		Payload: n.Payload, Context: n.Context, MessageID: n.MessageID,
	}
	if l.Payload == nil {
		l.Payload = json.RawMessage("null")
	}
	if !n.Timestamp.IsZero() {
		l.Timestamp = n.Timestamp.Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(l)
	if err != nil {
		// The context holds what a JSON decoder made: it encodes.
		return fmt.Errorf("listen: encoding the notification: %w", err)
	}
	fmt.Fprintf(p.out, "%s\n", b)
	p.printed++
	if p.printed == p.limit {
		close(p.full)
	}
	return nil
}
