package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/warrenrpc/warren"
	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
)

const (
	// stepTimeout bounds each call of the demo, each wait for replicas to
	// report a cast, and each replica's shutdown.
	stepTimeout = 5 * time.Second
	// sleepDeadline is the deadline of the call the timeout step makes to
	// a method that takes longer.
	sleepDeadline = 200 * time.Millisecond
	// requestIDKey is the request-context key the demo tags each call
	// with, to learn which replica ran it.
	requestIDKey = "request_id"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "[flags]",
		"Runs three calculator replicas (calc-1, calc-2, calc-3) and a client in this process\n"+
			"and shows, step by step: calls shared round robin, a cast, a fanout cast every replica\n"+
			"acknowledges, calls to one named server, remote errors and a call timing out; then\n"+
			"shuts the replicas down gracefully. It ends with a summary and exits 0 when every\n"+
			"step behaved as expected, 1 otherwise.\n\n"+
			"It runs on the in-process memory driver, or on the broker --url or\n"+
			"WARREN_TRANSPORT_URL names.", stderr)
	url := fs.String("url", "", "transport `URL` (default $WARREN_TRANSPORT_URL, else memory://)")
	exchange := fs.String("exchange", "", "control `exchange` (default $WARREN_CONTROL_EXCHANGE, else "+transport.DefaultControlExchange+")")
	topic := fs.String("topic", "warren-demo", "`topic` the replicas serve")
	timeout := fs.Duration("timeout", time.Minute, "how long the whole demo may take")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	switch {
	case fs.NArg() > 0:
		return usageError(fs, "unexpected argument %q", fs.Arg(0))
	case *topic == "":
		return usageError(fs, "-topic must not be empty")
	case *timeout <= 0:
		return usageError(fs, "-timeout must be positive")
	}

	cfg, err := transport.ConfigFromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "warren: %v\n", err)
		return exitFailed
	}
	if *url != "" {
		cfg.URL = *url
	}
	if *exchange != "" {
		cfg.ControlExchange = *exchange
	}
	where := "on the in-process memory driver"
	if cfg.URL == "" {
		// The demo is the one program that picks the memory driver by
		// itself, and says so: warren.Dial refuses an empty URL.
		cfg.URL = "memory://"
		where += " (memory://, since WARREN_TRANSPORT_URL is not set)"
	}
	u, err := brokerURL(cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	if u != nil {
		where = fmt.Sprintf("on %s, control exchange %q", u, cfg.ControlExchange)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	tr, err := warren.Dial(ctx, cfg) // its errors start with "warren: "
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	defer tr.Close()

	return runDemoOn(ctx, tr, *topic, where, stdout)
}

// runDemoOn runs the demo on tr, which where describes, with the replicas
// serving topic, and returns the exit code.
func runDemoOn(ctx context.Context, tr transport.Transport, topic, where string, stdout io.Writer) int {
	d := &demo{
		tr:     tr,
		topic:  topic,
		out:    stdout,
		names:  []string{"calc-1", "calc-2", "calc-3"},
		events: make(chan event, 16),
	}
	fmt.Fprintf(stdout, "warren demo: %d calculator replicas on topic %q, %s\n", len(d.names), d.topic, where)
	d.run(ctx)
	if d.failed > 0 {
		fmt.Fprintf(stdout, "\ndemo FAILED: %d of %d checks did not behave as expected\n", d.failed, d.passed+d.failed)
		return exitFailed
	}
	fmt.Fprintf(stdout, "\ndemo passed: all %d checks behaved as expected\n", d.passed)
	return exitOK
}

// demo runs the replicas and the client and reports what happened. Only
// the goroutine that calls run uses it, except for events and answered,
// which the replicas' handlers use.
type demo struct {
	tr       transport.Transport
	topic    string
	out      io.Writer
	names    []string
	replicas []*replica

	// events receives what the replicas' cast handlers observed.
	events chan event
	// answered maps the request id of each call to the replica that ran
	// it.
	answered sync.Map

	nextID         int // of the last call's request id
	passed, failed int // checks
}

// event is something a replica's handler observed: a cast it received.
type event struct {
	replica, method, detail string
}

// run starts the replicas, shows each step with them and stops them.
func (d *demo) run(ctx context.Context) {
	d.section("start: three replicas share one topic")
	started := d.start(ctx)
	if started {
		client := rpcclient.New(d.tr, target.Target{Topic: d.topic})
		d.calls(ctx, client)
		d.casts(ctx, client)
		d.fanout(ctx, client)
		d.direct(ctx, client)
		d.remoteErrors(ctx, client)
		d.timeout(ctx, client)
	}
	d.shutdown()
}

// section starts a section of the output.
func (d *demo) section(title string) { fmt.Fprintf(d.out, "\n== %s ==\n", title) }

// check counts a check and prints its line, marked ok or FAIL; it returns
// ok.
func (d *demo) check(ok bool, format string, args ...any) bool {
	mark := "ok  "
	if ok {
		d.passed++
	} else {
		d.failed++
		mark = "FAIL"
	}
	fmt.Fprintf(d.out, "  %s  %s\n", mark, fmt.Sprintf(format, args...))
	return ok
}

// note prints a line that is not a check.
func (d *demo) note(format string, args ...any) {
	fmt.Fprintf(d.out, "        %s\n", fmt.Sprintf(format, args...))
}

// start starts every replica and reports whether all of them listen.
func (d *demo) start(ctx context.Context) bool {
	for _, name := range d.names {
		r, err := d.startReplica(ctx, name)
		if !d.check(err == nil, "%s listening on %s, %s.%s and %s_fanout", name, d.topic, d.topic, name, d.topic) {
			d.note("%v", err)
			return false
		}
		d.replicas = append(d.replicas, r)
	}
	return true
}

// startReplica starts the replica name and returns once it listens.
func (d *demo) startReplica(ctx context.Context, name string) (*replica, error) {
	disp, err := dispatcher.New(
		[]*endpoints.Endpoint{builtinEndpoint(), d.demoEndpoint(name)},
		dispatcher.Interceptors(d.track(name)))
	if err != nil {
		return nil, err
	}
	return startReplica(ctx, d.tr, target.Target{Topic: d.topic, Server: name}, disp)
}

// demoEndpoint returns the methods the demo adds to the built-in ones on
// the replica name: whoami, which names the replica, and the casts record
// and reset, which it reports as events.
func (d *demo) demoEndpoint(name string) *endpoints.Endpoint {
	e := endpoints.New(endpoints.Version("1.0"))
	endpoints.Register(e, "whoami", func(context.Context, struct{}) (string, error) {
		return name, nil
	})
	type recordArgs struct {
		Item string `json:"item"`
	}
	endpoints.Register(e, "record", func(ctx context.Context, a recordArgs) (any, error) {
		return nil, d.observe(ctx, event{replica: name, method: "record", detail: a.Item})
	})
	endpoints.Register(e, "reset", func(ctx context.Context, _ struct{}) (any, error) {
		return nil, d.observe(ctx, event{replica: name, method: "reset"})
	})
	return e
}

// observe hands ev to the demo, unless the handler's ctx ends first.
func (d *demo) observe(ctx context.Context, ev event) error {
	select {
	case d.events <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// track returns the interceptor that records which replica ran each call
// the demo tagged with a request id.
func (d *demo) track(name string) dispatcher.Interceptor {
	return func(ctx context.Context, req *dispatcher.Request, next dispatcher.Handler) (any, error) {
		if id, ok := req.Context[requestIDKey].(string); ok {
			d.answered.Store(id, name)
		}
		return next(ctx, req)
	}
}

// call calls method through c, within stepTimeout, and returns the
// replica that ran it ("" when none is known).
func (d *demo) call(ctx context.Context, c *rpcclient.Client, method string, args, reply any) (string, error) {
	d.nextID++
	id := fmt.Sprintf("req-%d", d.nextID)
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	err := c.Prepare(rpcclient.RequestContext(map[string]any{requestIDKey: id})).Call(ctx, method, args, reply)
	by, _ := d.answered.LoadAndDelete(id)
	name, _ := by.(string)
	return name, err
}

// await waits, at most stepTimeout, for n events of method and returns
// those that came.
func (d *demo) await(ctx context.Context, method string, n int) []event {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	var got []event
	for len(got) < n {
		select {
		case ev := <-d.events:
			if ev.method == method {
				got = append(got, ev)
			}
		case <-ctx.Done():
			return got
		}
	}
	return got
}

// calls shows calls shared by the replicas.
func (d *demo) calls(ctx context.Context, c *rpcclient.Client) {
	d.section("call: each call runs on one replica, round robin")
	tests := []struct {
		method, shown string
		args          map[string]any
		want          float64
	}{
		{"divide", "num1=200, num2=100", map[string]any{"num1": 200, "num2": 100}, 2},
		{"divide", "num1=7, num2=2", map[string]any{"num1": 7, "num2": 2}, 3.5},
		{"divide", "num1=9", map[string]any{"num1": 9}, 9},
		{"add", "a=2, b=3", map[string]any{"a": 2, "b": 3}, 5},
		{"add", "a=0.5, b=-2", map[string]any{"a": 0.5, "b": -2}, -1.5},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		call := fmt.Sprintf("%s(%s)", tt.method, tt.shown)
		var got float64
		by, err := d.call(ctx, c, tt.method, tt.args, &got)
		if err != nil {
			d.check(false, "%s failed: %v (want %v)", call, err, tt.want)
			continue
		}
		seen[by] = true
		d.check(got == tt.want && by != "", "%-32s answered by %s", fmt.Sprintf("%s = %v", call, got), orUnknown(by))
	}
	for range 3 {
		var who string
		by, err := d.call(ctx, c, "whoami", nil, &who)
		if err != nil {
			d.check(false, "whoami() failed: %v", err)
			continue
		}
		seen[by] = true
		d.check(who == by, "%-32s answered by %s", fmt.Sprintf("whoami() = %q", who), orUnknown(by))
	}
	delete(seen, "")
	d.note("replicas that answered: %s", strings.Join(slices.Sorted(maps.Keys(seen)), ", "))
}

// casts shows casts: the caller does not wait, one replica runs each.
func (d *demo) casts(ctx context.Context, c *rpcclient.Client) {
	d.section("cast: one replica runs it; the caller does not wait for it")
	for _, item := range []string{"apple", "pear"} {
		cast := fmt.Sprintf("cast record(item=%q)", item)
		cctx, cancel := context.WithTimeout(ctx, stepTimeout)
		err := c.Cast(cctx, "record", map[string]any{"item": item})
		cancel()
		if err != nil {
			d.check(false, "%s failed: %v", cast, err)
			continue
		}
		evs := d.await(ctx, "record", 1)
		if len(evs) == 0 {
			d.check(false, "%s: no replica recorded it within %v", cast, stepTimeout)
			continue
		}
		d.check(evs[0].detail == item, "%-32s recorded %q on %s", cast, evs[0].detail, evs[0].replica)
	}
}

// fanout shows a fanout cast reaching every replica.
func (d *demo) fanout(ctx context.Context, c *rpcclient.Client) {
	d.section("fanout cast: every replica gets it")
	cctx, cancel := context.WithTimeout(ctx, stepTimeout)
	err := c.Prepare(rpcclient.Fanout()).Cast(cctx, "reset", nil)
	cancel()
	if !d.check(err == nil, "fanout cast reset() sent") {
		d.note("%v", err)
		return
	}
	got := map[string]int{}
	for _, ev := range d.await(ctx, "reset", len(d.names)) {
		got[ev.replica]++
	}
	for _, name := range d.names {
		switch got[name] {
		case 0:
			d.check(false, "%s did not get reset() within %v", name, stepTimeout)
		case 1:
			d.check(true, "%s got reset()", name)
		default:
			d.check(false, "%s got reset() %d times", name, got[name])
		}
	}
}

// direct shows calls to one named server.
func (d *demo) direct(ctx context.Context, c *rpcclient.Client) {
	name := d.names[1]
	d.section(fmt.Sprintf("server-direct call: Prepare(rpcclient.Server(%q))", name))
	direct := c.Prepare(rpcclient.Server(name))
	for range 3 {
		var who string
		by, err := d.call(ctx, direct, "whoami", nil, &who)
		if err != nil {
			d.check(false, "whoami() failed: %v", err)
			continue
		}
		d.check(who == name && by == name, "%-32s answered by %s", fmt.Sprintf("whoami() = %q", who), orUnknown(by))
	}
	var sum float64
	by, err := d.call(ctx, direct, "add", map[string]any{"a": 40, "b": 2}, &sum)
	if err != nil {
		d.check(false, "add(a=40, b=2) failed: %v", err)
		return
	}
	d.check(sum == 42 && by == name, "%-32s answered by %s", fmt.Sprintf("add(a=40, b=2) = %v", sum), orUnknown(by))
}

// remoteErrors shows errors the replicas return reaching the caller typed.
func (d *demo) remoteErrors(ctx context.Context, c *rpcclient.Client) {
	d.section("remote error: what the method returned comes back as *rpcerr.RemoteError")
	tests := []struct {
		method, shown                  string
		args                           map[string]any
		wantModule, wantClass, wantMsg string
	}{
		{"divide", "num1=1, num2=0", map[string]any{"num1": 1, "num2": 0},
			"warren", "InvalidOperation", "invalid operation"},
		{"divide", "num1=1, x=2", map[string]any{"num1": 1, "x": 2},
			"builtins", "TypeError", "divide() got an unexpected keyword argument 'x'"},
	}
	for _, tt := range tests {
		call := fmt.Sprintf("%s(%s)", tt.method, tt.shown)
		_, err := d.call(ctx, c, tt.method, tt.args, nil)
		var remote *rpcerr.RemoteError
		if !errors.As(err, &remote) {
			d.check(false, "%s = %v, want a remote %s", call, err, tt.wantClass)
			continue
		}
		d.check(remote.Module == tt.wantModule && remote.Class == tt.wantClass && remote.Message == tt.wantMsg,
			"%s failed: %s.%s: %s", call, remote.Module, remote.Class, remote.Message)
	}
	_, err := d.call(ctx, c, "square", map[string]any{"n": 3}, nil)
	d.check(errors.Is(err, rpcerr.ErrNoSuchMethod), "square(n=3) failed: errors.Is(err, rpcerr.ErrNoSuchMethod) = %t",
		errors.Is(err, rpcerr.ErrNoSuchMethod))
}

// timeout shows a call that outlives its deadline.
func (d *demo) timeout(ctx context.Context, c *rpcclient.Client) {
	d.section(fmt.Sprintf("timeout: sleep(seconds=10) with a %v deadline", sleepDeadline))
	sctx, cancel := context.WithTimeout(ctx, sleepDeadline)
	defer cancel()
	_, err := d.call(sctx, c, "sleep", map[string]any{"seconds": 10}, nil)
	if err == nil {
		d.check(false, "sleep(seconds=10) returned before its deadline")
		return
	}
	if !d.check(errors.Is(err, transport.ErrTimeout), "errors.Is(err, transport.ErrTimeout) = %t", errors.Is(err, transport.ErrTimeout)) {
		d.note("%v", err)
	}
	d.check(errors.Is(err, context.DeadlineExceeded), "errors.Is(err, context.DeadlineExceeded) = %t", errors.Is(err, context.DeadlineExceeded))
	d.note("the replica's handler saw the same deadline on its ctx and stopped; it sent no late reply")
}

// shutdown stops the replicas gracefully, each within stepTimeout.
func (d *demo) shutdown() {
	if len(d.replicas) == 0 {
		return
	}
	d.section("shutdown: each replica finishes its requests and stops")
	for _, r := range d.replicas {
		if err := r.stop(stepTimeout); !d.check(err == nil, "%s stopped", r.name) {
			d.note("%v", err)
		}
	}
	d.replicas = nil
}

// orUnknown returns name, or "an unknown replica" when it is empty.
func orUnknown(name string) string {
	if name == "" {
		return "an unknown replica"
	}
	return name
}
