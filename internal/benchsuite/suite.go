package benchsuite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/rabbit"
)

// Config is what a run of the suite measures.
type Config struct {
	// URL is the broker's AMQP URL.
	URL string
	// Duration is how long each measurement runs.
	Duration time.Duration
	// Reps is how many times each row is measured; rows are interleaved,
	// so that a drift of the machine's speed touches every variant alike.
	Reps int
	// Short keeps the rows of concurrency 1 and 64 only, with a 100-byte
	// payload: a smoke test of the suite.
	Short bool
	// Log, when not nil, hears each measurement as it ends.
	Log io.Writer
}

// Row is one line of the report: a workload, its baseline and warren.
type Row struct {
	Name        string // e.g. "call c=64 100 B"
	Kind        string // "call" or "cast"
	Concurrency int
	Payload     int
	Fanout      bool
	Baseline    []Result // the baseline variants, e.g. private queue and Direct Reply-to
	Warren      Result
}

// Best returns the best baseline variant by throughput.
func (r *Row) Best() Result {
	best := r.Baseline[0]
	for _, b := range r.Baseline[1:] {
		if b.PerSec > best.PerSec {
			best = b
		}
	}
	return best
}

// Result is the median, over the repetitions, of one variant of a row.
type Result struct {
	Variant string
	Ops     int     // calls or casts that succeeded, in the median rep
	Errors  int     // over every rep
	PerSec  float64 // median over reps
	P50     time.Duration
	P99     time.Duration
	P999    time.Duration
	// CPUPer1000 is the CPU seconds of the process (client and server
	// both run in it) per 1,000 operations.
	CPUPer1000 float64
	// AllocsPerOp is the heap allocations per operation, client and
	// server together.
	AllocsPerOp float64
}

// sample is one measurement.
type sample struct {
	ops, errs        int
	elapsed          time.Duration
	lat              []time.Duration
	cpu              time.Duration
	mallocs          uint64
	p50, p99, p999   time.Duration
	perSec, cpuPer1k float64
}

// op is one operation of a variant; ctx bounds it.
type op func(ctx context.Context) error

// variant is a ready-to-measure side of a row; close releases it.
type variant struct {
	name  string
	op    op
	close func()
}

// rowSpec describes a row and builds its variants.
type rowSpec struct {
	kind    string
	conc    int
	payload int
	fanout  bool
}

func (s rowSpec) name() string {
	n := fmt.Sprintf("%s c=%d %s", s.kind, s.conc, size(s.payload))
	if s.fanout {
		n = fmt.Sprintf("fanout cast to 3 c=%d %s", s.conc, size(s.payload))
	}
	return n
}

func size(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1000:
		return fmt.Sprintf("%d KB", n/1000)
	default:
		return fmt.Sprintf("%d B", n)
	}
}

func specs(short bool) []rowSpec {
	if short {
		return []rowSpec{{"call", 1, 100, false}, {"call", 64, 100, false}, {"cast", 64, 100, false}}
	}
	var out []rowSpec
	for _, c := range []int{1, 16, 64, 256} {
		out = append(out, rowSpec{"call", c, 100, false})
	}
	for _, c := range []int{1, 16, 64, 256} {
		out = append(out, rowSpec{"cast", c, 100, false})
	}
	out = append(out,
		rowSpec{"call", 16, 10_000, false},
		rowSpec{"call", 4, 1 << 20, false},
		rowSpec{"cast", 16, 100, true},
	)
	return out
}

// Run measures every row, Reps times, interleaved, and returns the rows
// with the medians.
func Run(ctx context.Context, cfg Config) ([]Row, error) {
	if cfg.Reps < 1 || cfg.Duration <= 0 {
		return nil, errors.New("benchsuite: Reps and Duration must be positive")
	}
	env, err := newEnv(ctx, cfg.URL)
	if err != nil {
		return nil, err
	}
	defer env.close()
	sp := specs(cfg.Short)
	samples := make([][][]sample, len(sp)) // row, variant, rep
	names := make([][]string, len(sp))
	for rep := range cfg.Reps {
		for i, s := range sp {
			vs, err := env.variants(ctx, s)
			if err != nil {
				return nil, fmt.Errorf("benchsuite: %s: %w", s.name(), err)
			}
			if samples[i] == nil {
				samples[i] = make([][]sample, len(vs))
				for _, v := range vs {
					names[i] = append(names[i], v.name)
				}
			}
			for j, v := range vs {
				// Casts may leave a backlog that the next measurement
				// would wait behind.
				if err := env.waitIdle(ctx); err != nil {
					return nil, err
				}
				sm := measure(ctx, v.op, s.conc, cfg.Duration)
				v.close()
				samples[i][j] = append(samples[i][j], sm)
				if cfg.Log != nil {
					fmt.Fprintf(cfg.Log, "rep %d  %-26s %-22s %9.0f/s  p50 %v  errors %d\n",
						rep+1, s.name(), v.name, sm.perSec, sm.p50.Round(time.Microsecond), sm.errs)
				}
			}
		}
	}
	rows := make([]Row, len(sp))
	for i, s := range sp {
		r := Row{Name: s.name(), Kind: s.kind, Concurrency: s.conc, Payload: s.payload, Fanout: s.fanout}
		for j, n := range names[i] {
			res := median(n, samples[i][j])
			if j == len(names[i])-1 {
				r.Warren = res
			} else {
				r.Baseline = append(r.Baseline, res)
			}
		}
		rows[i] = r
	}
	return rows, nil
}

// median summarises the reps of one variant by their median throughput.
func median(name string, reps []sample) Result {
	sorted := slices.Clone(reps)
	slices.SortFunc(sorted, func(a, b sample) int {
		switch {
		case a.perSec < b.perSec:
			return -1
		case a.perSec > b.perSec:
			return 1
		}
		return 0
	})
	m := sorted[len(sorted)/2]
	errs := 0
	for _, s := range reps {
		errs += s.errs
	}
	res := Result{Variant: name, Ops: m.ops, Errors: errs, PerSec: m.perSec, P50: m.p50, P99: m.p99, P999: m.p999, CPUPer1000: m.cpuPer1k}
	if m.ops > 0 {
		res.AllocsPerOp = float64(m.mallocs) / float64(m.ops)
	}
	return res
}

// measure runs o from conc goroutines for d, after a short warm-up.
func measure(ctx context.Context, o op, conc int, d time.Duration) sample {
	warm, cancel := context.WithTimeout(ctx, d/10)
	run(warm, o, conc, false)
	cancel()

	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, d)
	lat, errs := run(rctx, o, conc, true)
	cancel()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&ms1)

	s := sample{ops: len(lat), errs: errs, elapsed: elapsed, lat: lat, cpu: cpu, mallocs: ms1.Mallocs - ms0.Mallocs}
	slices.Sort(lat)
	s.p50, s.p99, s.p999 = pct(lat, 0.50), pct(lat, 0.99), pct(lat, 0.999)
	s.perSec = float64(s.ops) / elapsed.Seconds()
	if s.ops > 0 {
		s.cpuPer1k = cpu.Seconds() * 1000 / float64(s.ops)
	}
	return s
}

// run calls o from conc goroutines until ctx ends; it returns the
// latencies of the operations that succeeded and the count of errors
// (an operation cut by ctx's end counts as neither).
func run(ctx context.Context, o op, conc int, keep bool) ([]time.Duration, int) {
	var (
		mu   sync.Mutex
		all  []time.Duration
		errs atomic.Int64
		wg   sync.WaitGroup
	)
	for range conc {
		wg.Go(func() {
			var lat []time.Duration
			for ctx.Err() == nil {
				octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				t0 := time.Now()
				err := o(octx)
				el := time.Since(t0)
				cancel()
				switch {
				case err != nil:
					errs.Add(1)
				case keep && ctx.Err() == nil:
					lat = append(lat, el)
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return all, int(errs.Load())
}

func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// env holds what every row shares: the warren client and servers and the
// raw peers, started once.
type env struct {
	url      string
	topic    string
	exchange string
	client   *rabbit.Transport
	servers  []*rabbit.Transport
	srvs     []*rpcserver.Server
	served   sync.WaitGroup
	rawSrv   *rawServer
	drain    *rawDrain
	payloads map[int]string
}

const echoMethod = "echo"

type echoArgs struct {
	Data string `json:"data"`
}

func newEnv(ctx context.Context, url string) (e *env, err error) {
	e = &env{url: url, topic: "warren-benchsuite-" + wire.NewID()[:8], exchange: "openstack", payloads: make(map[int]string)}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.client, err = rabbit.Dial(ctx, url); err != nil {
		return nil, fmt.Errorf("benchsuite: client: %w", err)
	}
	ep := endpoints.New()
	endpoints.Register(ep, echoMethod, func(_ context.Context, a echoArgs) (echoArgs, error) { return a, nil })
	disp, err := dispatcher.New([]*endpoints.Endpoint{ep})
	if err != nil {
		return nil, err
	}
	for i := range 3 {
		tr, err := rabbit.Dial(ctx, url)
		if err != nil {
			return nil, fmt.Errorf("benchsuite: server: %w", err)
		}
		e.servers = append(e.servers, tr)
		srv := rpcserver.New(tr, target.Target{Topic: e.topic, Server: fmt.Sprintf("s%d", i+1)}, disp)
		if err := srv.Listen(ctx); err != nil {
			return nil, fmt.Errorf("benchsuite: server: %w", err)
		}
		e.srvs = append(e.srvs, srv)
		e.served.Go(func() { _ = srv.Serve(context.Background()) })
	}
	if err := e.rawTopology(); err != nil {
		return nil, err
	}
	return e, nil
}

// rawTopology declares the raw peers' queues, deleted with their
// consumers: <topic>-raw and <topic>-rawcast bound to the control
// exchange with their names, and <topic>-rawfan<i> bound to fanout
// exchange <topic>-rawfan; the cast queues are drained.
func (e *env) rawTopology() error {
	conn, err := amqp.Dial(e.url)
	if err != nil {
		return fmt.Errorf("benchsuite: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("benchsuite: %w", err)
	}
	fan := e.topic + "-rawfan"
	if err := ch.ExchangeDeclare(fan, "fanout", false, true, false, false, nil); err != nil {
		return fmt.Errorf("benchsuite: %w", err)
	}
	binds := [][2]string{{e.topic + "-raw", e.exchange}, {e.topic + "-rawcast", e.exchange}}
	for i := range 3 {
		binds = append(binds, [2]string{fmt.Sprintf("%s%d", fan, i+1), fan})
	}
	for _, b := range binds {
		if _, err := ch.QueueDeclare(b[0], false, true, false, false, nil); err != nil {
			return fmt.Errorf("benchsuite: %w", err)
		}
		if err := ch.QueueBind(b[0], b[0], b[1], false, nil); err != nil {
			return fmt.Errorf("benchsuite: %w", err)
		}
	}
	if e.rawSrv, err = startRawServer(e.url, binds[0][0]); err != nil {
		return err
	}
	queues := []string{binds[1][0]}
	for _, b := range binds[2:] {
		queues = append(queues, b[0])
	}
	e.drain, err = startRawDrain(e.url, queues...)
	return err
}

// waitIdle waits, up to a minute, until the run's queues hold no
// message.
func (e *env) waitIdle(ctx context.Context) error {
	conn, err := amqp.Dial(e.url)
	if err != nil {
		return fmt.Errorf("benchsuite: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("benchsuite: %w", err)
	}
	queues := []string{e.topic, e.topic + "-raw", e.topic + "-rawcast"}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for {
		left := 0
		for _, q := range queues {
			st, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
			if err != nil {
				return fmt.Errorf("benchsuite: %w", err)
			}
			left += st.Messages
		}
		if left == 0 {
			return nil
		}
		select {
		case <-tick.C:
		case <-deadline:
			return fmt.Errorf("benchsuite: %d messages still queued after a minute", left)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// deleteQueues deletes warren's queues of the run, which oslo.messaging's
// topology keeps.
func (e *env) deleteQueues() {
	conn, err := amqp.Dial(e.url)
	if err != nil {
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return
	}
	for _, q := range []string{e.topic, e.topic + ".s1", e.topic + ".s2", e.topic + ".s3"} {
		_, _ = ch.QueueDelete(q, false, false, false)
	}
}

// payload returns a string of n bytes, made once.
func (e *env) payload(n int) string {
	if p, ok := e.payloads[n]; ok {
		return p
	}
	p := strings.Repeat("x", n)
	e.payloads[n] = p
	return p
}

// body returns an oslo.messaging request envelope of echo with an n-byte
// payload, as warren sends it, for the raw peers.
func (e *env) body(n int) ([]byte, error) {
	args, err := json.Marshal(echoArgs{Data: e.payload(n)})
	if err != nil {
		return nil, err
	}
	return wire.EncodeRequest(&message.Request{Method: echoMethod, Args: args, MsgID: wire.NewID(), UniqueID: wire.NewID()})
}

// variants returns the baselines of s, then warren's variant.
func (e *env) variants(ctx context.Context, s rowSpec) ([]variant, error) {
	body, err := e.body(s.payload)
	if err != nil {
		return nil, err
	}
	args := echoArgs{Data: e.payload(s.payload)}
	var vs []variant
	switch {
	case s.kind == "call":
		for _, direct := range []bool{false, true} {
			c, err := newRawClient(e.url, direct)
			if err != nil {
				return nil, err
			}
			name := "amqp091 private queue"
			if direct {
				name = "amqp091 Direct Reply-to"
			}
			vs = append(vs, variant{name, func(ctx context.Context) error {
				return c.call(ctx, e.exchange, e.topic+"-raw", body)
			}, c.close})
		}
		cl := rpcclient.New(e.client, target.Target{Topic: e.topic})
		vs = append(vs, variant{"warren", func(ctx context.Context) error {
			var out echoArgs
			return cl.Call(ctx, echoMethod, args, &out)
		}, func() {}})
	case s.fanout:
		c, err := newRawCaster(e.url)
		if err != nil {
			return nil, err
		}
		vs = append(vs, variant{"amqp091 confirms, streamed", func(ctx context.Context) error {
			return c.cast(ctx, e.topic+"-rawfan", e.topic, body)
		}, c.close})
		cl := rpcclient.New(e.client, target.Target{Topic: e.topic}, rpcclient.Fanout())
		vs = append(vs, variant{"warren", func(ctx context.Context) error {
			return cl.Cast(ctx, echoMethod, args)
		}, func() {}})
	default:
		c, err := newRawCaster(e.url)
		if err != nil {
			return nil, err
		}
		vs = append(vs, variant{"amqp091 confirms, streamed", func(ctx context.Context) error {
			return c.cast(ctx, e.exchange, e.topic+"-rawcast", body)
		}, c.close})
		cl := rpcclient.New(e.client, target.Target{Topic: e.topic})
		vs = append(vs, variant{"warren", func(ctx context.Context) error {
			return cl.Cast(ctx, echoMethod, args)
		}, func() {}})
	}
	return vs, nil
}

func (e *env) close() {
	if e.rawSrv != nil {
		e.rawSrv.close()
	}
	if e.drain != nil {
		e.drain.close()
	}
	for _, srv := range e.srvs {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	e.served.Wait()
	for _, tr := range e.servers {
		_ = tr.Close()
	}
	if e.client != nil {
		_ = e.client.Close()
	}
	e.deleteQueues()
}
