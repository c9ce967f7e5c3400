package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenrpc/warren"
	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
)

const (
	// benchMethod is the method the bench calls or casts: echo(data),
	// which returns data, as warren serve has it.
	benchMethod = "echo"
	// benchTopic is the topic of the in-process replicas unless --topic
	// names one. It is fixed so that runs on a broker reuse the queues
	// earlier runs left.
	benchTopic = "warren-bench"
	// benchRunKey is the request-context key that tags the casts of an
	// in-process bench with its run, so that its replicas count the casts
	// of this run and not those an earlier run left in the queue.
	benchRunKey = "warren_bench_run"
)

// Kinds of errors the bench counts, in the order reports list them.
const (
	kindTimeout    = "timeout"
	kindNoRoute    = "no_route"
	kindRemote     = "remote"
	kindConnection = "connection"
	kindOther      = "other"
)

// errorKinds lists every kind the bench counts.
var errorKinds = []string{kindTimeout, kindNoRoute, kindRemote, kindConnection, kindOther}

// errorKind names the kind of a failed call or cast: remote (the server
// raised an exception, NoSuchMethod included), no_route (no queue takes
// the message), connection (the broker connection is lost, blocked or
// closed, or the message was not sent or not confirmed), timeout (no
// reply or confirm in time), or other.
func errorKind(err error) string {
	var remote *rpcerr.RemoteError
	switch {
	case errors.As(err, &remote):
		return kindRemote
	case errors.Is(err, transport.ErrNoRoute):
		return kindNoRoute
	// Before timeout: a call that waited in vain for the connection to
	// come back also matches its ctx's deadline.
	case errors.Is(err, transport.ErrConnectionLost), errors.Is(err, transport.ErrNotSent),
		errors.Is(err, transport.ErrBlocked), errors.Is(err, transport.ErrClosed):
		return kindConnection
	case errors.Is(err, transport.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return kindTimeout
	case errors.Is(err, transport.ErrOutcomeUnknown):
		return kindConnection
	}
	return kindOther
}

// echoArgs are the keyword arguments of every call and cast: echo's.
type echoArgs struct {
	Data string `json:"data"`
}

// benchParams is what the command line of the bench sets.
type benchParams struct {
	conn     connFlags
	tgt      target.Target
	cast     bool          // casts instead of calls
	conc     int           // goroutines making calls at once
	duration time.Duration // of the measurement, unless count is set
	count    int           // calls to measure; zero: run for duration
	payload  int           // bytes of echo's data
	timeout  time.Duration // of each call or cast, and of each setup step
	warmup   time.Duration // of calls made before measuring, not counted
	replicas int           // echo servers started in this process; zero: bench live servers
	json     bool
}

// mode names what the bench makes: "call" or "cast".
func (p *benchParams) mode() string {
	if p.cast {
		return "cast"
	}
	return "call"
}

// dialer opens one transport of the bench: the client's or a replica's.
type dialer func(ctx context.Context) (transport.Transport, error)

// deprecatedBenchFlags maps the flags of the first bench, which still
// work, to the flags that replace them.
var deprecatedBenchFlags = map[string]string{
	"n": "--count", "c": "--concurrency", "size": "--payload", "servers": "--replicas", "cast": "--mode cast",
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", "[--topic T [--server S]] [flags]",
		"Measures calls (or with --mode cast, casts) of echo(data) per second and their\n"+
			"latency, from --concurrency callers for --duration (or for --count calls), after\n"+
			"--warmup. It never stops on a failed call: it counts it by kind (timeout, no_route,\n"+
			"remote, connection, other) and goes on. A cast counts once the broker confirmed it.\n\n"+
			"With --topic it benches whatever serves the topic (or server --server) on the broker\n"+
			"--url or WARREN_TRANSPORT_URL names: warren serve, or a Python oslo.messaging server\n"+
			"with a method echo(data) that returns data. With --replicas N, or without --topic,\n"+
			"it starts the echo servers in this process (N, default 1, on topic "+benchTopic+"),\n"+
			"each on a transport of its own, and benches rpcclient, the transport, rpcserver\n"+
			"and the dispatcher end to end; their URL defaults to memory://, the in-process\n"+
			"driver. Casts to in-process replicas are also counted as the replicas run them.\n\n"+
			"It prints a report, or with --json one object: calls, ok, errors (kind -> count),\n"+
			"per_sec, p50_ms, p90_ms, p99_ms, p999_ms, max_ms, and what was measured. It exits 0\n"+
			"once it measured, whatever the calls' failures; 1 when interrupted or when in-process\n"+
			"replicas did not run every cast; 2 to 4 when it could not start, as other commands.\n\n"+
			"  warren bench --topic calculator --concurrency 16 --duration 30s --json\n"+
			"  warren bench --replicas 3 --concurrency 64 --mode cast\n\n"+exitCodesHelp, stderr)
	var p benchParams
	var mode string
	p.conn.register(fs)
	fs.StringVar(&p.tgt.Topic, "topic", "", "`topic` whose servers to bench; without it, the bench starts --replicas in this process")
	fs.StringVar(&p.tgt.Server, "server", "", "bench the server with this `name` only")
	fs.StringVar(&mode, "mode", "call", "what to measure, `call` or cast: a cast counts once the broker confirmed it")
	fs.IntVar(&p.conc, "concurrency", 1, "`number` of calls in flight at once, each from a goroutine of its own")
	fs.DurationVar(&p.duration, "duration", 10*time.Second, "how long to measure")
	fs.IntVar(&p.count, "count", 0, "measure this `number` of calls instead of measuring for --duration")
	fs.IntVar(&p.payload, "payload", 100, "`bytes` of the string each call sends and gets back")
	fs.DurationVar(&p.timeout, "timeout", 5*time.Second, "timeout of each call or cast, and of connecting and starting each replica")
	fs.DurationVar(&p.warmup, "warmup", time.Second, "how long to make calls, not counted, before measuring")
	fs.IntVar(&p.replicas, "replicas", 0, "`number` of echo servers to start in this process (default 1 without --topic)")
	fs.BoolVar(&p.json, "json", false, "print the result as one JSON object, and failures to start on stderr as one")
	fs.IntVar(&p.count, "n", 0, "deprecated: use --count")
	fs.IntVar(&p.conc, "c", 1, "deprecated: use --concurrency")
	fs.IntVar(&p.payload, "size", 100, "deprecated: use --payload")
	fs.IntVar(&p.replicas, "servers", 0, "deprecated: use --replicas")
	fs.BoolFunc("cast", "deprecated: use --mode cast", func(s string) error {
		b, err := strconv.ParseBool(cmp.Or(s, "true"))
		if b {
			mode = "cast"
		}
		return err
	})
	rep := &reporter{cmd: "bench", json: wantsJSON(args), w: stderr}
	pos, code, ok := rep.parse(fs, args)
	if !ok {
		return code
	}
	rep.json = p.json
	var deprecated []string
	nSet := false
	fs.Visit(func(f *flag.Flag) {
		if to, ok := deprecatedBenchFlags[f.Name]; ok {
			deprecated = append(deprecated, fmt.Sprintf("warren bench: -%s is deprecated; use %s\n", f.Name, to))
		}
		nSet = nSet || f.Name == "n"
	})
	switch {
	case len(pos) > 0:
		return rep.badInput("unexpected argument %q", pos[0])
	case mode != "call" && mode != "cast":
		return rep.badInput("--mode must be call or cast, not %q", mode)
	case p.conc < 1:
		return rep.badInput("--concurrency must be at least 1")
	case p.duration <= 0:
		return rep.badInput("--duration must be positive")
	case p.count < 0 || nSet && p.count == 0:
		return rep.badInput("--count must be at least 1")
	case p.payload < 0:
		return rep.badInput("--payload must not be negative")
	case p.timeout <= 0:
		return rep.badInput("--timeout must be positive")
	case p.warmup < 0:
		return rep.badInput("--warmup must not be negative")
	case p.replicas < 0:
		return rep.badInput("--replicas must not be negative")
	}
	for _, d := range deprecated {
		fmt.Fprint(stderr, d)
	}
	p.cast = mode == "cast"
	inProcess := p.replicas > 0 || p.tgt.Topic == ""
	if inProcess {
		p.tgt.Topic = cmp.Or(p.tgt.Topic, benchTopic)
		p.replicas = max(p.replicas, 1)
	}
	if err := p.tgt.ValidateCast(); err != nil {
		return rep.badInput("%v", err)
	}

	urlDefault := defaultURL
	if inProcess {
		urlDefault = "memory://"
	}
	cfg, err := p.conn.configOr(urlDefault)
	if err != nil {
		return rep.fail(err)
	}
	u, err := transport.ParseURL(cfg.URL)
	if err != nil {
		return rep.fail(err)
	}
	where := benchWhere{URL: u.String(), Exchange: cmp.Or(cfg.ControlExchange, transport.DefaultControlExchange)}
	dial := func(ctx context.Context) (transport.Transport, error) { return p.conn.dial(ctx, "bench") }
	if u.Scheme == "memory" {
		if !inProcess {
			return rep.fail(fmt.Errorf("%w: memory:// is the in-process driver, where only --replicas serve", transport.ErrInvalidURL))
		}
		bus := memory.NewBus()
		dial = func(ctx context.Context) (transport.Transport, error) {
			return warren.Dial(ctx, cfg, warren.Memory(memory.OnBus(bus)))
		}
	}
	return runBenchOn(ctx, p, dial, where, rep, stdout)
}

// benchWhere is where a bench runs: its transport URL, password masked,
// and control exchange.
type benchWhere struct {
	URL      string `json:"url"`
	Exchange string `json:"exchange"`
}

// runBenchOn runs the bench p on transports from dial, which where
// describes, and returns the exit code. The report goes to stdout; why
// the bench could not run goes to rep.
func runBenchOn(ctx context.Context, p benchParams, dial dialer, where benchWhere, rep *reporter, stdout io.Writer) int {
	dctx, cancel := context.WithTimeout(ctx, p.timeout)
	tr, err := dial(dctx)
	cancel()
	if err != nil {
		return rep.fail(fmt.Errorf("client: %w", err))
	}
	defer tr.Close()
	b := &bench{p: p, args: echoArgs{Data: payload(p.payload)}, progress: make(chan struct{}, 1)}
	var opts []rpcclient.Option
	if p.cast && p.replicas > 0 {
		b.run = rand.Text()
		opts = append(opts, rpcclient.RequestContext(map[string]any{benchRunKey: b.run}))
	}
	b.client = rpcclient.New(tr, p.tgt, opts...)
	replicas, err := b.startReplicas(ctx, dial)
	if err != nil {
		return rep.fail(err)
	}
	if !p.json {
		b.printHeader(stdout, where)
	}

	res := b.measure(ctx)
	res.benchWhere = where
	code := exitOK
	for _, r := range replicas {
		if err := r.stop(p.timeout); err != nil {
			rep.fail(fmt.Errorf("replica %s: %w", r.name, err))
			code = exitFailed
		}
	}
	if res.Interrupted || res.Handled != nil && *res.Handled < res.OK {
		code = exitFailed
	}
	if p.json {
		out, err := json.Marshal(res)
		if err != nil { // only numbers and strings: cannot fail
			return rep.fail(err)
		}
		fmt.Fprintf(stdout, "%s\n", out)
	} else {
		res.printText(stdout, p.timeout)
	}
	return code
}

// bench makes the calls or casts and measures them. Its fields other than
// handled and progress do not change while calls and handlers run.
type bench struct {
	p      benchParams
	client *rpcclient.Client
	args   echoArgs // what every call or cast sends
	// run tags the casts of this run to in-process replicas; "" for calls
	// and for live servers.
	run string
	// handled counts the casts of this run the replicas ran; progress
	// receives a value (if it has room) each time it grows.
	handled  atomic.Int64
	progress chan struct{}
}

// printHeader describes the bench on w.
func (b *bench) printHeader(w io.Writer, where benchWhere) {
	p := b.p
	to := fmt.Sprintf("topic %q", p.tgt.Topic)
	if p.tgt.Server != "" {
		to += fmt.Sprintf(", server %q", p.tgt.Server)
	}
	servers := "whatever serves it"
	if p.replicas > 0 {
		servers = plural(p.replicas, "replica") + " in this process"
	}
	how := "for " + p.duration.String()
	if p.count > 0 {
		how = fmt.Sprintf("for %d %ss", p.count, p.mode())
	}
	fmt.Fprintf(w, "warren bench: %ss of %s(data) to %s on %s, control exchange %q\n",
		p.mode(), benchMethod, to, where.URL, where.Exchange)
	fmt.Fprintf(w, "servers:  %s\n", servers)
	fmt.Fprintf(w, "load:     %d in flight %s, %d-byte payload, %v timeout each, after %v warm-up\n",
		p.conc, how, p.payload, p.timeout, p.warmup)
}

// benchReplica is an in-process replica of the bench and the transport
// it alone uses.
type benchReplica struct {
	*replica
	tr transport.Transport
}

// stop stops the replica gracefully within timeout, then closes its
// transport. It returns nil when the replica stopped cleanly.
func (r *benchReplica) stop(timeout time.Duration) error {
	err := r.replica.stop(timeout)
	r.tr.Close()
	return err
}

// startReplicas starts b.p.replicas replicas serving warren serve's
// built-in methods, each on a transport of its own, and returns once they
// all listen. On error it has stopped those that started.
func (b *bench) startReplicas(ctx context.Context, dial dialer) ([]*benchReplica, error) {
	if b.p.replicas == 0 {
		return nil, nil
	}
	disp, err := dispatcher.New([]*endpoints.Endpoint{builtinEndpoint()}, dispatcher.Interceptors(b.countCasts))
	if err != nil {
		return nil, err
	}
	var replicas []*benchReplica
	for i := range b.p.replicas {
		tgt := target.Target{Topic: b.p.tgt.Topic, Server: fmt.Sprintf("bench-%d", i+1)}
		r, err := b.startReplica(ctx, dial, tgt, disp)
		if err != nil {
			for _, r := range replicas {
				r.stop(b.p.timeout) // the start error is the one to report
			}
			return nil, fmt.Errorf("replica %s: %w", tgt.Server, err)
		}
		replicas = append(replicas, r)
	}
	return replicas, nil
}

// startReplica dials a transport and starts a replica of tgt on it,
// within the timeout of the bench.
func (b *bench) startReplica(ctx context.Context, dial dialer, tgt target.Target, disp *dispatcher.Dispatcher) (*benchReplica, error) {
	ctx, cancel := context.WithTimeout(ctx, b.p.timeout)
	defer cancel()
	tr, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	r, err := startReplica(ctx, tr, tgt, disp)
	if err != nil {
		tr.Close()
		return nil, err
	}
	return &benchReplica{replica: r, tr: tr}, nil
}

// countCasts is the replicas' interceptor: it counts the casts of this
// run they ran.
func (b *bench) countCasts(ctx context.Context, req *dispatcher.Request, next dispatcher.Handler) (any, error) {
	res, err := next(ctx, req)
	if b.run != "" && req.Context[benchRunKey] == b.run {
		b.handled.Add(1)
		select {
		case b.progress <- struct{}{}:
		default: // a signal is already waiting
		}
	}
	return res, err
}

// errReplyMismatch is the error of a call whose result is not its payload.
var errReplyMismatch = errors.New("bench: the reply is not the payload sent")

// op makes one call or cast within ctx.
func (b *bench) op(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.p.timeout)
	defer cancel()
	if b.p.cast {
		return b.client.Cast(ctx, benchMethod, b.args)
	}
	var got string
	if err := b.client.Call(ctx, benchMethod, b.args, &got); err != nil {
		return err
	}
	if got != b.args.Data {
		return errReplyMismatch
	}
	return nil
}

// benchResult is what a bench measured, as --json prints it. Latencies
// are of the calls that succeeded (casts: until the broker confirmed),
// zero when none did.
type benchResult struct {
	Mode string `json:"mode"`
	benchWhere
	Topic       string         `json:"topic"`
	Server      string         `json:"server,omitempty"`
	Replicas    int            `json:"replicas"`
	Concurrency int            `json:"concurrency"`
	Payload     int            `json:"payload"`
	DurationS   float64        `json:"duration_s"`
	Calls       int            `json:"calls"`
	OK          int            `json:"ok"`
	Errors      map[string]int `json:"errors"`
	// FirstErrors holds the first error message of each kind counted.
	FirstErrors map[string]string `json:"first_errors,omitempty"`
	PerSec      float64           `json:"per_sec"`
	P50ms       float64           `json:"p50_ms"`
	P90ms       float64           `json:"p90_ms"`
	P99ms       float64           `json:"p99_ms"`
	P999ms      float64           `json:"p999_ms"`
	MaxMs       float64           `json:"max_ms"`
	// Handled is how many casts of the measurement in-process replicas
	// ran, and HandledPerSec how fast from the start of the measurement
	// to the last; nil for calls and live servers.
	Handled       *int    `json:"handled,omitempty"`
	HandledPerSec float64 `json:"handled_per_sec,omitempty"`
	// Interrupted is true when SIGINT or SIGTERM cut the measurement.
	Interrupted bool `json:"interrupted,omitempty"`
}

// measure warms up, measures, and for casts to in-process replicas waits
// for them to run the casts; it returns the result.
func (b *bench) measure(ctx context.Context) *benchResult {
	p := b.p
	if p.warmup > 0 {
		warm := b.phase(ctx, p.warmup, 0)
		if b.run != "" {
			b.awaitHandled(ctx, int64(warm.ok))
		}
	}
	base := b.handled.Load()
	start := time.Now()
	s := b.phase(ctx, p.duration, p.count)
	res := &benchResult{
		Mode: p.mode(), Topic: p.tgt.Topic, Server: p.tgt.Server, Replicas: p.replicas,
		Concurrency: p.conc, Payload: p.payload, DurationS: s.elapsed.Seconds(),
		Calls: s.ok + s.failed(), OK: s.ok, Errors: make(map[string]int), FirstErrors: s.first,
		Interrupted: ctx.Err() != nil,
	}
	for _, k := range errorKinds {
		res.Errors[k] = s.errs[k]
	}
	if s.elapsed > 0 {
		res.PerSec = float64(s.ok) / s.elapsed.Seconds()
	}
	if len(s.lat) > 0 {
		res.P50ms, res.P90ms, res.P99ms = msec(percentile(s.lat, 50)), msec(percentile(s.lat, 90)), msec(percentile(s.lat, 99))
		res.P999ms, res.MaxMs = msec(percentile(s.lat, 99.9)), msec(s.lat[len(s.lat)-1])
	}
	if b.run != "" && !res.Interrupted {
		n := int(b.awaitHandled(ctx, base+int64(s.ok)) - base)
		res.Handled = &n
		if d := time.Since(start); n > 0 {
			res.HandledPerSec = float64(n) / d.Seconds()
		}
	}
	return res
}

// printText prints r as the report of the bench, on w.
func (r *benchResult) printText(w io.Writer, timeout time.Duration) {
	dur := time.Duration(r.DurationS * float64(time.Second)).Round(time.Millisecond)
	fmt.Fprintf(w, "%-9s %d in %v: %d ok, %d failed\n", r.Mode+"s:", r.Calls, dur, r.OK, r.Calls-r.OK)
	fmt.Fprintf(w, "ok/s:     %.0f\n", r.PerSec)
	label := "latency:"
	if r.Mode == "cast" {
		label = "confirm:"
	}
	if r.OK == 0 {
		fmt.Fprintf(w, "%-9s none succeeded\n", label)
	} else {
		fmt.Fprintf(w, "%-9s p50 %.3gms  p90 %.3gms  p99 %.3gms  p99.9 %.3gms  max %.3gms\n",
			label, r.P50ms, r.P90ms, r.P99ms, r.P999ms, r.MaxMs)
	}
	var counts []string
	for _, k := range errorKinds {
		if n := r.Errors[k]; n > 0 {
			counts = append(counts, fmt.Sprintf("%s %d", k, n))
		}
	}
	if len(counts) == 0 {
		fmt.Fprintln(w, "errors:   none")
	}
	if len(counts) > 0 {
		fmt.Fprintf(w, "errors:   %s\n", strings.Join(counts, ", "))
		for _, k := range errorKinds {
			if msg, ok := r.FirstErrors[k]; ok {
				fmt.Fprintf(w, "  first %s: %s\n", k, msg)
			}
		}
	}
	if r.Handled != nil {
		fmt.Fprintf(w, "handled:  %d of %d by the replicas (%.0f/s)\n", *r.Handled, r.OK, r.HandledPerSec)
		if *r.Handled < r.OK {
			fmt.Fprintf(w, "          none in the last %v\n", timeout)
		}
	}
	if r.Interrupted {
		fmt.Fprintln(w, "stopped:  interrupted")
	}
}

// awaitHandled waits until the replicas ran n casts of this run, or none
// for the timeout of a cast, or ctx ends; it returns how many they ran.
func (b *bench) awaitHandled(ctx context.Context, n int64) int64 {
	t := time.NewTimer(b.p.timeout)
	defer t.Stop()
	for {
		got := b.handled.Load()
		if got >= n {
			return got
		}
		select {
		case <-b.progress:
			t.Reset(b.p.timeout)
		case <-t.C:
			return got
		case <-ctx.Done():
			return got
		}
	}
}

// phaseStats is what one goroutine, or all of them, measured in a phase.
type phaseStats struct {
	elapsed time.Duration
	ok      int
	lat     []time.Duration // of the calls that succeeded; sorted once merged
	errs    map[string]int  // failed calls by kind
	first   map[string]string
}

func (s *phaseStats) failed() int {
	n := 0
	for _, c := range s.errs {
		n += c
	}
	return n
}

// count counts err, of kind, n times.
func (s *phaseStats) count(kind, msg string, n int) {
	if s.errs == nil {
		s.errs, s.first = make(map[string]int), make(map[string]string)
	}
	s.errs[kind] += n
	if _, ok := s.first[kind]; !ok {
		s.first[kind] = msg
	}
}

// phase makes calls or casts from b.p.conc goroutines until count were
// made, or when count is zero for d, and returns what they measured: the
// calls started by then that end, each within the timeout, count. It
// stops early when ctx ends; calls cut by ctx count in nothing.
func (b *bench) phase(ctx context.Context, d time.Duration, count int) *phaseStats {
	var (
		tickets atomic.Int64
		wg      sync.WaitGroup
	)
	end := time.Now().Add(d)
	more := func() bool {
		if count > 0 {
			return tickets.Add(1) <= int64(count)
		}
		return time.Now().Before(end)
	}
	results := make([]*phaseStats, b.p.conc)
	start := time.Now()
	for i := range results {
		s := &phaseStats{}
		results[i] = s
		wg.Go(func() {
			for ctx.Err() == nil && more() {
				t := time.Now()
				err := b.op(ctx)
				el := time.Since(t)
				if ctx.Err() != nil {
					return // interrupted: not measured
				}
				if err != nil {
					s.count(errorKind(err), err.Error(), 1)
					continue
				}
				s.ok++
				s.lat = append(s.lat, el)
			}
		})
	}
	wg.Wait()
	total := &phaseStats{elapsed: time.Since(start)}
	for _, s := range results {
		total.ok += s.ok
		total.lat = append(total.lat, s.lat...)
		for _, k := range errorKinds {
			if n := s.errs[k]; n > 0 {
				total.count(k, s.first[k], n)
			}
		}
	}
	slices.Sort(total.lat)
	return total
}

// percentile returns the p-th percentile of sorted, which is not empty,
// by the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// msec returns d in milliseconds, to the microsecond.
func msec(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Millisecond)
}

// payload returns a string of size ASCII bytes.
func payload(size int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var s strings.Builder
	s.Grow(size)
	for s.Len() < size {
		s.WriteString(alphabet[:min(len(alphabet), size-s.Len())])
	}
	return s.String()
}

// plural returns "1 noun" or "n nouns".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
