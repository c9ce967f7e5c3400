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
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/warrenrpc/warren/internal/wire"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/rpcclient"
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
	// Short keeps four rows (calls at concurrency 1 and 64, casts at 64,
	// calls at 1 on quorum queues), with a 100-byte payload: a smoke test
	// of the suite.
	Short bool
	// Log, when not nil, hears each measurement as it ends.
	Log io.Writer
}

// Row is one line of the report: a workload, its baseline and warren.
type Row struct {
	// Name says the workload, e.g. "call c=64 100 B", "cast c=64 100 B
	// to rpcserver" (warren's casts go to its rpcserver, end to end; in
	// the other cast rows they go to the baseline's consumer, so that the
	// two publishers meet the same consumer) or "call c=1 100 B quorum".
	Name string
	// Quorum is true for the rows with the quorum ("modern") queue
	// preset: warren with rabbit.Queues{Quorum: true, TransientQuorum:
	// true}, the baseline with quorum request, cast and reply queues.
	Quorum   bool
	Baseline []Result // the baseline variants, e.g. private queue and Direct Reply-to
	Warren   Result
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
	// ClientCPUPer1000 and ServerCPUPer1000 are the CPU seconds, user
	// and system, of the client process and of the server process per
	// 1,000 operations. The servers run in a process of their own.
	ClientCPUPer1000 float64
	ServerCPUPer1000 float64
	// BrokerCPUPer1000 is the same for the broker's process, when
	// BrokerMeasured: the broker runs on this machine and its process
	// could be found (see findBroker).
	BrokerCPUPer1000 float64
	BrokerMeasured   bool
	// AllocsPerOp is the heap allocations per operation of the client
	// process.
	AllocsPerOp float64
}

// sample is one measurement.
type sample struct {
	ops, errs       int
	elapsed         time.Duration
	lat             []time.Duration
	cpu, srvCPU     time.Duration // of the client and the server process
	brokerCPU       time.Duration // of the broker, when brokerSeen
	brokerSeen      bool
	mallocs         uint64
	p50, p99, p999  time.Duration
	perSec          float64
	cpuPer1k, srv1k float64
	broker1k        float64
}

// op is one operation of a variant; ctx bounds it.
type op func(ctx context.Context) error

// variant is a ready-to-measure side of a row; close releases it.
type variant struct {
	name   string
	op     op
	close  func()
	server *serverProc // whose CPU time counts as the server's
}

// rowSpec describes a row and builds its variants.
type rowSpec struct {
	kind    string
	conc    int
	payload int
	fanout  bool
	served  bool // a cast row whose warren variant casts to warren's rpcserver
	quorum  bool
}

func (s rowSpec) name() string {
	n := fmt.Sprintf("%s c=%d %s", s.kind, s.conc, size(s.payload))
	if s.fanout {
		n = fmt.Sprintf("fanout cast to 3 c=%d %s", s.conc, size(s.payload))
	}
	if s.served {
		n += " to rpcserver"
	}
	if s.quorum {
		n += " quorum"
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
		return []rowSpec{
			{kind: "call", conc: 1, payload: 100}, {kind: "call", conc: 64, payload: 100}, {kind: "cast", conc: 64, payload: 100},
			{kind: "call", conc: 1, payload: 100, quorum: true},
		}
	}
	var out []rowSpec
	for _, kind := range []string{"call", "cast"} {
		for _, c := range []int{1, 16, 64, 256} {
			out = append(out, rowSpec{kind: kind, conc: c, payload: 100})
		}
	}
	return append(out,
		rowSpec{kind: "cast", conc: 64, payload: 100, served: true},
		rowSpec{kind: "call", conc: 16, payload: 10_000},
		rowSpec{kind: "call", conc: 4, payload: 1 << 20},
		rowSpec{kind: "cast", conc: 16, payload: 100, fanout: true},
		rowSpec{kind: "call", conc: 1, payload: 100, quorum: true},
		rowSpec{kind: "call", conc: 64, payload: 100, quorum: true},
		rowSpec{kind: "cast", conc: 64, payload: 100, quorum: true},
	)
}

// Run measures every row, Reps times, interleaved, and returns the rows
// with the medians.
func Run(ctx context.Context, cfg Config) ([]Row, error) {
	if cfg.Reps < 1 || cfg.Duration <= 0 {
		return nil, errors.New("benchsuite: Reps and Duration must be positive")
	}
	sp := specs(cfg.Short)
	broker, err := findBroker(cfg.URL)
	if err != nil && cfg.Log != nil {
		fmt.Fprintf(cfg.Log, "the broker's CPU time is not measured: %v\n", err)
	}
	envs := make(map[bool]*env) // by quorum
	defer func() {
		for _, e := range envs {
			e.close()
		}
	}()
	for _, s := range sp {
		if envs[s.quorum] == nil {
			e, err := newEnv(ctx, cfg.URL, s.quorum)
			if err != nil {
				return nil, err
			}
			envs[s.quorum] = e
		}
	}
	samples := make([][][]sample, len(sp)) // row, variant, rep
	names := make([][]string, len(sp))
	for rep := range cfg.Reps {
		for i, s := range sp {
			env := envs[s.quorum]
			vs, err := env.variants(s)
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
				sm, err := measure(ctx, v, s.conc, cfg.Duration, broker)
				v.close()
				if err != nil {
					return nil, err
				}
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
		r := Row{Name: s.name(), Quorum: s.quorum}
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
	res := Result{Variant: name, Ops: m.ops, Errors: errs, PerSec: m.perSec, P50: m.p50, P99: m.p99, P999: m.p999,
		ClientCPUPer1000: m.cpuPer1k, ServerCPUPer1000: m.srv1k, BrokerCPUPer1000: m.broker1k, BrokerMeasured: m.brokerSeen}
	if m.ops > 0 {
		res.AllocsPerOp = float64(m.mallocs) / float64(m.ops)
	}
	return res
}

// measure runs v's op from conc goroutines for d, after a short warm-up,
// and measures the CPU time of this process, of v's server process and,
// when broker is not nil, of the broker.
func measure(ctx context.Context, v variant, conc int, d time.Duration, broker *brokerProc) (sample, error) {
	warm, cancel := context.WithTimeout(ctx, d/10)
	run(warm, v.op, conc, false)
	cancel()

	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	srv0, err := v.server.cpu(ctx)
	if err != nil {
		return sample{}, err
	}
	brk0, brkSeen := broker.sample()
	cpu0 := cpuTime()
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, d)
	lat, errs := run(rctx, v.op, conc, true)
	cancel()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	brk1, seen := broker.sample()
	brkSeen = brkSeen && seen // it may have gone away: the rest of the sample stands
	srv1, err := v.server.cpu(ctx)
	if err != nil {
		return sample{}, err
	}
	runtime.ReadMemStats(&ms1)

	s := sample{ops: len(lat), errs: errs, elapsed: elapsed, lat: lat, cpu: cpu, srvCPU: srv1 - srv0, mallocs: ms1.Mallocs - ms0.Mallocs,
		brokerCPU: brk1 - brk0, brokerSeen: brkSeen}
	slices.Sort(lat)
	s.p50, s.p99, s.p999 = pct(lat, 0.50), pct(lat, 0.99), pct(lat, 0.999)
	s.perSec = float64(s.ops) / elapsed.Seconds()
	if s.ops > 0 {
		s.cpuPer1k = cpu.Seconds() * 1000 / float64(s.ops)
		s.srv1k = s.srvCPU.Seconds() * 1000 / float64(s.ops)
		s.broker1k = s.brokerCPU.Seconds() * 1000 / float64(s.ops)
	}
	return s, nil
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

// env holds what the rows of one queue preset share: the warren client,
// the server processes of warren and of the baseline, started once, on a
// topic and a control exchange of their own.
type env struct {
	url      string
	topic    string
	exchange string
	quorum   bool
	client   *rabbit.Transport
	warren   *serverProc
	baseline *serverProc
	payloads map[int]string
}

const echoMethod = "echo"

type echoArgs struct {
	Data string `json:"data"`
}

// newEnv starts the rows' servers, with the quorum preset or without.
func newEnv(ctx context.Context, url string, quorum bool) (e *env, err error) {
	id := wire.NewID()[:8]
	e = &env{url: url, topic: "warren-benchsuite-" + id, exchange: "warren-benchsuite-" + id, quorum: quorum, payloads: make(map[int]string)}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.client, err = rabbit.Dial(ctx, url, rabbit.ControlExchange(e.exchange), rabbit.QueuePreset(preset(quorum))); err != nil {
		return nil, fmt.Errorf("benchsuite: client: %w", err)
	}
	spec := serverSpec{Role: roleWarren, URL: url, Topic: e.topic, Exchange: e.exchange, Quorum: quorum, Fanout: !quorum}
	if e.warren, err = startServerProc(ctx, spec); err != nil {
		return nil, err
	}
	if err := e.rawTopology(); err != nil {
		return nil, err
	}
	spec.Role = roleBaseline
	if e.baseline, err = startServerProc(ctx, spec); err != nil {
		return nil, err
	}
	return e, nil
}

// queueArgs returns the arguments of the baseline's queues: quorum ones,
// or none.
func (e *env) queueArgs() amqp.Table {
	if e.quorum {
		return amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}
	}
	return nil
}

// rawQueues returns the queues the baseline's process consumes (see
// rawNames) and the exchanges they are bound to with their names: the
// control exchange, and without the quorum preset the baseline's fanout
// exchange.
func (e *env) rawQueues() [][2]string {
	n := rawNames(e.topic)
	var qs [][2]string
	for _, q := range []string{n.echo, n.json, n.cast, n.warrenCast} {
		qs = append(qs, [2]string{q, e.exchange})
	}
	if !e.quorum {
		for _, q := range n.fanout {
			qs = append(qs, [2]string{q, n.fanoutExchange})
		}
	}
	return qs
}

// rawTopology declares the baseline's queues, durable quorum queues with
// the quorum preset, else transient auto-delete classic ones; close
// deletes them.
func (e *env) rawTopology() error {
	return e.withChannel(func(ch *amqp.Channel) error {
		if !e.quorum {
			if err := ch.ExchangeDeclare(rawNames(e.topic).fanoutExchange, "fanout", false, true, false, false, nil); err != nil {
				return err
			}
		}
		for _, b := range e.rawQueues() {
			if _, err := ch.QueueDeclare(b[0], e.quorum, !e.quorum, false, false, e.queueArgs()); err != nil {
				return err
			}
			if err := ch.QueueBind(b[0], b[0], b[1], false, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// withChannel runs f on a channel of a connection of its own.
func (e *env) withChannel(f func(ch *amqp.Channel) error) error {
	conn, err := amqp.Dial(e.url)
	if err != nil {
		return fmt.Errorf("benchsuite: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("benchsuite: %w", err)
	}
	if err := f(ch); err != nil {
		return fmt.Errorf("benchsuite: %w", err)
	}
	return nil
}

// waitIdle waits, up to a minute, until warren's request queue and the
// queues the baseline's process consumes hold no message.
func (e *env) waitIdle(ctx context.Context) error {
	return e.withChannel(func(ch *amqp.Channel) error {
		queues := []string{e.topic}
		for _, b := range e.rawQueues() {
			queues = append(queues, b[0])
		}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(time.Minute)
		for {
			left := 0
			for _, q := range queues {
				st, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
				if err != nil {
					return err
				}
				left += st.Messages
			}
			if left == 0 {
				return nil
			}
			select {
			case <-tick.C:
			case <-deadline:
				return fmt.Errorf("%d messages still queued after a minute", left)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
}

// deleteTopology deletes the queues and exchanges of the env that remain
// without consumers (oslo.messaging's topology keeps its queues).
func (e *env) deleteTopology() {
	_ = e.withChannel(func(ch *amqp.Channel) error {
		fan := fanoutTopic(e.topic)
		queues := []string{e.topic, e.topic + ".s1", fan, fan + ".f1", fan + ".f2", fan + ".f3"}
		for _, b := range e.rawQueues() {
			queues = append(queues, b[0])
		}
		for _, q := range queues {
			_, _ = ch.QueueDelete(q, false, false, false)
		}
		for _, x := range []string{e.exchange, e.topic + "_fanout", fan + "_fanout", rawNames(e.topic).fanoutExchange} {
			_ = ch.ExchangeDelete(x, false, false)
		}
		return nil
	})
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

// rawJSONVariant names the baseline that encodes and decodes oslo.messaging
// messages with encoding/json, as a hand-written peer of oslo.messaging
// services must (the other call baselines echo the request's bytes).
const rawJSONVariant = "amqp091 + encoding/json"

// variants returns the baselines of s, then warren's variant.
func (e *env) variants(s rowSpec) ([]variant, error) {
	body, err := e.body(s.payload)
	if err != nil {
		return nil, err
	}
	raw := rawNames(e.topic)
	args := echoArgs{Data: e.payload(s.payload)}
	var vs []variant
	none := func() {}
	switch {
	case s.kind == "call":
		for _, direct := range []bool{false, true} {
			c, err := newRawClient(e.url, direct, e.queueArgs())
			if err != nil {
				return nil, err
			}
			name := "amqp091 private queue"
			if e.quorum {
				name = "amqp091 quorum reply queue"
			}
			if direct {
				name = "amqp091 Direct Reply-to"
			}
			vs = append(vs, variant{name, func(ctx context.Context) error {
				return c.call(ctx, e.exchange, raw.echo, body)
			}, c.close, e.baseline})
		}
		if !e.quorum {
			c, err := newRawJSONClient(e.url)
			if err != nil {
				return nil, err
			}
			vs = append(vs, variant{rawJSONVariant, func(ctx context.Context) error {
				return c.call(ctx, e.exchange, raw.json, args)
			}, c.close, e.baseline})
		}
		cl := rpcclient.New(e.client, target.Target{Topic: e.topic})
		vs = append(vs, variant{"warren", func(ctx context.Context) error {
			var out echoArgs
			return cl.Call(ctx, echoMethod, args, &out)
		}, none, e.warren})
	default:
		c, err := newRawCaster(e.url)
		if err != nil {
			return nil, err
		}
		exchange, key := e.exchange, raw.cast
		if s.fanout {
			exchange, key = raw.fanoutExchange, e.topic
		}
		vs = append(vs, variant{"amqp091 confirms, streamed", func(ctx context.Context) error {
			return c.cast(ctx, exchange, key, body)
		}, c.close, e.baseline})
		// Unless the row is served end to end, warren's casts go to the
		// baseline's consumer, as the baseline's do.
		tg, server := target.Target{Topic: raw.warrenCast}, e.baseline
		var opts []rpcclient.Option
		switch {
		case s.fanout:
			tg.Topic, server = fanoutTopic(e.topic), e.warren
			opts = append(opts, rpcclient.Fanout())
		case s.served:
			tg.Topic, server = e.topic, e.warren
		}
		cl := rpcclient.New(e.client, tg, opts...)
		vs = append(vs, variant{"warren", func(ctx context.Context) error {
			return cl.Cast(ctx, echoMethod, args)
		}, none, server})
	}
	return vs, nil
}

func (e *env) close() {
	for _, p := range []*serverProc{e.baseline, e.warren} {
		if p != nil {
			p.close()
		}
	}
	if e.client != nil {
		_ = e.client.Close()
	}
	e.deleteTopology()
}
