package benchsuite

import (
	"fmt"
	"html"
	"io"
	"strings"
	"time"
)

// Ratio is warren's throughput over the best baseline's.
func (r *Row) Ratio() float64 {
	b := r.Best()
	if b.PerSec == 0 {
		return 0
	}
	return r.Warren.PerSec / b.PerSec
}

// P50Ratio is warren's median latency over the best baseline's.
func (r *Row) P50Ratio() float64 {
	b := r.Best()
	if b.P50 == 0 {
		return 0
	}
	return float64(r.Warren.P50) / float64(b.P50)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// WriteMarkdown writes the rows as a markdown table: each variant on a
// line, the ratio on warren's.
func WriteMarkdown(w io.Writer, rows []Row) error {
	var b strings.Builder
	b.WriteString("| workload | variant | ops/s | p50 ms | p99 ms | p99.9 ms | client CPU s / 1,000 ops | server CPU s / 1,000 ops | broker CPU s / 1,000 ops | client allocs / op | errors | warren / best baseline |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		for _, v := range append(append([]Result(nil), r.Baseline...), r.Warren) {
			ratio := ""
			if v.Variant == r.Warren.Variant {
				ratio = fmt.Sprintf("**%.2f×** ops/s, p50 %.2f×", r.Ratio(), r.P50Ratio())
			}
			broker := "–"
			if v.BrokerMeasured {
				broker = fmt.Sprintf("%.3f", v.BrokerCPUPer1000)
			}
			fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %s | %s | %.3f | %.3f | %s | %.0f | %d | %s |\n",
				r.Name, v.Variant, v.PerSec, ms(v.P50), ms(v.P99), ms(v.P999), v.ClientCPUPer1000, v.ServerCPUPer1000, broker, v.AllocsPerOp, v.Errors, ratio)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Layout of the chart: a column of row names, then two panels of bars.
const (
	chartLabelW = 230 // the row names
	chartBarW   = 300 // the longest bar of a panel
	chartPanelW = 380 // a panel: its bars and their values
	chartRowH   = 46
	chartTop    = 60
)

// WriteSVG writes a chart of the rows: for each, warren's bar beside the
// best baseline's in two panels, throughput (ops/s) and median latency
// (p50), each row scaled to its larger bar, with the ratios under the
// row's name.
func WriteSVG(w io.Writer, rows []Row) error {
	width := chartLabelW + 2*chartPanelW + 20
	height := chartTop + chartRowH*len(rows) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	b.WriteString(`<text x="10" y="20" font-size="14" font-weight="bold">warren vs the best hand-written amqp091-go, same run (bars scaled per row)</text>` + "\n")
	panels := []struct {
		title string
		value func(Result) float64
		label func(Result) string
	}{
		{"throughput, ops/s (longer is better)", func(r Result) float64 { return r.PerSec },
			func(r Result) string { return fmt.Sprintf("%.0f/s", r.PerSec) }},
		{"median latency, ms (shorter is better)", func(r Result) float64 { return float64(r.P50) },
			func(r Result) string { return ms(r.P50) + " ms" }},
	}
	for j, p := range panels {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", chartLabelW+j*chartPanelW, chartTop-12, p.title)
	}
	for i, r := range rows {
		y := chartTop + i*chartRowH
		best := r.Best()
		fmt.Fprintf(&b, `<text x="10" y="%d">%s</text>`+"\n", y+14, html.EscapeString(r.Name))
		fmt.Fprintf(&b, `<text x="10" y="%d" fill="#2b6cb0">%.2f× ops/s, p50 %.2f×</text>`+"\n", y+30, r.Ratio(), r.P50Ratio())
		for j, p := range panels {
			x := chartLabelW + j*chartPanelW
			top := max(p.value(best), p.value(r.Warren))
			for k, bar := range []struct {
				v     Result
				color string
			}{{best, "#999999"}, {r.Warren, "#2b6cb0"}} {
				bw := 0
				if top > 0 {
					bw = int(chartBarW * p.value(bar.v) / top)
				}
				by := y + k*18
				fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="16" fill="%s"/>`+"\n", x, by, bw, bar.color)
				fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", x+bw+4, by+12, html.EscapeString(p.label(bar.v)))
			}
		}
	}
	fmt.Fprintf(&b, `<text x="10" y="%d" fill="#555">grey: the best baseline of the row by throughput; blue: warren</text>`+"\n", height-10)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
