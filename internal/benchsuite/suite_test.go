package benchsuite

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/memory"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	ServeIfChild() // the smoke test's server processes are this test binary
	goleak.VerifyTestMain(m)
}

// testURL returns the broker in WARREN_TEST_AMQP_URL, by default the
// local RabbitMQ.
func testURL() string {
	if url := os.Getenv("WARREN_TEST_AMQP_URL"); url != "" {
		return url
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// TestSmoke runs the suite's short rows once, briefly, against the broker
// in WARREN_TEST_AMQP_URL (default the local RabbitMQ), with its servers in
// processes of their own, and checks that every variant made calls without
// errors, that the CPU time of client and server was measured, and that
// the table and chart name each row. The full suite runs with ./scripts/bench, never in go test.
func TestSmoke(t *testing.T) {
	url := testURL()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := Run(ctx, Config{URL: url, Duration: 300 * time.Millisecond, Reps: 1, Short: true})
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	if len(rows) != 4 || !rows[3].Quorum {
		t.Fatalf("Run returned %d rows, want 4, the last on quorum queues", len(rows))
	}
	var md, svg bytes.Buffer
	if err := WriteMarkdown(&md, rows); err != nil {
		t.Fatal(err)
	}
	if err := WriteSVG(&svg, rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		for _, v := range append(r.Baseline, r.Warren) {
			if v.Ops == 0 || v.Errors != 0 || v.P50 <= 0 || v.AllocsPerOp <= 0 || v.ClientCPUPer1000 <= 0 || v.ServerCPUPer1000 <= 0 {
				t.Errorf("%s, %s: %d ops, %d errors, p50 %v, %.0f allocs/op, CPU s per 1,000 ops %.3f client %.3f server; want ops, no errors, all positive",
					r.Name, v.Variant, v.Ops, v.Errors, v.P50, v.AllocsPerOp, v.ClientCPUPer1000, v.ServerCPUPer1000)
			}
		}
		if r.Ratio() <= 0 {
			t.Errorf("%s: ratio %v, want > 0", r.Name, r.Ratio())
		}
		if !strings.Contains(md.String(), "| "+r.Name+" | warren |") || !strings.Contains(svg.String(), r.Name) {
			t.Errorf("the table or the chart lacks row %q", r.Name)
		}
	}
}

// TestInFlightMemory holds 1,000 calls in flight and checks that the
// measure saw them all and that each holds less than 64 KB (the bar of
// 10,000 calls in 64 MB is 6.5 KB each; ./scripts/bench measures that).
func TestInFlightMemory(t *testing.T) {
	url := testURL()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 1000
	got, err := MeasureInFlight(ctx, url, n)
	if err != nil {
		t.Fatalf("MeasureInFlight = %v", err)
	}
	if got.Calls != n || got.Goroutines < n {
		t.Errorf("MeasureInFlight = %+v, want %d calls and at least as many goroutines", got, n)
	}
	if per := got.Bytes / n; per == 0 || per > 64<<10 {
		t.Errorf("%d bytes per call in flight, want between 1 and 64 KiB", per)
	}
}

// TestWarmUpNotDelivered: a first call that never reaches the queue ends
// MeasureInFlight's warm-up with an error instead of a wait for ever.
func TestWarmUpNotDelivered(t *testing.T) {
	tr := memory.New()
	defer tr.Close()
	cl := rpcclient.New(tr, target.Target{Topic: "nobody-serves-this"})
	err := warmUp(t.Context(), cl, make(chan amqp.Delivery))
	if err == nil || !strings.HasPrefix(err.Error(), "benchsuite: the first call did not reach the queue: ") {
		t.Errorf("warmUp(call to no server) = %v, want the call's error", err)
	}
}

// BenchmarkInFlightMemory holds 10,000 calls in flight at once, as
// ./scripts/bench does, and reports the client memory they hold, in MiB
// and in bytes per call; run it once, without -race:
//
//	go test -run '^$' -bench InFlightMemory -benchtime 1x ./internal/benchsuite/
//
// Bar: 64 MB (issue 9). Measured on the 2-core machine: 47 MiB, of which
// 41 MB are the waiting callers' stacks at 4 KB each.
func BenchmarkInFlightMemory(b *testing.B) {
	const n = 10_000
	var total uint64
	for b.Loop() {
		got, err := MeasureInFlight(b.Context(), testURL(), n)
		if err != nil {
			b.Fatalf("MeasureInFlight = %v", err)
		}
		total += got.Bytes
	}
	b.ReportMetric(float64(total)/float64(b.N)/(1<<20), "MiB")
	b.ReportMetric(float64(total)/float64(b.N)/n, "B/call")
}

// TestServerProcFails starts server processes that cannot serve: their
// error reaches the parent, and they are gone.
func TestServerProcFails(t *testing.T) {
	tests := []struct {
		name string
		spec serverSpec
		want string
	}{
		{"unknown role", serverSpec{Role: "bogus"}, `benchsuite: bogus server: benchsuite: unknown server role "bogus"`},
		{"no broker", serverSpec{Role: roleBaseline, URL: "amqp://guest:guest@127.0.0.1:1/", Topic: "t"}, "benchsuite: baseline server: raw server: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := startServerProc(t.Context(), tt.spec)
			if err == nil {
				p.close()
				t.Fatalf("startServerProc(%+v) = nil error, want %q", tt.spec, tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("startServerProc(%+v) = %v, want %q", tt.spec, err, tt.want)
			}
		})
	}
}

// TestServeChildBadSpec feeds the server role a spec it cannot read.
func TestServeChildBadSpec(t *testing.T) {
	var out bytes.Buffer
	if code := serveChild("{", strings.NewReader(""), &out); code != 1 || !strings.HasPrefix(out.String(), "error "+serverEnv+": ") {
		t.Errorf("serveChild(bad JSON) = %d, wrote %q; want 1 and an error line", code, out.String())
	}
}
