package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenrpc/warren"
	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
)

const (
	// benchMethod is the method the bench calls or casts: it returns its
	// payload.
	benchMethod = "echo"
	// benchTopic is the default topic of the bench. It is fixed so that
	// runs on a broker reuse the queues earlier runs left.
	benchTopic = "warren-bench"
	// memoryOps and brokerOps are how many calls or casts the bench
	// measures unless -n says otherwise.
	memoryOps = 10000
	brokerOps = 2000
	// minWarmup is the least number of calls or casts made before
	// measuring; there are at least two per goroutine.
	minWarmup = 10
	// maxErrorKinds bounds how many distinct error messages the report
	// lists.
	maxErrorKinds = 5
)

// benchArgs are the keyword arguments of every call and cast of the bench.
type benchArgs struct {
	Payload string `json:"payload"`
	// Run identifies the bench run, in casts only: the replicas count the
	// casts of their own run, not those an earlier run left in the queue.
	Run string `json:"run,omitempty"`
}

// benchParams is what the command line of the bench sets.
type benchParams struct {
	ops      int           // calls or casts to measure
	conc     int           // goroutines issuing them
	size     int           // bytes of the payload
	servers  int           // server replicas
	cast     bool          // casts instead of calls
	timeout  time.Duration // of each call or cast, and of each setup step
	topic    string
	exchange string // the control exchange, for the report
}

// dialer opens one transport of the bench: the client's or a replica's.
type dialer func(ctx context.Context) (transport.Transport, error)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", "[flags]",
		"Measures RPC speed end to end: calls from an rpcclient through the transport, the\n"+
			"server replicas (rpcserver), the dispatcher and a typed echo handler, and back.\n"+
			"After a few warm-up calls it makes -n calls from -c goroutines and prints the\n"+
			"total time, calls per second, latency percentiles and the number of errors. With\n"+
			"-cast it measures casts instead: each returns once the transport has taken it\n"+
			"(on a broker, once the broker confirmed it), and the bench also waits for the\n"+
			"replicas to run them all. It exits 0 when every call succeeded, 1 otherwise.\n\n"+
			"It runs on the in-process memory driver, or on the broker in WARREN_TRANSPORT_URL.\n"+
			"Each replica and the client have a transport (on a broker, connections) of their\n"+
			"own. On a broker the queues <topic> and <topic>.bench-<i> remain afterwards, as\n"+
			"oslo.messaging's do (they are not durable); reruns with the same -topic reuse them.\n\n"+
			"  warren bench -c 16", stderr)
	var p benchParams
	fs.IntVar(&p.ops, "n", 0, "`number` of calls (or casts) to measure (default 10000 on the memory driver, 2000 on a broker)")
	fs.IntVar(&p.conc, "c", 1, "`number` of goroutines making calls at once")
	fs.IntVar(&p.size, "size", 64, "`bytes` of the string each call sends and gets back")
	fs.IntVar(&p.servers, "servers", 1, "`number` of server replicas sharing the topic")
	fs.BoolVar(&p.cast, "cast", false, "measure casts instead of calls")
	fs.DurationVar(&p.timeout, "timeout", 10*time.Second, "timeout of each call or cast, and of connecting and starting each replica")
	fs.StringVar(&p.topic, "topic", benchTopic, "`topic` the replicas serve")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	nSet := false
	fs.Visit(func(f *flag.Flag) { nSet = nSet || f.Name == "n" })
	switch {
	case fs.NArg() > 0:
		return usageError(fs, "unexpected argument %q", fs.Arg(0))
	case nSet && p.ops < 1:
		return usageError(fs, "-n must be at least 1")
	case p.conc < 1:
		return usageError(fs, "-c must be at least 1")
	case p.size < 0:
		return usageError(fs, "-size must not be negative")
	case p.servers < 1:
		return usageError(fs, "-servers must be at least 1")
	case p.timeout <= 0:
		return usageError(fs, "-timeout must be positive")
	case p.topic == "":
		return usageError(fs, "-topic must not be empty")
	}

	cfg, err := transport.ConfigFromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "warren: %v\n", err)
		return exitFailed
	}
	p.exchange = cmp.Or(cfg.ControlExchange, transport.DefaultControlExchange)
	driver := "memory (in process)"
	bus := memory.NewBus()
	dial := func(context.Context) (transport.Transport, error) {
		return memory.New(memory.OnBus(bus), memory.ControlExchange(p.exchange)), nil
	}
	defaultOps := memoryOps
	u, err := brokerURL(cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	if u != nil {
		driver = u.String()
		dial = func(ctx context.Context) (transport.Transport, error) { return warren.Dial(ctx, cfg) }
		defaultOps = brokerOps
	}
	if !nSet {
		p.ops = defaultOps
	}
	return runBenchOn(ctx, p, dial, driver, stdout, stderr)
}

// runBenchOn runs the bench p on transports from dial, which driver
// describes, and returns the exit code. The report goes to stdout; why
// the bench could not run goes to stderr.
func runBenchOn(ctx context.Context, p benchParams, dial dialer, driver string, stdout, stderr io.Writer) int {
	p.conc = min(p.conc, p.ops)
	warmup := max(minWarmup, 2*p.conc)
	b := &bench{
		p:       p,
		args:    benchArgs{Payload: payload(p.size)},
		handled: make(chan struct{}, warmup+p.ops),
	}
	if p.cast {
		b.args.Run = rand.Text()
	}
	what := b.what()
	fmt.Fprintf(stdout, "warren bench: %s of %q through rpcclient, rpcserver and the dispatcher\n", what, benchMethod)
	fmt.Fprintf(stdout, "driver:   %s, control exchange %q\n", driver, p.exchange)
	fmt.Fprintf(stdout, "topic:    %s, served by %s\n", p.topic, plural(p.servers, "replica"))
	fmt.Fprintf(stdout, "%-9s %d from %s, %d-byte payload, %v timeout each, after %d warm-up %s\n",
		what+":", p.ops, plural(p.conc, "goroutine"), p.size, p.timeout, warmup, what)

	dctx, cancel := context.WithTimeout(ctx, p.timeout)
	tr, err := dial(dctx)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "warren: bench: client: %v\n", err)
		return exitFailed
	}
	defer tr.Close()
	b.client = rpcclient.New(tr, target.Target{Topic: p.topic})
	replicas, err := b.startReplicas(ctx, dial)
	if err != nil {
		fmt.Fprintf(stderr, "warren: bench: %v\n", err)
		return exitFailed
	}

	code := b.measure(ctx, warmup, stdout, stderr)
	for _, r := range replicas {
		if err := r.stop(p.timeout); err != nil {
			fmt.Fprintf(stderr, "warren: bench: replica %s: %v\n", r.name, err)
			code = exitFailed
		}
	}
	return code
}

// bench makes the calls or casts and measures them. Its fields do not
// change while the goroutines making calls and the replicas' handlers run.
type bench struct {
	p      benchParams
	client *rpcclient.Client
	args   benchArgs // what every call or cast sends
	// handled receives a value each time a replica runs a cast of this
	// run; its buffer holds all of them.
	handled chan struct{}
}

// what names what the bench measures: "calls" or "casts".
func (b *bench) what() string {
	if b.p.cast {
		return "casts"
	}
	return "calls"
}

// benchReplica is a replica of the bench and the transport it alone uses.
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

// startReplicas starts b.p.servers replicas, each on a transport of its
// own, and returns once they all listen. On error it has stopped those
// that started.
func (b *bench) startReplicas(ctx context.Context, dial dialer) ([]*benchReplica, error) {
	ep := endpoints.New()
	endpoints.Register(ep, benchMethod, b.echo)
	disp, err := dispatcher.New([]*endpoints.Endpoint{ep})
	if err != nil {
		return nil, err
	}
	var replicas []*benchReplica
	for i := range b.p.servers {
		tgt := target.Target{Topic: b.p.topic, Server: fmt.Sprintf("bench-%d", i+1)}
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

// echo is the method the replicas serve: it returns the payload, and
// counts the casts of this run.
func (b *bench) echo(_ context.Context, a benchArgs) (string, error) {
	if a.Run != "" && a.Run == b.args.Run {
		select {
		case b.handled <- struct{}{}:
		default: // a cast delivered twice; the buffer holds one value per cast
		}
	}
	return a.Payload, nil
}

// errReplyMismatch is the error of a call whose result is not its payload.
var errReplyMismatch = errors.New("warren: bench: the reply is not the payload sent")

// op makes one call or cast.
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
	if got != b.args.Payload {
		return errReplyMismatch
	}
	return nil
}

// measure warms up with warmup calls or casts, then measures the bench
// and prints the report. It returns the exit code.
func (b *bench) measure(ctx context.Context, warmup int, stdout, stderr io.Writer) int {
	warm := b.phase(ctx, warmup)
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "warren: bench: interrupted during the warm-up\n")
		return exitFailed
	}
	if warm.failed > 0 {
		fmt.Fprintf(stderr, "warren: bench: %d of %d warm-up %s failed: %s\n", warm.failed, warmup, b.what(), warm.firstError())
		return exitFailed
	}
	if b.p.cast {
		if got := b.awaitHandled(ctx, warmup); got < warmup {
			fmt.Fprintf(stderr, "warren: bench: the replicas ran %d of %d warm-up casts; none in the last %v\n", got, warmup, b.p.timeout)
			return exitFailed
		}
	}

	start := time.Now()
	res := b.phase(ctx, b.p.ops)
	ok := res.failed == 0 && res.done == b.p.ops
	fmt.Fprintf(stdout, "total:    %v\n", round3(res.elapsed))
	fmt.Fprintf(stdout, "%-9s %.0f\n", b.what()+"/s:", float64(len(res.latencies))/res.elapsed.Seconds())
	label := "latency:"
	if b.p.cast {
		label = "confirm:"
	}
	if len(res.latencies) == 0 {
		fmt.Fprintf(stdout, "%-9s none succeeded\n", label)
	} else {
		fmt.Fprintf(stdout, "%-9s p50 %v  p90 %v  p99 %v  max %v\n", label,
			round3(percentile(res.latencies, 50)), round3(percentile(res.latencies, 90)),
			round3(percentile(res.latencies, 99)), round3(res.latencies[len(res.latencies)-1]))
	}
	if b.p.cast && ctx.Err() == nil {
		sent := len(res.latencies)
		got := b.awaitHandled(ctx, sent)
		elapsed := time.Since(start)
		fmt.Fprintf(stdout, "handled:  %d of %d in %v (%.0f/s)\n", got, sent, round3(elapsed), float64(got)/elapsed.Seconds())
		if got < sent {
			fmt.Fprintf(stdout, "          none in the last %v\n", b.p.timeout)
			ok = false
		}
	}
	fmt.Fprintf(stdout, "errors:   %d\n", res.failed)
	for _, e := range res.errorKinds() {
		fmt.Fprintf(stdout, "  %6d × %s\n", res.errs[e], e)
	}
	if res.done < b.p.ops {
		fmt.Fprintf(stdout, "stopped:  interrupted after %d of %d %s\n", res.done, b.p.ops, b.what())
	}
	if !ok {
		return exitFailed
	}
	return exitOK
}

// awaitHandled waits for the replicas to run n casts and returns how many
// they ran: fewer when none came for the timeout of a cast, or when ctx
// ended.
func (b *bench) awaitHandled(ctx context.Context, n int) int {
	t := time.NewTimer(b.p.timeout)
	defer t.Stop()
	for got := range n {
		select {
		case <-b.handled:
			t.Reset(b.p.timeout)
		case <-t.C:
			return got
		case <-ctx.Done():
			return got
		}
	}
	return n
}

// phase makes ops calls or casts from b.p.conc goroutines and returns
// what they measured. It stops early when ctx ends.
func (b *bench) phase(ctx context.Context, ops int) *phaseResult {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	results := make([]*phaseResult, b.p.conc)
	start := time.Now()
	for i := range results {
		r := &phaseResult{latencies: make([]time.Duration, 0, ops/b.p.conc+1)}
		results[i] = r
		wg.Go(func() {
			for ctx.Err() == nil && next.Add(1) <= int64(ops) {
				t := time.Now()
				err := b.op(ctx)
				d := time.Since(t)
				if err != nil && ctx.Err() != nil {
					return // interrupted, not failed
				}
				r.done++
				if err != nil {
					r.failed++
					r.countError(err.Error(), 1)
					continue
				}
				r.latencies = append(r.latencies, d)
			}
		})
	}
	wg.Wait()
	total := &phaseResult{elapsed: time.Since(start)}
	for _, r := range results {
		total.done += r.done
		total.latencies = append(total.latencies, r.latencies...)
		total.failed += r.failed
		for e, n := range r.errs {
			total.countError(e, n)
		}
	}
	slices.Sort(total.latencies)
	return total
}

// phaseResult is what one goroutine, or all of them, measured in a phase.
type phaseResult struct {
	elapsed   time.Duration
	done      int             // calls or casts that returned, successful or not
	latencies []time.Duration // of those that succeeded; sorted once merged
	failed    int             // calls or casts that failed
	// errs counts the failures by error message, for up to maxErrorKinds
	// messages; failures with other messages count in failed only.
	errs map[string]int
}

// countError counts n failures with the error message e in errs, unless
// errs already holds maxErrorKinds other messages.
func (r *phaseResult) countError(e string, n int) {
	if _, ok := r.errs[e]; !ok && len(r.errs) >= maxErrorKinds {
		return
	}
	if r.errs == nil {
		r.errs = make(map[string]int)
	}
	r.errs[e] += n
}

// errorKinds returns the error messages counted, the most frequent first.
func (r *phaseResult) errorKinds() []string {
	return slices.SortedFunc(maps.Keys(r.errs), func(a, b string) int {
		return cmp.Or(cmp.Compare(r.errs[b], r.errs[a]), strings.Compare(a, b))
	})
}

// firstError returns the most frequent error message.
func (r *phaseResult) firstError() string {
	if kinds := r.errorKinds(); len(kinds) > 0 {
		return kinds[0]
	}
	return "(no message)"
}

// percentile returns the p-th percentile of sorted, which is not empty,
// by the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// round3 rounds d to three significant digits: 1.23ms, 456µs, 1.23s.
func round3(d time.Duration) time.Duration {
	unit := time.Duration(1)
	for d/unit >= 1000 {
		unit *= 10
	}
	return d.Round(unit)
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
