package benchsuite

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// reportRows are two rows with known numbers: warren at half the best
// baseline's throughput and twice its p50, and a row whose baseline made
// nothing.
func reportRows() []Row {
	return []Row{
		{Name: "call c=64 100 B quorum", Quorum: true,
			Baseline: []Result{
				{Variant: "amqp091 quorum reply queue", PerSec: 1000, P50: 4 * time.Millisecond, ClientCPUPer1000: 0.1, ServerCPUPer1000: 0.2, AllocsPerOp: 80},
				{Variant: "amqp091 Direct Reply-to", PerSec: 2000, P50: 2 * time.Millisecond, ClientCPUPer1000: 0.05, ServerCPUPer1000: 0.04,
					BrokerCPUPer1000: 0.07, BrokerMeasured: true, AllocsPerOp: 78},
			},
			Warren: Result{Variant: "warren", PerSec: 1000, P50: 4 * time.Millisecond, ClientCPUPer1000: 0.123, ServerCPUPer1000: 0.456,
				BrokerCPUPer1000: 0.089, BrokerMeasured: true, AllocsPerOp: 170}},
		{Name: "cast c=1 100 B",
			Baseline: []Result{{Variant: "amqp091 confirms, streamed"}},
			Warren:   Result{Variant: "warren", PerSec: 10, P50: time.Millisecond}},
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMarkdown(&b, reportRows()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| workload | variant | ops/s | p50 ms | p99 ms | p99.9 ms | client CPU s / 1,000 ops | server CPU s / 1,000 ops | broker CPU s / 1,000 ops | client allocs / op | errors | warren / best baseline |\n",
		"| call c=64 100 B quorum | amqp091 Direct Reply-to | 2000 | 2.00 | 0.00 | 0.00 | 0.050 | 0.040 | 0.070 | 78 | 0 |  |\n",
		"| call c=64 100 B quorum | warren | 1000 | 4.00 | 0.00 | 0.00 | 0.123 | 0.456 | 0.089 | 170 | 0 | **0.50×** ops/s, p50 2.00× |\n",
		"| cast c=1 100 B | warren | 10 | 1.00 | 0.00 | 0.00 | 0.000 | 0.000 | – | 0 | 0 | **0.00×** ops/s, p50 0.00× |\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, b.String())
		}
	}
}

// TestWriteSVG checks that the chart is well-formed XML, and that each
// panel scales warren's bar against the best baseline's.
func TestWriteSVG(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSVG(&b, reportRows()); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	var widths []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the chart is not XML: %v\n%s", err, b.String())
		}
		if el, ok := tok.(xml.StartElement); ok && el.Name.Local == "rect" {
			for _, a := range el.Attr {
				if a.Name.Local == "width" {
					widths = append(widths, a.Value)
				}
			}
		}
	}
	// The background, then per row and panel the baseline's bar and
	// warren's: throughput 2000 against 1000, p50 2 ms against 4 ms; the
	// empty baseline has no bar.
	want := []string{"1010", "300", "150", "150", "300", "0", "300", "0", "300"}
	if strings.Join(widths, " ") != strings.Join(want, " ") {
		t.Errorf("rect widths %v, want %v", widths, want)
	}
	for _, s := range []string{"call c=64 100 B quorum", "0.50× ops/s, p50 2.00×", "2000/s", "4.00 ms"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("the chart lacks %q", s)
		}
	}
}

// TestFindBroker finds this test's own process by a port it listens on,
// as findBroker finds a local broker's, and reads its CPU time.
func TestFindBroker(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	b, err := findBroker(fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", port))
	if err != nil {
		t.Fatalf("findBroker = %v", err)
	}
	if b.pid != os.Getpid() {
		t.Errorf("findBroker found pid %d, want this process, %d", b.pid, os.Getpid())
	}
	// Burn some CPU so that at least one clock tick is counted.
	start := time.Now()
	for time.Since(start) < 50*time.Millisecond {
	}
	if cpu, err := b.cpu(); err != nil || cpu <= 0 {
		t.Errorf("cpu() = %v, %v; want a positive time", cpu, err)
	}
	for _, u := range []string{"amqp://broker.example:5672/", "amqp://10.1.2.3/", "://"} {
		if _, err := findBroker(u); err == nil {
			t.Errorf("findBroker(%q) = nil error, want one: not this machine's broker", u)
		}
	}
	ln.Close()
	if _, err := findBroker(fmt.Sprintf("amqp://127.0.0.1:%d/", port)); err == nil {
		t.Errorf("findBroker of a closed port = nil error")
	}
}
