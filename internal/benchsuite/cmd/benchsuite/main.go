// Command benchsuite runs warren's benchmark suite against the broker at
// -url and writes a markdown table and an SVG chart. The servers run in
// processes of their own, this program started again in a server role.
//
//	./scripts/bench            # about 4 minutes: 1.5 s per measurement, 3 reps
//	./scripts/bench -full      # 10 s per measurement, 3 reps
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/warrenrpc/warren/internal/benchsuite"
)

func main() {
	benchsuite.ServeIfChild() // the suite's server processes are this program
	url := flag.String("url", "amqp://guest:guest@127.0.0.1:5672/", "the broker's AMQP `URL`")
	d := flag.Duration("d", 1500*time.Millisecond, "`duration` of each measurement")
	reps := flag.Int("reps", 3, "repetitions of each row, interleaved")
	full := flag.Bool("full", false, "10 s per measurement")
	short := flag.Bool("short", false, "four rows only")
	md := flag.String("md", "bench.md", "markdown table `file`")
	svg := flag.String("svg", "bench.svg", "SVG chart `file`")
	flag.Parse()
	if *full {
		*d = 10 * time.Second
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, benchsuite.Config{URL: *url, Duration: *d, Reps: *reps, Short: *short, Log: os.Stderr}, *md, *svg); err != nil {
		fmt.Fprintln(os.Stderr, "benchsuite:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg benchsuite.Config, md, svg string) error {
	rows, err := benchsuite.Run(ctx, cfg)
	if err != nil {
		return err
	}
	mem, err := benchsuite.MeasureInFlight(ctx, cfg.URL, 10_000)
	if err != nil {
		return err
	}
	note := fmt.Sprintf("\n%d calls in flight at once: client memory in use (heap and stacks) grew by %.1f MiB, goroutines by %d.\n",
		mem.Calls, float64(mem.Bytes)/(1<<20), mem.Goroutines)
	if err := benchsuite.WriteMarkdown(os.Stdout, rows); err != nil {
		return err
	}
	fmt.Print(note)
	for _, out := range []struct {
		name  string
		write func(*os.File) error
	}{
		{md, func(f *os.File) error {
			if err := benchsuite.WriteMarkdown(f, rows); err != nil {
				return err
			}
			_, err := f.WriteString(note)
			return err
		}},
		{svg, func(f *os.File) error { return benchsuite.WriteSVG(f, rows) }},
	} {
		f, err := os.Create(out.name)
		if err != nil {
			return err
		}
		if err := out.write(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
