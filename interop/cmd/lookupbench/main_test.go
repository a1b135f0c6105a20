package main

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestSmoke runs a tiny benchmark and checks that the table parses and holds
// measurements, so that the program cannot rot unnoticed.
func TestSmoke(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"-nodes", "20", "-lookups", "2", "-rtt", "10ms", "-deadline", "60s"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, errb.String(), out.String())
	}
	t.Logf("output:\n%s", out.String())
	rows := make(map[string][]string)
	var header []string
	for l := range strings.Lines(out.String()) {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if f[0] == "impl" {
			header = f
			continue
		}
		rows[f[0]] = f[1:]
	}
	if want := append([]string{"impl"}, columns...); !slices.Equal(header, want) {
		t.Fatalf("header %q, want %q", header, want)
	}
	for _, impl := range []string{"peerfind", "anacrolix", "ratio"} {
		r, ok := rows[impl]
		if !ok {
			t.Fatalf("no %s row", impl)
		}
		if len(r) != len(columns) {
			t.Fatalf("%s row has %d values, want %d: %q", impl, len(r), len(columns), r)
		}
		if impl == "ratio" {
			continue
		}
		val := func(col string) float64 {
			s := r[slices.Index(columns, col)]
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("%s %s: %q is not a number", impl, col, s)
			}
			return v
		}
		if n := val("lookups"); n != 2 {
			t.Errorf("%s: %v lookups, want 2", impl, n)
		}
		if q := val("queries/lookup"); q < 1 {
			t.Errorf("%s: %v queries per lookup", impl, q)
		}
		// Every placed peer sits at one of the closest of 20 nodes: a
		// lookup that finds none of them is broken.
		if f := val("found_pct"); f <= 0 || f > 100 {
			t.Errorf("%s: found %v%% of the placed peers", impl, f)
		}
		if f := val("first_p50_ms"); f <= 0 {
			t.Errorf("%s: first peer after %v ms", impl, f)
		}
	}
	for i, s := range rows["ratio"][1:] {
		if _, err := strconv.ParseFloat(s, 64); err != nil && s != "-" {
			t.Errorf("ratio %s: %q", columns[i+1], s)
		}
	}
}

// TestBadFlags checks that flag mistakes exit with status 2 before any
// socket is opened.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-kind", "both"},
		{"-nodes", "3"},
		{"-peers", "9"},
		{"-lookups", "0"},
		{"-nosuchflag"},
	} {
		var out, errb bytes.Buffer
		if code := run(t.Context(), args, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
		if out.Len() != 0 {
			t.Errorf("%q: wrote %q to stdout", args, out.String())
		}
	}
}
