package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/peerfind/peerfind/crawl"
)

// maxTargetLine bounds one line of a targets file: a magnet link with many
// trackers is a few KB.
const maxTargetLine = 64 << 10

// badLine is a line of a targets file that names no target.
type badLine struct {
	file string
	line int
	err  error
}

func (b badLine) Error() string {
	if b.line == 0 {
		return b.err.Error()
	}
	return fmt.Sprintf("%s:%d: %v", b.file, b.line, b.err)
}

// readTargets reads a targets file: one TARGET per line (an info hash, a
// magnet link or a .torrent path, relative to the file's directory), blank
// lines and lines starting with # ignored. A line that names no target, or
// is longer than maxTargetLine, is passed to bad and skipped; only a read
// error fails the whole file.
func readTargets(r io.Reader, name, dir string, bad func(badLine)) ([]*crawl.Target, error) {
	br := bufio.NewReaderSize(r, 4096)
	var out []*crawl.Target
	for n := 1; ; n++ {
		raw, long, err := readLine(br, maxTargetLine)
		if err != nil && !errors.Is(err, io.EOF) {
			return out, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if errors.Is(err, io.EOF) && len(raw) == 0 && !long {
			return out, nil
		}
		line := strings.TrimSpace(string(raw))
		switch {
		case long:
			bad(badLine{file: name, line: n, err: fmt.Errorf("line longer than %d KiB", maxTargetLine>>10)})
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			if t, terr := resolveTarget(line, dir); terr != nil {
				bad(badLine{file: name, line: n, err: terr})
			} else {
				out = append(out, t)
			}
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
	}
}

// readLine returns the next line without its end, or reports it long (and
// consumes it) when it exceeds limit bytes: a huge or endless line costs
// no more than limit bytes of memory.
func readLine(br *bufio.Reader, limit int) (line []byte, long bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			if len(line)+len(chunk) > limit+1 { // +1: the newline
				long, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == nil && !long {
			line = line[:len(line)-1]
		}
		return line, long, err
	}
}

// resolveTarget resolves one TARGET of a crawl; a relative .torrent path is
// taken relative to dir when dir is not empty.
func resolveTarget(spec, dir string) (*crawl.Target, error) {
	if spec == "-" {
		return nil, fmt.Errorf("%q: standard input cannot be a target of a crawl", spec)
	}
	arg := spec
	if dir != "" && !filepath.IsAbs(spec) && !strings.Contains(spec, ":") {
		if _, err := os.Stat(filepath.Join(dir, spec)); err == nil {
			arg = filepath.Join(dir, spec)
		}
	}
	tg, err := loadTarget(arg, nil)
	if err != nil {
		return nil, err
	}
	name := tg.name
	if len(tg.InfoHashes) > 0 && name == tg.InfoHashes[0].String() {
		name = "" // a bare hash has no name; the hash is shown anyway
	}
	return crawl.NewTarget(tg.Target, name, spec)
}

// crawlTargets turns the crawl's arguments into targets: "-" reads a targets
// list from stdin, a file that is not a .torrent is a targets list, anything
// else is one TARGET. Duplicates (by info hash) are dropped.
func crawlTargets(args []string, stdin io.Reader, bad func(badLine)) ([]*crawl.Target, error) {
	var out []*crawl.Target
	seen := map[string]bool{}
	add := func(ts ...*crawl.Target) {
		for _, t := range ts {
			if k := t.Key.String(); !seen[k] {
				seen[k] = true
				out = append(out, t)
			}
		}
	}
	for _, a := range args {
		if a == "-" {
			ts, err := readTargets(stdin, "standard input", "", bad)
			if err != nil {
				return nil, err
			}
			add(ts...)
			continue
		}
		if isTargetsFile(a) {
			f, err := os.Open(a)
			if err != nil {
				return nil, err
			}
			ts, err := readTargets(f, a, filepath.Dir(a), bad)
			f.Close()
			if err != nil {
				return nil, err
			}
			add(ts...)
			continue
		}
		t, err := resolveTarget(a, "")
		if err != nil {
			bad(badLine{file: "argument", line: 0, err: err})
			continue
		}
		add(t)
	}
	return out, nil
}

// isTargetsFile reports whether path is a regular file that is not a
// .torrent: a .torrent is a bencoded dictionary, whose first byte is 'd'.
func isTargetsFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return false
	}
	var b [1]byte
	n, _ := f.Read(b[:])
	return n == 0 || b[0] != 'd'
}
