package main

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"time"
)

// svgChart is a line chart of counts over time, written as a standalone SVG
// image: no script, no external style, readable by any browser or viewer.
type svgChart struct {
	Title  string
	Series []svgSeries
	// Band, if not empty, is shaded between its Low and High values: the
	// estimate's range. It is drawn under the series, in the first
	// series' colour.
	Band []svgRange
}

// svgRange is a low and a high value at one time.
type svgRange struct {
	T         time.Time
	Low, High float64
}

type svgSeries struct {
	Name   string
	Points []svgPoint // in time order
}

type svgPoint struct {
	T time.Time
	V float64
}

// The chart's geometry, in SVG user units.
const (
	svgW, svgH                   = 900, 460
	svgLeft, svgRight            = 70, 230 // the legend sits right of the plot
	svgTop, svgBottom            = 40, 50
	svgPlotW, svgPlotH           = svgW - svgLeft - svgRight, svgH - svgTop - svgBottom
	svgXTicks, svgYTicks         = 5, 5
	svgLegendRow, svgMaxLegendLn = 18, 20
)

var svgPalette = []string{"#000000", "#7f7f7f", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"}

func (c *svgChart) write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	var t0, t1 time.Time
	maxV := 0.0
	for _, s := range c.Series {
		for _, p := range s.Points {
			if t0.IsZero() || p.T.Before(t0) {
				t0 = p.T
			}
			if p.T.After(t1) {
				t1 = p.T
			}
			maxV = math.Max(maxV, p.V)
		}
	}
	for _, b := range c.Band {
		maxV = math.Max(maxV, b.High)
	}
	span := t1.Sub(t0)
	if span <= 0 {
		span = time.Hour // one round: a single column of dots
		t0 = t0.Add(-span / 2)
	}
	top := niceCeil(maxV)
	x := func(t time.Time) float64 { return svgLeft + float64(svgPlotW)*float64(t.Sub(t0))/float64(span) }
	y := func(v float64) float64 { return svgTop + float64(svgPlotH)*(1-v/top) }

	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(bw, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(bw, `<text x="%d" y="24" font-size="15">%s</text>`+"\n", svgLeft, html.EscapeString(c.Title))
	// Axes and grid.
	for i := 0; i <= svgYTicks; i++ {
		v := top * float64(i) / svgYTicks
		fmt.Fprintf(bw, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>`+"\n", svgLeft, y(v), svgLeft+svgPlotW, y(v))
		fmt.Fprintf(bw, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", svgLeft-6, y(v)+4, formatCount(v))
	}
	for i := 0; i <= svgXTicks; i++ {
		t := t0.Add(time.Duration(float64(span) * float64(i) / svgXTicks))
		fmt.Fprintf(bw, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e0e0e0"/>`+"\n", x(t), svgTop, x(t), svgTop+svgPlotH)
		fmt.Fprintf(bw, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x(t), svgTop+svgPlotH+18, t.UTC().Format(timeLabel(span)))
	}
	fmt.Fprintf(bw, `<text x="%d" y="%d" text-anchor="middle">time (UTC)</text>`+"\n", svgLeft+svgPlotW/2, svgH-10)
	fmt.Fprintf(bw, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#404040"/>`+"\n", svgLeft, svgTop, svgPlotW, svgPlotH)
	// The band: along the highs, back along the lows.
	if len(c.Band) > 1 {
		bw.WriteString(`<polygon fill="#000000" fill-opacity="0.08" stroke="none" points="`)
		for _, b := range c.Band {
			fmt.Fprintf(bw, "%.1f,%.1f ", x(b.T), y(b.High))
		}
		for i := len(c.Band) - 1; i >= 0; i-- {
			fmt.Fprintf(bw, "%.1f,%.1f ", x(c.Band[i].T), y(c.Band[i].Low))
		}
		bw.WriteString("\"><title>estimate range</title></polygon>\n")
	}
	// Series and legend.
	for i, s := range c.Series {
		color := svgPalette[i%len(svgPalette)]
		if len(s.Points) > 1 {
			fmt.Fprintf(bw, `<polyline fill="none" stroke="%s" stroke-width="%s" points="`, color, map[bool]string{true: "2.5", false: "1.5"}[i == 0])
			for j, p := range s.Points {
				if j > 0 {
					bw.WriteByte(' ')
				}
				fmt.Fprintf(bw, "%.1f,%.1f", x(p.T), y(p.V))
			}
			bw.WriteString("\"/>\n")
		}
		for _, p := range s.Points {
			fmt.Fprintf(bw, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%s %s: %s</title></circle>`+"\n", x(p.T), y(p.V), color, html.EscapeString(s.Name), p.T.UTC().Format(time.RFC3339), formatCount(p.V))
		}
		if i < svgMaxLegendLn {
			ly := svgTop + 10 + i*svgLegendRow
			fmt.Fprintf(bw, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", svgW-svgRight+15, ly, svgW-svgRight+35, ly, color)
			fmt.Fprintf(bw, `<text x="%d" y="%d">%s</text>`+"\n", svgW-svgRight+40, ly+4, html.EscapeString(truncate(s.Name, 28)))
		}
	}
	bw.WriteString("</svg>\n")
	return bw.Flush()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1), so
// that the y axis has round tick labels.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func formatCount(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// timeLabel picks a time format for the x axis by the span shown.
func timeLabel(span time.Duration) string {
	switch {
	case span < 24*time.Hour:
		return "15:04"
	case span < 30*24*time.Hour:
		return "Jan 2 15:04"
	}
	return "2006-01-02"
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
