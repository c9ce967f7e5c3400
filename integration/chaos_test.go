package integration_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/internal/rabbitnode"
	"github.com/warrenrpc/warren/internal/tcprelay"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/rabbit"
)

// The chaos tests break private RabbitMQ nodes (rabbitnode) under steady
// calls and casts from several clients to three replicas running as
// separate processes (this test binary run again as TestChaosReplica),
// and print what callers saw. Run them alone with
//
//	./scripts/test -run Chaos -v ./integration/
//
// Their nodes take free AMQP ports from 5700-5719 (distribution ports
// 20000 above), reserved across processes, and are named after their
// port, so that two runs on one machine never meet.

const (
	// chaosReplicaEnv carries a replica process's replicaConfig as JSON.
	chaosReplicaEnv = "WARREN_CHAOS_REPLICA"
	// callTimeout is each call's deadline, castTimeout each cast's ctx.
	callTimeout = 2 * time.Second
	castTimeout = 2 * time.Second
	// lateSlack is how long after its deadline a call may return before
	// it counts as pending past its deadline (a loaded 2-core machine
	// running the race detector is slow to schedule).
	lateSlack = time.Second
	// serveAgainLimit is how soon after the broker is back every replica
	// must serve again.
	serveAgainLimit = 2 * time.Second
	// callEvery and castEvery pace each client: with three clients, about
	// 20 calls/s and 50 casts/s in all.
	callEvery = 150 * time.Millisecond
	castEvery = 60 * time.Millisecond
)

// replicaConfig tells a replica process what to serve.
type replicaConfig struct {
	URL, Exchange, Topic, Server string
	// AtLeastOnce serves casts at least once, on quorum queues.
	AtLeastOnce bool
	// Work is how long handling a cast takes.
	Work time.Duration
}

type noteArgs struct {
	ID string `json:"id"`
}

// TestChaosReplica is the body of a replica process: it serves the
// chaos topic as one server until its stdin closes, and reports on stdout
// "ready", "start <id>" and "cast <id>" as it begins and ends handling
// each cast, and "state <state>
// <unix ms>" for each change of its transport's state. Run as a test, it
// skips.
func TestChaosReplica(t *testing.T) {
	raw := os.Getenv(chaosReplicaEnv)
	if raw == "" {
		t.Skip("the body of a chaos test's replica process")
	}
	var cfg replicaConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("%s: %v", chaosReplicaEnv, err)
	}
	var mu sync.Mutex
	emit := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("replica", cfg.Server)
	opts := []rabbit.Option{rabbit.Logger(log), rabbit.OnStateChange(func(c rabbit.StateChange) {
		emit("state %s %d", c.State, c.At.UnixMilli())
	})}
	if cfg.AtLeastOnce {
		opts = append(opts, rabbit.AtLeastOnce(), quorumPreset)
	}
	tr, err := rabbit.Dial(ctx, cfg.URL, opts...)
	if err != nil {
		t.Fatalf("rabbit.Dial: %v", err)
	}
	defer tr.Close()
	ep := endpoints.New()
	endpoints.Register(ep, "echo", func(context.Context, struct{}) (string, error) { return cfg.Server, nil })
	endpoints.Register(ep, "note", func(_ context.Context, a noteArgs) (bool, error) {
		emit("start %s", a.ID)
		<-time.After(cfg.Work) // the handler's work
		emit("cast %s", a.ID)
		return true, nil
	})
	d, err := dispatcher.New([]*endpoints.Endpoint{ep})
	if err != nil {
		t.Fatalf("dispatcher.New: %v", err)
	}
	tgt := target.Target{Exchange: cfg.Exchange, Topic: cfg.Topic, Server: cfg.Server}
	srv := rpcserver.New(tr, tgt, d)
	if err := srv.Listen(ctx); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	emit("ready")
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_, _ = io.Copy(io.Discard, os.Stdin)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	if err := srv.Serve(context.Background()); !errors.Is(err, rpcserver.ErrServerClosed) {
		emit("serve-error %v", err)
		t.Errorf("Serve = %v, want ErrServerClosed after the parent closed stdin", err)
	}
	<-stopped
}

// replica is a replica process seen from the test.
type replica struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	ready  chan struct{}
	done   chan struct{} // closed when its stdout ends
	killed atomic.Bool   // the test killed it
}

// rig is one chaos run: replicas, clients and what they saw.
type rig struct {
	t        *testing.T
	exchange string
	topic    string
	replicas []*replica
	clients  []*rpcclient.Client
	states   chan rabbit.StateChange // of the clients' transports

	mu          sync.Mutex
	handling    map[string]map[string]bool // replica -> ids of the casts it is handling
	handled     map[string]int             // cast id -> times handled
	handledNews chan struct{}              // capacity 1: handling or handled changed
	serveErrs   []string
	calls       []callRecord
	casts       []castRecord
}

type callRecord struct {
	start, end, deadline time.Time
	err                  error
}

type castRecord struct {
	id         string
	start, end time.Time
	err        error
}

// newRig starts three replicas on replicaURL and three clients on
// clientURL, each on a transport of its own, and waits until the
// replicas serve.
func newRig(t *testing.T, name, replicaURL, clientURL string) *rig {
	t.Helper()
	return newRigWith(t, name, replicaURL, clientURL, rigConfig{replicas: 3})
}

// rigConfig is how a rig differs from newRig's.
type rigConfig struct {
	replicas    int
	atLeastOnce bool          // replicas serve casts at least once, everyone on quorum queues
	work        time.Duration // how long handling a cast takes
}

// newRigWith is newRig with cfg.
func newRigWith(t *testing.T, name, replicaURL, clientURL string, cfg rigConfig) *rig {
	t.Helper()
	r := &rig{
		t:           t,
		exchange:    unique(t, name+"-x"),
		topic:       unique(t, name),
		states:      make(chan rabbit.StateChange, 256),
		handling:    make(map[string]map[string]bool),
		handled:     make(map[string]int),
		handledNews: make(chan struct{}, 1),
	}
	for i := range cfg.replicas {
		r.startReplica(fmt.Sprintf("r%d", i+1), replicaURL, cfg)
	}
	for _, rp := range r.replicas {
		select {
		case <-rp.ready:
		case <-rp.done:
			t.Fatalf("replica %s ended before it served", rp.name)
		case <-time.After(time.Minute):
			t.Fatalf("replica %s did not serve within a minute", rp.name)
		}
	}
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		opts := []rabbit.Option{rabbit.OnStateChange(func(c rabbit.StateChange) {
			select {
			case r.states <- c:
			default:
			}
		})}
		if cfg.atLeastOnce {
			opts = append(opts, quorumPreset)
		}
		tr, err := rabbit.Dial(ctx, clientURL, opts...)
		cancel()
		if err != nil {
			t.Fatalf("rabbit.Dial(%s) = %v", clientURL, err)
		}
		t.Cleanup(func() { tr.Close() })
		r.clients = append(r.clients, rpcclient.New(tr, target.Target{Exchange: r.exchange, Topic: r.topic}))
	}
	return r
}

func (r *rig) startReplica(name, url string, rc rigConfig) {
	t := r.t
	cfg, _ := json.Marshal(replicaConfig{URL: url, Exchange: r.exchange, Topic: r.topic, Server: name,
		AtLeastOnce: rc.atLeastOnce, Work: rc.work})
	cmd := exec.Command(os.Args[0], "-test.run=^TestChaosReplica$", "-test.count=1")
	cmd.Env = append(os.Environ(), chaosReplicaEnv+"="+string(cfg))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("replica %s: %v", name, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("replica %s: %v", name, err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("replica %s: %v", name, err)
	}
	rp := &replica{name: name, cmd: cmd, stdin: stdin, ready: make(chan struct{}), done: make(chan struct{})}
	r.replicas = append(r.replicas, rp)
	go r.read(rp, stdout)
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-rp.done:
		case <-time.After(20 * time.Second):
			t.Errorf("replica %s did not stop within 20s; killing it", name)
			_ = cmd.Process.Kill()
			<-rp.done
		}
		if err := cmd.Wait(); err != nil && !rp.killed.Load() {
			t.Errorf("replica %s: %v", name, err)
		}
	})
}

// read parses a replica's reports.
func (r *rig) read(rp *replica, stdout io.Reader) {
	defer close(rp.done)
	sc := bufio.NewScanner(stdout)
	var once sync.Once
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "ready":
			once.Do(func() { close(rp.ready) })
		case "start":
			r.mu.Lock()
			if r.handling[rp.name] == nil {
				r.handling[rp.name] = make(map[string]bool)
			}
			r.handling[rp.name][rest] = true
			r.mu.Unlock()
			select {
			case r.handledNews <- struct{}{}:
			default:
			}
		case "cast":
			r.mu.Lock()
			delete(r.handling[rp.name], rest)
			r.handled[rest]++
			r.mu.Unlock()
			select {
			case r.handledNews <- struct{}{}:
			default:
			}
		case "serve-error":
			r.mu.Lock()
			r.serveErrs = append(r.serveErrs, rp.name+": "+rest)
			r.mu.Unlock()
		}
	}
}

// loadFor runs the steady load until stop closes, then waits for every
// call and cast it started.
func (r *rig) load(stop <-chan struct{}) {
	var wg sync.WaitGroup
	var seq int
	var seqMu sync.Mutex
	nextID := func() string {
		seqMu.Lock()
		defer seqMu.Unlock()
		seq++
		return strconv.Itoa(seq)
	}
	for _, c := range r.clients {
		wg.Go(func() {
			calls := time.NewTicker(callEvery)
			casts := time.NewTicker(castEvery)
			defer calls.Stop()
			defer casts.Stop()
			for {
				select {
				case <-stop:
					return
				case <-calls.C:
					wg.Go(func() { r.call(c) })
				case <-casts.C:
					id := nextID()
					wg.Go(func() { r.cast(c, id) })
				}
			}
		})
	}
	<-stop
	wg.Wait()
}

func (r *rig) call(c *rpcclient.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	start := time.Now()
	var got string
	err := c.Call(ctx, "echo", nil, &got)
	rec := callRecord{start: start, end: time.Now(), deadline: deadline, err: err}
	r.mu.Lock()
	r.calls = append(r.calls, rec)
	r.mu.Unlock()
}

func (r *rig) cast(c *rpcclient.Client, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), castTimeout)
	defer cancel()
	start := time.Now()
	err := c.Cast(ctx, "note", noteArgs{ID: id})
	r.mu.Lock()
	r.casts = append(r.casts, castRecord{id: id, start: start, end: time.Now(), err: err})
	r.mu.Unlock()
}

// probe calls every replica directly until each answers, and returns how
// long after since each took.
func (r *rig) probe(since time.Time, limit time.Duration) map[string]time.Duration {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		got = make(map[string]time.Duration)
	)
	for _, rp := range r.replicas {
		if rp.killed.Load() {
			continue
		}
		c := r.clients[0].Prepare(rpcclient.Server(rp.name))
		wg.Go(func() {
			if d := callUntilOK(c, since, limit); d >= 0 {
				mu.Lock()
				got[rp.name] = d
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return got
}

// awaitHandled waits until every confirmed cast was handled, or d passed.
func (r *rig) awaitHandled(d time.Duration) {
	timeout := time.After(d)
	for {
		r.mu.Lock()
		missing := 0
		for _, c := range r.casts {
			if c.err == nil && r.handled[c.id] == 0 {
				missing++
			}
		}
		r.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-r.handledNews:
		case <-timeout:
			return
		}
	}
}

// report is what callers saw during one chaos run.
type report struct {
	fault string

	calls, callsOK, callsTimeout, callsLost, callsBlocked, callsNoRoute, callsUnsent, callsUntyped, callsLate int
	casts, castsConfirmed, castsNotSent, castsUnknown, castsBlocked, castsNoRoute, castsUntyped               int
	handled, lost, duplicates, notSentHandled                                                                 int

	firstGoodCall time.Duration // from the broker back to the first call that succeeded
	serveAgain    map[string]time.Duration
	untyped       []string
}

func (r *rig) report(fault string, back time.Time, serveAgain map[string]time.Duration) *report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := &report{fault: fault, serveAgain: serveAgain, firstGoodCall: -1}
	for _, c := range r.calls {
		rep.calls++
		if c.end.Sub(c.deadline) > lateSlack {
			rep.callsLate++
		}
		switch err := c.err; {
		case err == nil:
			rep.callsOK++
			if d := c.end.Sub(back); d >= 0 && (rep.firstGoodCall < 0 || d < rep.firstGoodCall) {
				rep.firstGoodCall = d
			}
		case errors.Is(err, transport.ErrBlocked):
			rep.callsBlocked++
		case errors.Is(err, transport.ErrTimeout):
			rep.callsTimeout++
		case errors.Is(err, transport.ErrConnectionLost):
			rep.callsLost++
		case errors.Is(err, transport.ErrNoRoute):
			rep.callsNoRoute++
		case errors.Is(err, transport.ErrNotSent) || errors.Is(err, transport.ErrOutcomeUnknown):
			rep.callsUnsent++
		default:
			rep.callsUntyped++
			rep.untyped = append(rep.untyped, "call: "+err.Error())
		}
	}
	notSent := make(map[string]bool)
	for _, c := range r.casts {
		rep.casts++
		err := c.err
		if errors.Is(err, transport.ErrBlocked) {
			rep.castsBlocked++
		}
		switch {
		case err == nil:
			rep.castsConfirmed++
			if r.handled[c.id] == 0 {
				rep.lost++
			}
		case errors.Is(err, transport.ErrNoRoute):
			rep.castsNoRoute++
			notSent[c.id] = true
		case errors.Is(err, transport.ErrNotSent):
			rep.castsNotSent++
			notSent[c.id] = true
		case errors.Is(err, transport.ErrOutcomeUnknown):
			rep.castsUnknown++
		default:
			rep.castsUntyped++
			rep.untyped = append(rep.untyped, "cast: "+err.Error())
		}
	}
	for id, n := range r.handled {
		rep.handled++
		if n > 1 {
			rep.duplicates++
		}
		if notSent[id] {
			rep.notSentHandled++
		}
	}
	return rep
}

func (rep *report) log(t *testing.T) {
	t.Helper()
	names := make([]string, 0, len(rep.serveAgain))
	for n := range rep.serveAgain {
		names = append(names, n)
	}
	sort.Strings(names)
	var again strings.Builder
	for _, n := range names {
		fmt.Fprintf(&again, " %s %v", n, rep.serveAgain[n].Round(time.Millisecond))
	}
	t.Logf(`chaos: %s
| calls attempted | ok | timeout | connection lost | blocked | no route | refused (nack) | untyped | pending past deadline |
| %d | %d | %d | %d | %d | %d | %d | %d | %d |
| casts attempted | confirmed | not sent | outcome unknown | (blocked) | no route | untyped | handled | lost | handled twice | handled though "not sent" |
| %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d |
broker back -> first good call: %v; replicas serving again after:%s`,
		rep.fault,
		rep.calls, rep.callsOK, rep.callsTimeout, rep.callsLost, rep.callsBlocked, rep.callsNoRoute, rep.callsUnsent, rep.callsUntyped, rep.callsLate,
		rep.casts, rep.castsConfirmed, rep.castsNotSent, rep.castsUnknown, rep.castsBlocked, rep.castsNoRoute, rep.castsUntyped,
		rep.handled, rep.lost, rep.duplicates, rep.notSentHandled,
		rep.firstGoodCall.Round(time.Millisecond), again.String())
}

// check asserts what every fault must keep true.
func (rep *report) check(t *testing.T, replicas []*replica, lostOK bool) {
	t.Helper()
	if rep.callsLate != 0 {
		t.Errorf("%d calls were pending past their deadline, want 0", rep.callsLate)
	}
	if rep.callsUntyped+rep.castsUntyped != 0 {
		t.Errorf("%d calls and %d casts failed with an untyped error, want 0: %v", rep.callsUntyped, rep.castsUntyped, rep.untyped)
	}
	if rep.notSentHandled != 0 {
		t.Errorf("%d casts reported not sent were handled, want 0", rep.notSentHandled)
	}
	if !lostOK && rep.lost != 0 {
		t.Errorf("%d confirmed casts were never handled, want 0", rep.lost)
	}
	if rep.firstGoodCall < 0 {
		t.Errorf("no call succeeded after the broker was back")
	}
	for _, rp := range replicas {
		d, ok := rep.serveAgain[rp.name]
		if !ok || d > serveAgainLimit {
			t.Errorf("replica %s served again after %v (ok %v), want within %v of the broker", rp.name, d, ok, serveAgainLimit)
		}
	}
}

// chaosNode starts a private node for one test on ports it reserves,
// removed when it ends.
func chaosNode(t *testing.T, name string) *rabbitnode.Node {
	t.Helper()
	return chaosNodes(t, name)[0]
}

// chaosNodes starts private nodes for one test, side by side, each on
// ports it reserves, removed when it ends.
func chaosNodes(t *testing.T, names ...string) []*rabbitnode.Node {
	t.Helper()
	if err := rabbitnode.Available(); err != nil {
		t.Fatalf("%v (the chaos tests need the rabbitmq-server package)", err)
	}
	ress := make([]*rabbitnode.Reservation, len(names))
	for i := range names {
		res, err := rabbitnode.Reserve(5700, 5719, 20000)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(res.Release) // after Remove
		ress[i] = res
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nodes := make([]*rabbitnode.Node, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			res := ress[i]
			nodes[i], errs[i] = rabbitnode.Start(ctx, "", fmt.Sprintf("warren-chaos-%s-%d", name, res.Port), res.Port, res.DistPort)
		})
	}
	wg.Wait()
	for _, n := range nodes {
		if n != nil {
			t.Cleanup(n.Remove)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("starting RabbitMQ nodes: %v", err)
	}
	return nodes
}

// ctl runs rabbitmqctl against n, failing the test on an error.
func ctl(t *testing.T, n *rabbitnode.Node, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := n.Ctl(ctx, args...); err != nil {
		t.Fatal(err)
	}
}

// hold keeps a fault in place for d: the length of the fault, part of
// the scenario, not a wait for an event.
func hold(d time.Duration) { <-time.After(d) }

// chaos runs the steady load on r, applies fault (which returns when the
// broker is back), measures how soon each replica serves again, runs the
// load a while longer, and returns the report.
func chaos(t *testing.T, r *rig, name string, fault func()) *report {
	t.Helper()
	stop := make(chan struct{})
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		r.load(stop)
	}()
	hold(1500 * time.Millisecond)
	fault()
	back := time.Now()
	again := r.probe(back, 10*time.Second)
	hold(2 * time.Second)
	close(stop)
	<-loaded
	r.awaitHandled(10 * time.Second)
	rep := r.report(name, back, again)
	rep.log(t)
	r.mu.Lock()
	if len(r.serveErrs) > 0 {
		t.Errorf("replicas' Serve returned: %v", r.serveErrs)
	}
	r.mu.Unlock()
	return rep
}

// TestChaosBrokerRestart restarts the broker (stop_app, 3 s, start_app)
// under steady load. Casts the broker confirmed into a transient queue
// that the restart took are the broker's loss: they are reported, not
// asserted (TestChaosAtLeastOnceBrokerRestart loses none on quorum
// queues).
func TestChaosBrokerRestart(t *testing.T) {
	n := chaosNode(t, "restart")
	r := newRig(t, "chaos-restart", n.URL(), n.URL())
	rep := chaos(t, r, "broker restart (stop_app, 3 s, start_app)", func() {
		ctl(t, n, "stop_app")
		hold(3 * time.Second)
		ctl(t, n, "start_app")
	})
	rep.check(t, r.replicas, true)
}

// TestChaosCloseAllConnections closes every connection from the broker's
// side under steady load.
func TestChaosCloseAllConnections(t *testing.T) {
	n := chaosNode(t, "closeall")
	r := newRig(t, "chaos-closeall", n.URL(), n.URL())
	rep := chaos(t, r, "rabbitmqctl close_all_connections", func() {
		ctl(t, n, "close_all_connections", "chaos test")
	})
	rep.check(t, r.replicas, false)
}

// TestChaosFrozenNetwork freezes the network between every client and
// replica and the broker (a relay that stops forwarding, no FIN) for
// three heartbeats of 2 s: each client notices within about two
// heartbeats and everything recovers when the relay resumes.
func TestChaosFrozenNetwork(t *testing.T) {
	const heartbeat = 2 * time.Second
	n := chaosNode(t, "frozen")
	relay, err := tcprelay.Start(n.Addr())
	if err != nil {
		t.Fatalf("tcprelay.Start = %v", err)
	}
	t.Cleanup(func() { relay.Close() })
	url := fmt.Sprintf("amqp://guest:guest@%s/?heartbeat=%d", relay.Addr(), int(heartbeat/time.Second))
	r := newRig(t, "chaos-frozen", url, url)
	var frozen time.Time
	var detected []time.Duration
	rep := chaos(t, r, "frozen network, 2 s heartbeat, 7 s", func() {
		relay.Freeze()
		frozen = time.Now()
		deadline := time.After(7 * time.Second)
	wait:
		for {
			select {
			case c := <-r.states:
				if c.State == rabbit.StateConnecting && c.Err != nil {
					detected = append(detected, c.At.Sub(frozen))
				}
			case <-deadline:
				break wait
			}
		}
		relay.Resume()
	})
	t.Logf("chaos: frozen network noticed by the clients after %v", detected)
	if len(detected) != len(r.clients) {
		t.Errorf("%d of %d clients noticed the frozen network, want all", len(detected), len(r.clients))
	}
	for _, d := range detected {
		if d > 2*heartbeat+heartbeat/2 {
			t.Errorf("a client noticed the frozen network after %v, want within about two heartbeats (%v)", d, 2*heartbeat)
		}
	}
	rep.check(t, r.replicas, false)
}

// TestChaosMemoryAlarm raises a memory alarm (connection.blocked) for 3 s
// from when the clients hear of it, under steady load: publishes fail
// with a typed blocked error, none of the casts reported not sent is
// handled later, and everything recovers by itself when the alarm
// clears.
func TestChaosMemoryAlarm(t *testing.T) {
	n := chaosNode(t, "alarm")
	r := newRig(t, "chaos-alarm", n.URL(), n.URL())
	var reasons []string
	rep := chaos(t, r, "memory alarm, 3 s", func() {
		ctl(t, n, "set_vm_memory_high_watermark", "0.0000001")
		// The broker raises the alarm at its next memory check: hold it
		// 3 s from when a client hears of it, so that casts outlast
		// their 2 s ctx in it however slow the broker was to raise it.
		seen := time.After(10 * time.Second)
	raised:
		for {
			select {
			case c := <-r.states:
				if c.State == rabbit.StateBlocked {
					reasons = append(reasons, c.Reason)
					break raised
				}
			case <-seen:
				break raised
			}
		}
		hold(3 * time.Second)
		ctl(t, n, "set_vm_memory_high_watermark", "0.4")
		for {
			select {
			case c := <-r.states:
				if c.State == rabbit.StateBlocked {
					reasons = append(reasons, c.Reason)
				}
				continue
			default:
			}
			break
		}
	})
	t.Logf("chaos: clients reported blocked: %q", reasons)
	if len(reasons) == 0 || reasons[0] == "" {
		t.Errorf("the clients reported blocked with reasons %q, want StateBlocked with the broker's reason", reasons)
	}
	if rep.castsBlocked == 0 {
		t.Errorf("no cast failed with a *transport.BlockedError during the alarm")
	}
	rep.check(t, r.replicas, false)
}

// TestChaosTopicQueueDeleted deletes the topic's shared queue under the
// running replicas: they declare it again and serve on.
func TestChaosTopicQueueDeleted(t *testing.T) {
	n := chaosNode(t, "qdel")
	r := newRig(t, "chaos-qdel", n.URL(), n.URL())
	rep := chaos(t, r, "topic queue deleted", func() {
		conn, err := amqp.Dial(n.URL())
		if err != nil {
			t.Fatalf("amqp.Dial = %v", err)
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatalf("Channel = %v", err)
		}
		if _, err := ch.QueueDelete(r.topic, false, false, false); err != nil {
			t.Fatalf("QueueDelete(%s) = %v", r.topic, err)
		}
	})
	// Casts and calls waiting in the deleted queue went with it.
	rep.check(t, r.replicas, true)
}

// TestChaosClusterNodeLoss runs three clustered nodes, gives clients and
// replicas all three in the URL, and stops the node they are connected
// to: they fail over to another node and serve on.
func TestChaosClusterNodeLoss(t *testing.T) {
	nodes, url := chaosCluster(t, "c")
	n1, n2 := nodes[0], nodes[1]
	r := newRig(t, "chaos-cluster", url, url)
	far := farServer(t, n1, n2, r.exchange)
	farAgain := make(chan time.Duration, 1)
	rep := chaos(t, r, "cluster node lost (rabbitmqctl stop of the node in use)", func() {
		ctl(t, n1, "stop")
		back := time.Now()
		go func() { farAgain <- callUntilOK(far, back, 10*time.Second) }()
	})
	// Requests queued on the lost node went with it.
	rep.check(t, r.replicas, true)
	// The far server's connection stayed up; its queue went with n1.
	d := <-farAgain
	t.Logf("chaos: a server on n2 consuming a queue of n1 served again after %v", d.Round(time.Millisecond))
	if d < 0 || d > serveAgainLimit {
		t.Errorf("a server on n2 consuming a queue of n1 served again after %v (negative: never), want within %v", d, serveAgainLimit)
	}
}

// chaosCluster starts a cluster of three private nodes named after
// prefix, and returns them and a URL naming all three.
func chaosCluster(t *testing.T, prefix string) ([]*rabbitnode.Node, string) {
	t.Helper()
	nodes := chaosNodes(t, prefix+"1", prefix+"2", prefix+"3")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, n := range nodes[1:] {
		if err := n.JoinCluster(ctx, nodes[0]); err != nil {
			t.Fatalf("forming the cluster: %v", err)
		}
	}
	url := fmt.Sprintf("amqp://guest:guest@%s,guest:guest@%s,guest:guest@%s/", nodes[0].Addr(), nodes[1].Addr(), nodes[2].Addr())
	return nodes, url
}

// farServer serves a topic of exchange with a transport connected to
// near alone, from a queue declared through far first, so that it lives
// on far: when far is lost, the server's connection stays up and its
// queue goes with far (the broker cancels its consumer). It returns a client of the topic on
// the same transport, whose reply queue lives on near.
func farServer(t *testing.T, far, near *rabbitnode.Node, exchange string) *rpcclient.Client {
	t.Helper()
	topic := unique(t, "chaos-cluster-far")
	conn, err := amqp.Dial(far.URL())
	if err != nil {
		t.Fatalf("amqp.Dial = %v", err)
	}
	ch, err := conn.Channel()
	if err == nil {
		_, err = ch.QueueDeclare(topic, false, false, false, false, nil)
	}
	conn.Close()
	if err != nil {
		t.Fatalf("declaring queue %s on %s: %v", topic, far.Name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("server", "far")
	tr, err := rabbit.Dial(ctx, near.URL(), rabbit.Logger(log))
	if err != nil {
		t.Fatalf("rabbit.Dial(%s) = %v", near.URL(), err)
	}
	t.Cleanup(func() { tr.Close() })
	ep := endpoints.New()
	endpoints.Register(ep, "echo", func(context.Context, struct{}) (string, error) { return "far", nil })
	d, err := dispatcher.New([]*endpoints.Endpoint{ep})
	if err != nil {
		t.Fatalf("dispatcher.New: %v", err)
	}
	srv := rpcserver.New(tr, target.Target{Exchange: exchange, Topic: topic, Server: "far"}, d)
	if err := srv.Listen(ctx); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-served; !errors.Is(err, rpcserver.ErrServerClosed) {
			t.Errorf("the far server's Serve = %v, want ErrServerClosed", err)
		}
	})
	c := rpcclient.New(tr, target.Target{Exchange: exchange, Topic: topic})
	if got := callUntilOK(c, time.Now(), 10*time.Second); got < 0 {
		t.Fatalf("the far server did not answer within 10s")
	}
	return c
}

// callUntilOK calls c's echo until it succeeds and returns how long after
// since that was, or -1 when limit passed first.
func callUntilOK(c *rpcclient.Client, since time.Time, limit time.Duration) time.Duration {
	for time.Since(since) < limit {
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		var name string
		err := c.Call(ctx, "echo", nil, &name)
		cancel()
		if err == nil {
			return time.Since(since)
		}
		if errors.Is(err, transport.ErrNoRoute) {
			// Fails at once until the queue is declared again: pace
			// the retries.
			<-time.After(20 * time.Millisecond)
		}
	}
	return -1
}
