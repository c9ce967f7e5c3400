package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
)

// benchReport is the parsed report of a bench run.
type benchReport struct {
	ops, conc, size int
	total           time.Duration
	rate            float64
	p50, p90, p99   time.Duration
	max             time.Duration
	handled, sent   int // casts only
	errors          int
}

var (
	opsLine     = regexp.MustCompile(`(?m)^(calls|casts): +(\d+) from (\d+) goroutines?, (\d+)-byte payload, `)
	totalLine   = regexp.MustCompile(`(?m)^total: +(\S+)$`)
	rateLine    = regexp.MustCompile(`(?m)^(calls|casts)/s: +([0-9]+)$`)
	latencyLine = regexp.MustCompile(`(?m)^(latency|confirm): +p50 (\S+)  p90 (\S+)  p99 (\S+)  max (\S+)$`)
	handledLine = regexp.MustCompile(`(?m)^handled: +(\d+) of (\d+) in \S+ \(\d+/s\)$`)
	errorsLine  = regexp.MustCompile(`(?m)^errors: +(\d+)$`)
)

// parseBench parses the report of a bench of calls or casts, failing t
// when a line is missing or its numbers do not parse.
func parseBench(t *testing.T, out string, cast bool) benchReport {
	t.Helper()
	what, label := "calls", "latency"
	if cast {
		what, label = "casts", "confirm"
	}
	var r benchReport
	match := func(re *regexp.Regexp) []string {
		t.Helper()
		m := re.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("report has no line matching %s:\n%s", re, out)
		}
		return m
	}
	atoi := func(s string) int {
		t.Helper()
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("report: %v\n%s", err, out)
		}
		return n
	}
	duration := func(s string) time.Duration {
		t.Helper()
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("report: %v\n%s", err, out)
		}
		return d
	}
	m := match(opsLine)
	if m[1] != what {
		t.Errorf("report counts %s, want %s:\n%s", m[1], what, out)
	}
	r.ops, r.conc, r.size = atoi(m[2]), atoi(m[3]), atoi(m[4])
	r.total = duration(match(totalLine)[1])
	m = match(rateLine)
	if m[1] != what {
		t.Errorf("report rates %s/s, want %s/s:\n%s", m[1], what, out)
	}
	r.rate = float64(atoi(m[2]))
	m = match(latencyLine)
	if m[1] != label {
		t.Errorf("report shows %s, want %s:\n%s", m[1], label, out)
	}
	r.p50, r.p90, r.p99, r.max = duration(m[2]), duration(m[3]), duration(m[4]), duration(m[5])
	if cast {
		m = match(handledLine)
		r.handled, r.sent = atoi(m[1]), atoi(m[2])
	} else if handledLine.MatchString(out) {
		t.Errorf("report of calls has a handled line:\n%s", out)
	}
	r.errors = atoi(match(errorsLine)[1])
	return r
}

func TestBench(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "")
	tests := []struct {
		name            string
		args            []string
		cast            bool
		ops, conc, size int
		wantReplicas    string
		wantGoroutines  string
	}{
		{"calls, one goroutine", []string{"-n", "30", "-c", "1"}, false, 30, 1, 64, "1 replica", "1 goroutine,"},
		{"calls, four goroutines", []string{"-n", "40", "-c", "4", "-size", "1000"}, false, 40, 4, 1000, "1 replica", "4 goroutines,"},
		{"calls, three replicas", []string{"-n", "30", "-c", "4", "-servers", "3", "-size", "0"}, false, 30, 4, 0, "3 replicas", "4 goroutines,"},
		{"more goroutines than calls", []string{"-n", "3", "-c", "8"}, false, 3, 3, 64, "1 replica", "3 goroutines,"},
		{"casts", []string{"-cast", "-n", "30", "-c", "1"}, true, 30, 1, 64, "1 replica", "1 goroutine,"},
		{"casts, four goroutines, two replicas", []string{"-cast", "-n", "40", "-c", "4", "-servers", "2"}, true, 40, 4, 64, "2 replicas", "4 goroutines,"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"bench", "-topic", "bench-test"}, tt.args...)
			code, stdout, stderr := runWarren(t, args...)
			if code != exitOK {
				t.Fatalf("warren %q = %d, want 0\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
			}
			if stderr != "" {
				t.Errorf("warren %q wrote on stderr:\n%s", args, stderr)
			}
			for _, want := range []string{
				"driver:   memory (in process), control exchange \"openstack\"\n",
				"topic:    bench-test, served by " + tt.wantReplicas + "\n",
				tt.wantGoroutines,
			} {
				if !strings.Contains(stdout, want) {
					t.Errorf("warren %q output lacks %q:\n%s", args, want, stdout)
				}
			}
			r := parseBench(t, stdout, tt.cast)
			if r.ops != tt.ops || r.conc != tt.conc || r.size != tt.size {
				t.Errorf("report: %d ops from %d goroutines, %d bytes; want %d, %d, %d", r.ops, r.conc, r.size, tt.ops, tt.conc, tt.size)
			}
			if r.errors != 0 {
				t.Errorf("report: %d errors, want 0", r.errors)
			}
			if r.total <= 0 || r.rate <= 0 {
				t.Errorf("report: total %v, rate %v/s; want both positive", r.total, r.rate)
			}
			if !(0 < r.p50 && r.p50 <= r.p90 && r.p90 <= r.p99 && r.p99 <= r.max) {
				t.Errorf("report: p50 %v, p90 %v, p99 %v, max %v; want positive and increasing", r.p50, r.p90, r.p99, r.max)
			}
			if tt.cast && (r.handled != tt.ops || r.sent != tt.ops) {
				t.Errorf("report: handled %d of %d casts, want %d of %d", r.handled, r.sent, tt.ops, tt.ops)
			}
		})
	}
}

func TestBenchUsageErrors(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "")
	tests := []struct {
		name string
		args []string
		want string // on stderr
	}{
		{"unknown flag", []string{"-fanout"}, "flag provided but not defined: -fanout"},
		{"argument", []string{"now"}, `warren bench: unexpected argument "now"`},
		{"zero calls", []string{"-n", "0"}, "-n must be at least 1"},
		{"negative calls", []string{"-n", "-5"}, "-n must be at least 1"},
		{"calls not a number", []string{"-n", "many"}, `invalid value "many" for flag -n`},
		{"zero goroutines", []string{"-c", "0"}, "-c must be at least 1"},
		{"negative size", []string{"-size", "-1"}, "-size must not be negative"},
		{"zero servers", []string{"-servers", "0"}, "-servers must be at least 1"},
		{"zero timeout", []string{"-timeout", "0s"}, "-timeout must be positive"},
		{"bad timeout", []string{"-timeout", "soon"}, `invalid value "soon" for flag -timeout`},
		{"empty topic", []string{"-topic", ""}, "-topic must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"bench"}, tt.args...)
			code, stdout, stderr := runWarren(t, args...)
			if code != exitUsage {
				t.Errorf("warren %q = %d, want %d", args, code, exitUsage)
			}
			if !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "usage: warren bench") {
				t.Errorf("warren %q stderr lacks %q and the usage:\n%s", args, tt.want, stderr)
			}
			if stdout != "" {
				t.Errorf("warren %q printed on stdout:\n%s", args, stdout)
			}
		})
	}
}

func TestBenchBadURL(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "http://example.com/")
	code, stdout, stderr := runWarren(t, "bench")
	if code != exitFailed || stdout != "" || !strings.HasPrefix(stderr, "warren: WARREN_TRANSPORT_URL: ") {
		t.Errorf("warren bench with a bad URL = %d, stdout %q, stderr %q; want %d and the URL error", code, stdout, stderr, exitFailed)
	}
}

// faulty is a memory transport that, after its first ok calls and casts
// (counted separately), fails each call and silently loses each cast; or,
// with cancel set, cancels the bench's ctx and fails with its error.
type faulty struct {
	transport.Transport
	ok           int64
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
	return nil, transport.ErrConnectionLost
}

func (f faulty) Cast(ctx context.Context, tgt target.Target, req *message.Request) error {
	if f.casts.Add(1) <= f.ok {
		return f.Transport.Cast(ctx, tgt, req)
	}
	return nil
}

func TestBenchReportsFailures(t *testing.T) {
	tests := []struct {
		name       string
		ops        int
		cast       bool
		ok         int64 // calls or casts that work, warm-up included
		interrupt  bool
		wantStdout []string
		wantStderr string
	}{
		{name: "calls fail", ops: 20, ok: 15,
			wantStdout: []string{"calls/s:  ", "errors:   15\n", "      15 × rpcclient: call echo: transport: connection lost\n"}},
		{name: "warm-up fails", ops: 20, ok: 3,
			wantStderr: "warren: bench: 7 of 10 warm-up calls failed: rpcclient: call echo: transport: connection lost\n"},
		{name: "casts lost", ops: 20, cast: true, ok: 15,
			wantStdout: []string{"handled:  5 of 20 in ", "          none in the last 100ms\n", "errors:   0\n"}},
		{name: "interrupted", ops: 20, ok: 15, interrupt: true,
			wantStdout: []string{"stopped:  interrupted after 5 of 20 calls\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			bus := memory.NewBus()
			f := faulty{ok: tt.ok, calls: new(atomic.Int64), casts: new(atomic.Int64)}
			if tt.interrupt {
				f.cancel = cancel
			}
			dial := func(context.Context) (transport.Transport, error) {
				f := f
				f.Transport = memory.New(memory.OnBus(bus))
				return f, nil
			}
			p := benchParams{ops: tt.ops, conc: 1, size: 8, servers: 1, cast: tt.cast,
				timeout: 100 * time.Millisecond, topic: "bench-test", exchange: "openstack"}
			var stdout, stderr bytes.Buffer
			code := runBenchOn(ctx, p, dial, "a faulty transport", &stdout, &stderr)
			if code != exitFailed {
				t.Errorf("bench = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailed, stdout.String(), stderr.String())
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			if stderr.String() != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var ds []time.Duration
		for _, n := range ns {
			ds = append(ds, time.Duration(n)*time.Millisecond)
		}
		return ds
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"one value p50", ms(7), 50, 7 * time.Millisecond},
		{"one value p99", ms(7), 99, 7 * time.Millisecond},
		{"two values p50", ms(1, 2), 50, time.Millisecond},
		{"two values p90", ms(1, 2), 90, 2 * time.Millisecond},
		{"hundred p50", ms(hundred...), 50, 50 * time.Millisecond},
		{"hundred p90", ms(hundred...), 90, 90 * time.Millisecond},
		{"hundred p99", ms(hundred...), 99, 99 * time.Millisecond},
		{"hundred p100", ms(hundred...), 100, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestRound3(t *testing.T) {
	tests := []struct {
		in, want time.Duration
	}{
		{0, 0},
		{999 * time.Nanosecond, 999 * time.Nanosecond},
		{57_149 * time.Nanosecond, 57_100 * time.Nanosecond},
		{1_234_567 * time.Nanosecond, 1_230 * time.Microsecond},
		{1_499_999_999 * time.Nanosecond, 1_500 * time.Millisecond},
		{83 * time.Second, 83 * time.Second},
	}
	for _, tt := range tests {
		if got := round3(tt.in); got != tt.want {
			t.Errorf("round3(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPayload(t *testing.T) {
	for _, size := range []int{0, 1, 36, 37, 1000} {
		if got := payload(size); len(got) != size {
			t.Errorf("len(payload(%d)) = %d", size, len(got))
		}
	}
}

func TestBenchSetupFails(t *testing.T) {
	errDial := errors.New("dial refused")
	tests := []struct {
		name       string
		failDial   int // which dial fails: 1 is the client's, 2 the first replica's
		wantStderr string
	}{
		{"client", 1, "warren: bench: client: dial refused\n"},
		{"first replica", 2, "warren: bench: replica bench-1: dial refused\n"},
		{"second replica", 3, "warren: bench: replica bench-2: dial refused\n"},
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
			p := benchParams{ops: 5, conc: 1, servers: 2, timeout: time.Second, topic: "bench-test", exchange: "openstack"}
			var stdout, stderr bytes.Buffer
			if code := runBenchOn(t.Context(), p, dial, "memory", &stdout, &stderr); code != exitFailed {
				t.Errorf("bench = %d, want %d", code, exitFailed)
			}
			if stderr.String() != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", stderr.String(), tt.wantStderr)
			}
			for i, tr := range opened {
				if _, err := tr.Listen(t.Context(), target.Target{Topic: "t", Server: "s"}); !errors.Is(err, transport.ErrClosed) {
					t.Errorf("transport %d was left open: Listen = %v, want ErrClosed", i+1, err)
				}
			}
		})
	}
}
