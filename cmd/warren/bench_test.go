package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenrpc/warren"
	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
)

// parseBenchJSON decodes the --json output of a bench, failing t when it
// is not one JSON object with every field the README promises.
func parseBenchJSON(t *testing.T, out string) benchResult {
	t.Helper()
	var fields map[string]any
	if err := json.Unmarshal([]byte(out), &fields); err != nil {
		t.Fatalf("bench --json printed %q: %v", out, err)
	}
	for _, k := range []string{"mode", "url", "exchange", "topic", "replicas", "concurrency", "payload", "duration_s",
		"calls", "ok", "errors", "per_sec", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("bench --json lacks %q: %s", k, out)
		}
	}
	var r benchResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Errors) != len(errorKinds) {
		t.Errorf("errors = %v, want a count for each of %v", r.Errors, errorKinds)
	}
	failed := 0
	for _, n := range r.Errors {
		failed += n
	}
	if r.Calls != r.OK+failed {
		t.Errorf("calls %d, want ok %d + errors %d", r.Calls, r.OK, failed)
	}
	return r
}

// checkLatencies fails t unless r has successful calls, a positive rate
// and increasing percentiles.
func checkLatencies(t *testing.T, r benchResult) {
	t.Helper()
	if r.OK == 0 || r.PerSec <= 0 || r.DurationS <= 0 {
		t.Errorf("ok %d, per_sec %v, duration_s %v; want all positive", r.OK, r.PerSec, r.DurationS)
	}
	if !(0 < r.P50ms && r.P50ms <= r.P90ms && r.P90ms <= r.P99ms && r.P99ms <= r.P999ms && r.P999ms <= r.MaxMs) {
		t.Errorf("p50 %v, p90 %v, p99 %v, p99.9 %v, max %v ms; want positive and increasing", r.P50ms, r.P90ms, r.P99ms, r.P999ms, r.MaxMs)
	}
}

func TestBenchInProcess(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "")
	tests := []struct {
		name       string
		args       []string
		want       benchResult // mode, replicas, concurrency, payload; calls when counted
		wantStderr string
	}{
		{name: "calls", args: []string{"--count", "30"},
			want: benchResult{Mode: "call", Replicas: 1, Concurrency: 1, Payload: 100, Calls: 30}},
		{name: "calls, three replicas", args: []string{"--replicas", "3", "--concurrency", "4", "--payload", "1000", "--count", "40"},
			want: benchResult{Mode: "call", Replicas: 3, Concurrency: 4, Payload: 1000, Calls: 40}},
		{name: "empty payload", args: []string{"--payload", "0", "--count", "5"},
			want: benchResult{Mode: "call", Replicas: 1, Concurrency: 1, Calls: 5}},
		{name: "for a duration", args: []string{"--duration", "200ms", "--concurrency", "2"},
			want: benchResult{Mode: "call", Replicas: 1, Concurrency: 2, Payload: 100}},
		{name: "casts", args: []string{"--mode", "cast", "--concurrency", "2", "--count", "30"},
			want: benchResult{Mode: "cast", Replicas: 1, Concurrency: 2, Payload: 100, Calls: 30}},
		{name: "deprecated flags", args: []string{"-cast", "-n", "20", "-c", "2", "-size", "10", "-servers", "2"},
			want:       benchResult{Mode: "cast", Replicas: 2, Concurrency: 2, Payload: 10, Calls: 20},
			wantStderr: "warren bench: -c is deprecated; use --concurrency\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"bench", "--json", "--warmup", "20ms", "--exchange", "bench-x"}, tt.args...)
			code, stdout, stderr := runWarren(t, args...)
			if code != exitOK || !strings.Contains(stderr, tt.wantStderr) || (tt.wantStderr == "") != (stderr == "") {
				t.Fatalf("warren %q = %d, want 0\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
			}
			r := parseBenchJSON(t, stdout)
			checkLatencies(t, r)
			if r.Mode != tt.want.Mode || r.Replicas != tt.want.Replicas || r.Concurrency != tt.want.Concurrency || r.Payload != tt.want.Payload {
				t.Errorf("mode %s, replicas %d, concurrency %d, payload %d; want %s, %d, %d, %d",
					r.Mode, r.Replicas, r.Concurrency, r.Payload, tt.want.Mode, tt.want.Replicas, tt.want.Concurrency, tt.want.Payload)
			}
			if r.URL != "memory:///" || r.Exchange != "bench-x" || r.Topic != benchTopic {
				t.Errorf("url %q, exchange %q, topic %q; want memory:///, bench-x, %s", r.URL, r.Exchange, r.Topic, benchTopic)
			}
			if tt.want.Calls > 0 && (r.Calls != tt.want.Calls || r.OK != tt.want.Calls) {
				t.Errorf("%d calls, %d ok; want %d, all ok", r.Calls, r.OK, tt.want.Calls)
			}
			if tt.want.Calls == 0 && r.DurationS < 0.2 {
				t.Errorf("duration_s %v, want at least 0.2", r.DurationS)
			}
			switch {
			case r.Mode == "call" && r.Handled != nil:
				t.Errorf("calls report %d handled", *r.Handled)
			case r.Mode == "cast" && (r.Handled == nil || *r.Handled != r.OK):
				t.Errorf("handled %v, want %d", r.Handled, r.OK)
			}
		})
	}
}

// TestBenchText checks the report without --json.
func TestBenchText(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "")
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--count", "10", "--concurrency", "2"}, []string{
			`warren bench: calls of echo(data) to topic "warren-bench" on memory:///, control exchange "openstack"` + "\n",
			"servers:  1 replica in this process\n",
			"load:     2 in flight for 10 calls, 100-byte payload, 5s timeout each, after 0s warm-up\n",
			"calls:    10 in ", ": 10 ok, 0 failed\n", "ok/s:     ", "latency:  p50 ", "errors:   none\n"}},
		{[]string{"--count", "10", "--mode", "cast", "--replicas", "2"}, []string{
			"servers:  2 replicas in this process\n", "casts:    10 in ", "confirm:  p50 ", "handled:  10 of 10 by the replicas ("}},
	} {
		args := append([]string{"bench", "--warmup", "0s"}, tt.args...)
		code, stdout, stderr := runWarren(t, args...)
		if code != exitOK || stderr != "" {
			t.Errorf("warren %q = %d, stderr %q; want 0 and none", args, code, stderr)
		}
		for _, want := range tt.want {
			if !strings.Contains(stdout, want) {
				t.Errorf("warren %q output lacks %q:\n%s", args, want, stdout)
			}
		}
	}
}

func TestBenchUsageErrors(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "")
	tests := []struct {
		name string
		args []string
		want string // on stderr
	}{
		{"unknown flag", []string{"--fanout"}, "flag provided but not defined: -fanout"},
		{"argument", []string{"now"}, `unexpected argument "now"`},
		{"bad mode", []string{"--mode", "notify"}, `--mode must be call or cast, not "notify"`},
		{"zero concurrency", []string{"--concurrency", "0"}, "--concurrency must be at least 1"},
		{"zero duration", []string{"--duration", "0s"}, "--duration must be positive"},
		{"bad duration", []string{"--duration", "long"}, `invalid value "long" for flag -duration`},
		{"negative count", []string{"--count", "-5"}, "--count must be at least 1"},
		{"deprecated zero count", []string{"-n", "0"}, "--count must be at least 1"},
		{"count not a number", []string{"--count", "many"}, `invalid value "many" for flag -count`},
		{"negative payload", []string{"--payload", "-1"}, "--payload must not be negative"},
		{"zero timeout", []string{"--timeout", "0s"}, "--timeout must be positive"},
		{"negative warm-up", []string{"--warmup", "-1s"}, "--warmup must not be negative"},
		{"negative replicas", []string{"--replicas", "-1"}, "--replicas must not be negative"},
		{"bad topic", []string{"--topic", "a b", "--version", "x"}, "flag provided but not defined: -version"},
		{"live on memory", []string{"--topic", "t", "--url", "memory://"}, "memory:// is the in-process driver"},
		{"bad URL", []string{"--url", "http://example.com/"}, "transport: invalid transport URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"bench"}, tt.args...)
			code, stdout, stderr := runWarren(t, args...)
			if code != exitUsage {
				t.Errorf("warren %q = %d, want %d", args, code, exitUsage)
			}
			if !strings.HasPrefix(stderr, "warren bench: ") || !strings.Contains(stderr, tt.want) {
				t.Errorf("warren %q stderr lacks %q:\n%s", args, tt.want, stderr)
			}
			if stdout != "" {
				t.Errorf("warren %q printed on stdout:\n%s", args, stdout)
			}
			// As JSON too.
			code, _, stderr = runWarren(t, append(args, "--json")...)
			var f failure
			if err := json.Unmarshal([]byte(stderr), &f); err != nil || code != exitUsage || f.ExitCode != exitUsage || !strings.Contains(f.Error, tt.want) {
				t.Errorf("warren %q --json = %d, stderr %q; want %d and a JSON failure with %q", args, code, stderr, exitUsage, tt.want)
			}
		})
	}
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"remote", fmt.Errorf("rpcclient: call echo: %w", &rpcerr.RemoteError{Class: "ValueError", Module: "builtins"}), kindRemote},
		{"no such method", &rpcerr.RemoteError{Class: "NoSuchMethod", Module: rpcerr.DispatcherModule}, kindRemote},
		{"no route", fmt.Errorf("rpcclient: %w", &transport.NoRouteError{Exchange: "x", RoutingKey: "t"}), kindNoRoute},
		{"timeout", &transport.TimeoutError{MsgID: "m"}, kindTimeout},
		{"heartbeat timeout", &transport.TimeoutError{MsgID: "m", Heartbeat: true}, kindTimeout},
		{"deadline", context.DeadlineExceeded, kindTimeout},
		{"connection lost", fmt.Errorf("rabbit: %w", transport.ErrConnectionLost), kindConnection},
		{"connection lost until the deadline", fmt.Errorf("rabbit: waiting: %w: %w", transport.ErrConnectionLost, context.DeadlineExceeded), kindConnection},
		{"not sent", fmt.Errorf("x (%w)", transport.ErrNotSent), kindConnection},
		{"outcome unknown", fmt.Errorf("x (%w)", transport.ErrOutcomeUnknown), kindConnection},
		{"outcome unknown at the deadline", fmt.Errorf("%w (%w)", context.DeadlineExceeded, transport.ErrOutcomeUnknown), kindTimeout},
		{"blocked", &transport.BlockedError{Reason: "low on memory"}, kindConnection},
		{"closed", transport.ErrClosed, kindConnection},
		{"mismatch", errReplyMismatch, kindOther},
		{"malformed", transport.ErrMalformed, kindOther},
	}
	for _, tt := range tests {
		if got := errorKind(tt.err); got != tt.want {
			t.Errorf("%s: errorKind(%v) = %s, want %s", tt.name, tt.err, got, tt.want)
		}
	}
}

// faulty is a memory transport whose calls and casts, after the first ok
// (counted separately), fail with err; or with cancel set, cancel the
// bench's ctx and fail with its error.
type faulty struct {
	transport.Transport
	ok           int64
	err          error
	cancel       context.CancelFunc
	calls, casts *atomic.Int64
}

func (f faulty) Call(ctx context.Context, tgt target.Target, req *message.Request) (*message.Reply, error) {
	if f.calls.Add(1) <= f.ok {
		return f.Transport.Call(ctx, tgt, req)
	}
	if f.cancel != nil {
		f.cancel()
		return nil, ctx.Err()
	}
	return nil, f.err
}

func (f faulty) Cast(ctx context.Context, tgt target.Target, req *message.Request) error {
	if f.casts.Add(1) <= f.ok {
		return f.Transport.Cast(ctx, tgt, req)
	}
	return f.err
}

// TestBenchCountsFailures runs benches whose calls fail after a while:
// the bench goes on, counts each failure by kind, and exits 0.
func TestBenchCountsFailures(t *testing.T) {
	tests := []struct {
		name      string
		cast      bool
		ok        int64 // calls or casts that work
		err       error // of the others
		interrupt bool
		want      map[string]int
		wantCode  int
	}{
		{name: "connection lost", ok: 15, err: fmt.Errorf("rabbit: %w", transport.ErrConnectionLost),
			want: map[string]int{kindConnection: 25}},
		{name: "no route", err: &transport.NoRouteError{Exchange: "x", RoutingKey: "t"},
			want: map[string]int{kindNoRoute: 40}},
		{name: "casts not sent", cast: true, ok: 30, err: transport.ErrNotSent,
			want: map[string]int{kindConnection: 10}},
		{name: "other", ok: 39, err: transport.ErrMalformed,
			want: map[string]int{kindOther: 1}},
		{name: "interrupted", ok: 15, interrupt: true, want: map[string]int{}, wantCode: exitFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			bus := memory.NewBus()
			f := faulty{ok: tt.ok, err: tt.err, calls: new(atomic.Int64), casts: new(atomic.Int64)}
			if tt.interrupt {
				f.cancel = cancel
			}
			clientDialed := false
			dial := func(context.Context) (transport.Transport, error) {
				tr := memory.New(memory.OnBus(bus))
				if clientDialed {
					return tr, nil // a replica's
				}
				clientDialed = true
				f := f
				f.Transport = tr
				return f, nil
			}
			p := benchParams{tgt: target.Target{Topic: "bench-test"}, cast: tt.cast, conc: 2, count: 40, payload: 8,
				replicas: 1, timeout: time.Second, json: true}
			var stdout, stderr bytes.Buffer
			rep := &reporter{cmd: "bench", json: true, w: &stderr}
			code := runBenchOn(ctx, p, dial, benchWhere{"memory://", "openstack"}, rep, &stdout)
			if code != tt.wantCode || stderr.Len() > 0 {
				t.Fatalf("bench = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			r := parseBenchJSON(t, stdout.String())
			for _, k := range errorKinds {
				if r.Errors[k] != tt.want[k] {
					t.Errorf("errors = %v, want %v", r.Errors, tt.want)
					break
				}
			}
			if tt.interrupt {
				// The other goroutine's call, cut by the interruption, counts in nothing.
				if !r.Interrupted || r.OK < 14 || r.OK > 15 {
					t.Errorf("interrupted %v after %d ok, want true after 14 or 15", r.Interrupted, r.OK)
				}
				return
			}
			if r.Calls != 40 || r.OK != int(tt.ok) {
				t.Errorf("%d calls, %d ok; want 40, %d", r.Calls, r.OK, tt.ok)
			}
			for k, msg := range r.FirstErrors {
				if !strings.Contains(msg, tt.err.Error()) {
					t.Errorf("first %s error %q, want the failure %q", k, msg, tt.err)
				}
			}
		})
	}
}

// TestBenchRemoteErrors benches a live server without echo: every call
// fails as remote (NoSuchMethod), and the bench goes on.
func TestBenchRemoteErrors(t *testing.T) {
	bus := memory.NewBus()
	srvTr := memory.New(memory.OnBus(bus))
	defer srvTr.Close()
	ep := endpoints.New()
	endpoints.Register(ep, "other", func(context.Context, struct{}) (int, error) { return 1, nil })
	d, err := dispatcher.New([]*endpoints.Endpoint{ep})
	if err != nil {
		t.Fatal(err)
	}
	r, err := startReplica(t.Context(), srvTr, target.Target{Topic: "bench-test", Server: "s1"}, d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.stop(time.Second)
	dial := func(context.Context) (transport.Transport, error) { return memory.New(memory.OnBus(bus)), nil }
	p := benchParams{tgt: target.Target{Topic: "bench-test"}, conc: 3, count: 20, timeout: time.Second, json: true}
	var stdout, stderr bytes.Buffer
	code := runBenchOn(t.Context(), p, dial, benchWhere{"memory://", "openstack"}, &reporter{cmd: "bench", w: &stderr}, &stdout)
	res := parseBenchJSON(t, stdout.String())
	if code != exitOK || res.Calls != 20 || res.Errors[kindRemote] != 20 || !strings.Contains(res.FirstErrors[kindRemote], "NoSuchMethod") {
		t.Errorf("bench = %d, %+v; want 0, 20 remote NoSuchMethod errors", code, res)
	}
}

func TestBenchSetupFails(t *testing.T) {
	errDial := errors.New("dial refused")
	tests := []struct {
		name       string
		failDial   int // which dial fails: 1 is the client's, 2 the first replica's
		wantStderr string
	}{
		{"client", 1, "warren bench: client: dial refused\n"},
		{"first replica", 2, "warren bench: replica bench-1: dial refused\n"},
		{"second replica", 3, "warren bench: replica bench-2: dial refused\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bus := memory.NewBus()
			var dials int
			var opened []transport.Transport
			dial := func(context.Context) (transport.Transport, error) {
				dials++
				if dials == tt.failDial {
					return nil, errDial
				}
				tr := memory.New(memory.OnBus(bus))
				opened = append(opened, tr)
				return tr, nil
			}
			p := benchParams{tgt: target.Target{Topic: "bench-test"}, conc: 1, count: 5, replicas: 2, timeout: time.Second}
			var stdout, stderr bytes.Buffer
			if code := runBenchOn(t.Context(), p, dial, benchWhere{"memory://", "openstack"}, &reporter{cmd: "bench", w: &stderr}, &stdout); code != exitFailed {
				t.Errorf("bench = %d, want %d", code, exitFailed)
			}
			if stderr.String() != tt.wantStderr || stdout.Len() > 0 {
				t.Errorf("stderr = %q, stdout %q; want %q and nothing", stderr.String(), stdout.String(), tt.wantStderr)
			}
			for i, tr := range opened {
				if _, err := tr.Listen(t.Context(), target.Target{Topic: "t", Server: "s"}); !errors.Is(err, transport.ErrClosed) {
					t.Errorf("transport %d was left open: Listen = %v, want ErrClosed", i+1, err)
				}
			}
		})
	}
}

// TestBenchOnBroker benches, on RabbitMQ, a server with warren serve's
// methods, a topic nobody serves and a server that does not exist, and
// in-process replicas.
func TestBenchOnBroker(t *testing.T) {
	topic, exchange := uniqueName(t, "bench"), uniqueName(t, "x")
	deleteOnBroker(t, []string{topic, topic + ".s1", topic + "-own", topic + "-own.bench-1", topic + "-own.bench-2"}, []string{topic + "_fanout", topic + "-own_fanout", exchange})
	tr, err := warren.Dial(t.Context(), transport.Config{URL: testBrokerURL(), ControlExchange: exchange})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	d, err := dispatcher.New([]*endpoints.Endpoint{builtinEndpoint()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := startReplica(t.Context(), tr, target.Target{Topic: topic, Server: "s1"}, d)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := r.stop(10 * time.Second); err != nil {
			t.Errorf("stopping the server: %v", err)
		}
	}()

	conn := []string{"--url", testBrokerURL(), "--exchange", exchange, "--json", "--warmup", "100ms", "--timeout", "10s"}
	tests := []struct {
		name    string
		args    []string
		ok      bool   // calls succeed
		errKind string // else every call fails with this
	}{
		{"calls", []string{"--topic", topic, "--concurrency", "4", "--duration", "300ms"}, true, ""},
		{"calls to the server", []string{"--topic", topic, "--server", "s1", "--count", "20", "--payload", "10000"}, true, ""},
		{"casts", []string{"--topic", topic, "--mode", "cast", "--concurrency", "4", "--duration", "300ms"}, true, ""},
		{"in-process replicas", []string{"--topic", topic + "-own", "--replicas", "2", "--mode", "cast", "--count", "50", "--concurrency", "8"}, true, ""},
		{"nobody serves the topic", []string{"--topic", topic + "-nobody", "--concurrency", "2", "--duration", "300ms"}, false, kindNoRoute},
		{"nobody is the server", []string{"--topic", topic, "--server", "s9", "--mode", "cast", "--duration", "300ms"}, false, kindNoRoute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"bench"}, conn...), tt.args...)
			start := time.Now()
			code, stdout, stderr := runWarren(t, args...)
			if code != exitOK || stderr != "" {
				t.Fatalf("warren %q = %d, want 0\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
			}
			r := parseBenchJSON(t, stdout)
			if !strings.Contains(r.URL, ":****@") || r.Exchange != exchange {
				t.Errorf("url %q, exchange %q; want the password masked, %s", r.URL, r.Exchange, exchange)
			}
			if tt.ok {
				checkLatencies(t, r)
				if r.OK != r.Calls {
					t.Errorf("%d of %d ok, errors %v %v", r.OK, r.Calls, r.Errors, r.FirstErrors)
				}
				return
			}
			if r.OK != 0 || r.Calls == 0 || r.Errors[tt.errKind] != r.Calls {
				t.Errorf("%d calls, %d ok, errors %v; want every call counted as %s", r.Calls, r.OK, r.Errors, tt.errKind)
			}
			// No route is known at once: the bench ends with its duration.
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("the bench took %v", el)
			}
		})
	}
}
