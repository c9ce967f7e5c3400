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
	b.WriteString("| workload | variant | ops/s | p50 ms | p99 ms | p99.9 ms | CPU s / 1,000 ops | allocs / op | errors | warren / best baseline |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		for _, v := range append(append([]Result(nil), r.Baseline...), r.Warren) {
			ratio := ""
			if v.Variant == r.Warren.Variant {
				ratio = fmt.Sprintf("**%.2f×** ops/s, p50 %.2f×", r.Ratio(), r.P50Ratio())
			}
			fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %s | %s | %.3f | %.0f | %d | %s |\n",
				r.Name, v.Variant, v.PerSec, ms(v.P50), ms(v.P99), ms(v.P999), v.CPUPer1000, v.AllocsPerOp, v.Errors, ratio)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteSVG writes a bar chart of each row's throughput, warren's beside
// the best baseline's, each row scaled to its larger bar, with the ratio.
func WriteSVG(w io.Writer, rows []Row) error {
	const (
		left, barW, rowH, width = 220, 420, 46, 760
	)
	height := 40 + rowH*len(rows) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	b.WriteString(`<text x="10" y="20" font-size="14" font-weight="bold">warren vs hand-written amqp091-go: ops/s (bars scaled per row)</text>` + "\n")
	for i, r := range rows {
		y := 40 + i*rowH
		best := r.Best()
		top := max(best.PerSec, r.Warren.PerSec, 1)
		fmt.Fprintf(&b, `<text x="10" y="%d">%s</text>`+"\n", y+18, html.EscapeString(r.Name))
		bars := []struct {
			v     Result
			color string
		}{{best, "#999999"}, {r.Warren, "#2b6cb0"}}
		for j, bar := range bars {
			bw := int(float64(barW) * bar.v.PerSec / top)
			by := y + j*18
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="16" fill="%s"/>`+"\n", left, by, bw, bar.color)
			fmt.Fprintf(&b, `<text x="%d" y="%d">%.0f/s %s</text>`+"\n", left+bw+4, by+12, bar.v.PerSec, html.EscapeString(bar.v.Variant))
		}
		fmt.Fprintf(&b, `<text x="10" y="%d" fill="#2b6cb0">%.2f×, p50 %.2f×</text>`+"\n", y+34, r.Ratio(), r.P50Ratio())
	}
	fmt.Fprintf(&b, `<text x="10" y="%d" fill="#555">grey: best baseline; blue: warren</text>`+"\n", height-10)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
