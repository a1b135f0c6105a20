// Command testsum reads the output of `go test -json` and keeps the test
// suite honest: scripts/test.sh pipes every go test run through it.
//
// Without file arguments it reads one stream from standard input and prints
// it readably as it arrives: one line per package (ok, FAIL, no test files),
// the whole output of each failing test, and one line per skipped test with
// its reason. Lines that are not JSON (go command messages) pass through.
//
// With -summary it reads the saved streams named on the command line and
// prints the counts of passed, failed and skipped tests. It exits 1 when a
// test or a package failed, when a test started and never ended (a crash or
// a timeout), when a test skipped that the -allow list does not name, or
// when no test passed at all.
//
// An -allow file has one entry per line, three fields separated by " | "
// (a bar between spaces, so that a bar inside a regular expression stays
// alternation): a
// regular expression matched against the whole test name (subtests
// included, e.g. TestX/case), a regular expression the skip message must
// contain a match of, and why that skip is legitimate. Blank lines and lines
// starting with # are ignored. An entry without a reason is an error.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

func main() {
	summary := flag.Bool("summary", false, "print the counts of the saved streams named as arguments and check them")
	allowFile := flag.String("allow", "", "file listing the skips that are legitimate (with -summary)")
	flag.Parse()
	if !*summary {
		if err := live(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "testsum:", err)
			os.Exit(1)
		}
		return
	}
	var allow []allowEntry
	if *allowFile != "" {
		f, err := os.Open(*allowFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testsum:", err)
			os.Exit(2)
		}
		allow, err = parseAllow(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "testsum: %s: %v\n", *allowFile, err)
			os.Exit(2)
		}
	}
	r := newResults()
	for _, name := range flag.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testsum:", err)
			os.Exit(2)
		}
		err = r.read(f, nil)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "testsum: %s: %v\n", name, err)
			os.Exit(2)
		}
	}
	if !r.report(os.Stdout, allow) {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (cmd/test2json), with the build
// events the go command adds since Go 1.24.
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output, build-fail
}

// maxKept bounds the output kept per test: a failing test's report shows its
// first and last lines, never megabytes.
const (
	maxHead = 60
	maxTail = 200
)

type testOutput struct {
	head    []string
	tail    []string // ring of the last maxTail lines once head is full
	dropped int
}

func (o *testOutput) add(line string) {
	if len(o.head) < maxHead {
		o.head = append(o.head, line)
		return
	}
	if len(o.tail) == maxTail {
		o.tail = o.tail[1:]
		o.dropped++
	}
	o.tail = append(o.tail, line)
}

func (o *testOutput) write(w io.Writer) {
	for _, l := range o.head {
		io.WriteString(w, l)
	}
	if o.dropped > 0 {
		fmt.Fprintf(w, "    … %d lines left out …\n", o.dropped)
	}
	for _, l := range o.tail {
		io.WriteString(w, l)
	}
}

type key struct{ pkg, test string }

type skip struct {
	key
	reason string
}

// results accumulates what one or more streams report.
type results struct {
	out       map[key]*testOutput
	running   map[key]bool
	passed    int
	failed    []key
	skipped   []skip
	pkgFailed []string
	buildFail []string
}

func newResults() *results {
	return &results{out: map[key]*testOutput{}, running: map[key]bool{}}
}

// read consumes one stream. When w is not nil it also prints the stream
// readably as it goes.
func (r *results) read(in io.Reader, w io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil || e.Action == "" {
			if w != nil {
				fmt.Fprintf(w, "%s\n", line)
			}
			continue
		}
		r.handle(e, w)
	}
	return sc.Err()
}

func (r *results) handle(e event, w io.Writer) {
	k := key{e.Package, e.Test}
	switch {
	case e.Action == "build-output":
		if w != nil {
			io.WriteString(w, e.Output)
		}
	case e.Action == "build-fail":
		r.buildFail = append(r.buildFail, e.ImportPath)
	case e.Test == "":
		switch e.Action {
		case "output":
			// The package's own lines: "ok  pkg 1.2s", "FAIL pkg", "? pkg
			// [no test files]", and anything printed outside a test. The
			// bare PASS/FAIL verdict of the test binary repeats them.
			if w != nil && e.Output != "PASS\n" && e.Output != "FAIL\n" && !strings.HasPrefix(e.Output, "testing: warning: no tests to run") {
				io.WriteString(w, e.Output)
			}
		case "fail":
			r.pkgFailed = append(r.pkgFailed, e.Package)
			// Tests still running when their package failed (a panic, a
			// timeout) never report an end of their own.
			for rk := range r.running {
				if rk.pkg == e.Package {
					delete(r.running, rk)
					r.failed = append(r.failed, rk)
					if w != nil {
						fmt.Fprintf(w, "--- FAIL (did not finish) %s %s\n", rk.pkg, rk.test)
						if o := r.out[rk]; o != nil {
							o.write(w)
						}
					}
					delete(r.out, rk)
				}
			}
		}
	default:
		switch e.Action {
		case "run":
			r.running[k] = true
		case "output":
			if strings.HasPrefix(e.Output, "=== ") {
				return // RUN, PAUSE, CONT, NAME: noise in a report
			}
			o := r.out[k]
			if o == nil {
				o = &testOutput{}
				r.out[k] = o
			}
			o.add(e.Output)
		case "pass":
			r.passed++
			delete(r.running, k)
			delete(r.out, k)
		case "fail":
			r.failed = append(r.failed, k)
			delete(r.running, k)
			if w != nil {
				fmt.Fprintf(w, "--- FAIL %s %s\n", e.Package, e.Test)
				if o := r.out[k]; o != nil {
					o.write(w)
				}
			}
			delete(r.out, k)
		case "skip":
			reason := skipReason(r.out[k])
			r.skipped = append(r.skipped, skip{k, reason})
			delete(r.running, k)
			delete(r.out, k)
			if w != nil {
				fmt.Fprintf(w, "--- SKIP %s %s: %s\n", e.Package, e.Test, reason)
			}
		}
	}
}

// skipReason is what the test passed to t.Skip: its output lines other than
// the "--- SKIP" verdict, joined.
func skipReason(o *testOutput) string {
	if o == nil {
		return "(no reason given)"
	}
	var parts []string
	for _, l := range append(o.head, o.tail...) {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		parts = append(parts, t)
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	return strings.Join(parts, " ")
}

type allowEntry struct {
	test, message *regexp.Regexp
	reason        string
}

func parseAllow(in io.Reader) ([]allowEntry, error) {
	var list []allowEntry
	sc := bufio.NewScanner(in)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, " | ", 3)
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if len(f) < 3 || f[0] == "" || f[1] == "" || f[2] == "" {
			return nil, fmt.Errorf("line %d: %q: want test | skip message | reason, none empty: every allowed skip says why it is legitimate", n, line)
		}
		test, err := regexp.Compile("^(?:" + f[0] + ")$")
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		msg, err := regexp.Compile(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		list = append(list, allowEntry{test, msg, f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return list, nil
}

func allowed(list []allowEntry, s skip) (string, bool) {
	for _, a := range list {
		if a.test.MatchString(s.test) && a.message.MatchString(s.reason) {
			return a.reason, true
		}
	}
	return "", false
}

// report prints the counts and every problem; it returns whether the suite
// passed.
func (r *results) report(w io.Writer, allow []allowEntry) bool {
	ok := true
	for k := range r.running {
		r.failed = append(r.failed, k) // started, never ended, and its package said nothing
	}
	if len(r.buildFail) > 0 {
		ok = false
		fmt.Fprintf(w, "build failed: %s\n", strings.Join(r.buildFail, ", "))
	}
	if len(r.pkgFailed) > 0 {
		ok = false
		sort.Strings(r.pkgFailed)
		fmt.Fprintf(w, "packages failed: %s\n", strings.Join(r.pkgFailed, ", "))
	}
	if len(r.failed) > 0 {
		ok = false
		sort.Slice(r.failed, func(i, j int) bool {
			return r.failed[i].pkg+" "+r.failed[i].test < r.failed[j].pkg+" "+r.failed[j].test
		})
		fmt.Fprintln(w, "tests failed:")
		for _, k := range r.failed {
			fmt.Fprintf(w, "  %s %s\n", k.pkg, k.test)
		}
	}
	var notAllowed int
	if len(r.skipped) > 0 {
		fmt.Fprintln(w, "tests skipped:")
		for _, s := range r.skipped {
			if why, yes := allowed(allow, s); yes {
				fmt.Fprintf(w, "  allowed      %s %s: %s\n", s.pkg, s.test, why)
				continue
			}
			notAllowed++
			fmt.Fprintf(w, "  NOT ALLOWED  %s %s: %s\n", s.pkg, s.test, s.reason)
		}
	}
	if r.passed == 0 {
		ok = false
		fmt.Fprintln(w, "no test passed: the streams hold no test results")
	}
	if notAllowed > 0 {
		ok = false
		fmt.Fprintf(w, "%d skips are not on the allow-list of scripts/test.sh: a test that cannot run must fail, or its skip be listed there with its reason\n", notAllowed)
	}
	fmt.Fprintf(w, "tests: %d passed, %d failed, %d skipped (%d not allowed)\n", r.passed, len(r.failed), len(r.skipped), notAllowed)
	return ok
}

func live(in io.Reader, w io.Writer) error {
	return newResults().read(in, w)
}
