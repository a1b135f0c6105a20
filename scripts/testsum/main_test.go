package main

import (
	"strings"
	"testing"
)

// stream is a go test -json run: a pass, a skip with its reason, a failing
// subtest, and a test still running when its package crashed.
const stream = `go: downloading example.com/x v1.0.0
{"Action":"start","Package":"p/a"}
{"Action":"run","Package":"p/a","Test":"TestOK"}
{"Action":"output","Package":"p/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"pass","Package":"p/a","Test":"TestOK"}
{"Action":"run","Package":"p/a","Test":"TestSkip"}
{"Action":"output","Package":"p/a","Test":"TestSkip","Output":"    a_test.go:9: no ::1 here\n"}
{"Action":"output","Package":"p/a","Test":"TestSkip","Output":"--- SKIP: TestSkip (0.00s)\n"}
{"Action":"skip","Package":"p/a","Test":"TestSkip"}
{"Action":"run","Package":"p/a","Test":"TestBad"}
{"Action":"run","Package":"p/a","Test":"TestBad/case"}
{"Action":"output","Package":"p/a","Test":"TestBad/case","Output":"    a_test.go:20: got 1, want 2\n"}
{"Action":"fail","Package":"p/a","Test":"TestBad/case"}
{"Action":"fail","Package":"p/a","Test":"TestBad"}
{"Action":"output","Package":"p/a","Output":"FAIL\n"}
{"Action":"output","Package":"p/a","Output":"FAIL\tp/a\t0.01s\n"}
{"Action":"fail","Package":"p/a"}
{"Action":"run","Package":"p/b","Test":"TestHang"}
{"Action":"output","Package":"p/b","Test":"TestHang","Output":"panic: test timed out\n"}
{"Action":"fail","Package":"p/b"}
{"Action":"output","Package":"p/c","Output":"ok  \tp/c\t0.5s\n"}
{"Action":"build-fail","ImportPath":"p/d [p/d.test]"}
`

func TestLive(t *testing.T) {
	var out strings.Builder
	if err := live(strings.NewReader(stream), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"go: downloading example.com/x v1.0.0\n",
		"--- SKIP p/a TestSkip: a_test.go:9: no ::1 here\n",
		"--- FAIL p/a TestBad/case\n    a_test.go:20: got 1, want 2\n",
		"FAIL\tp/a\t0.01s\n",
		"--- FAIL (did not finish) p/b TestHang\npanic: test timed out\n",
		"ok  \tp/c\t0.5s\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q; got:\n%s", want, got)
		}
	}
	for _, noise := range []string{"=== RUN", "\nFAIL\n", "TestOK"} {
		if strings.Contains(got, noise) {
			t.Errorf("output has %q; got:\n%s", noise, got)
		}
	}
}

func TestReport(t *testing.T) {
	tests := []struct {
		name, stream, allow string
		ok                  bool
		want                string
	}{
		{"everything", stream, "", false, "tests: 1 passed, 3 failed, 1 skipped (1 not allowed)"},
		{"pass only", `{"Action":"pass","Package":"p","Test":"TestA"}`, "", true, "tests: 1 passed, 0 failed, 0 skipped (0 not allowed)"},
		{"skip allowed", skipped("TestA/x", "no race here") + "\n" + `{"Action":"pass","Package":"p","Test":"TestB"}`, "# comment\nTestA/.* | race | runs elsewhere\n", true, "allowed      p TestA/x: runs elsewhere"},
		{"other test", skipped("TestAB", "no race here"), "TestA | race | runs elsewhere\n", false, "NOT ALLOWED  p TestAB: a_test.go:1: no race here"},
		{"other message", skipped("TestA", "tool missing"), "TestA | race | runs elsewhere\n", false, "NOT ALLOWED  p TestA: a_test.go:1: tool missing"},
		{"alternation in the name", skipped("TestB/v1", "crash before contact") + "\n" + `{"Action":"pass","Package":"p","Test":"TestC"}`, "TestA|TestB/(v1|v2) | crash (before|without) contact | crashed first\n", true, "allowed      p TestB/v1: crashed first"},
		{"started never ended", `{"Action":"run","Package":"p","Test":"TestA"}`, "", false, "tests: 0 passed, 1 failed"},
		{"nothing ran", "", "", false, "no test passed"},
		{"build failure", `{"Action":"build-fail","ImportPath":"p [p.test]"}`, "", false, "build failed: p [p.test]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allow, err := parseAllow(strings.NewReader(tt.allow))
			if err != nil {
				t.Fatal(err)
			}
			r := newResults()
			if err := r.read(strings.NewReader(tt.stream), nil); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			if ok := r.report(&out, allow); ok != tt.ok {
				t.Errorf("ok = %v, want %v; report:\n%s", ok, tt.ok, out.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("report lacks %q:\n%s", tt.want, out.String())
			}
		})
	}
}

// skipped is a stream where test skips with message msg.
func skipped(test, msg string) string {
	return `{"Action":"output","Package":"p","Test":"` + test + `","Output":"    a_test.go:1: ` + msg + `\n"}
{"Action":"skip","Package":"p","Test":"` + test + `"}`
}

func TestParseAllowBad(t *testing.T) {
	for _, line := range []string{"TestA", "TestA | msg", "TestA | msg | ", " | msg | why", "Test( | msg | why", "TestA | ( | why"} {
		if _, err := parseAllow(strings.NewReader(line + "\n")); err == nil {
			t.Errorf("%q was accepted", line)
		}
	}
}

func TestOutputBounded(t *testing.T) {
	var o testOutput
	for range 10000 {
		o.add("line\n")
	}
	var out strings.Builder
	o.write(&out)
	if n := strings.Count(out.String(), "\n"); n != maxHead+maxTail+1 {
		t.Errorf("%d lines kept, want %d", n, maxHead+maxTail+1)
	}
}
