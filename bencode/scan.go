package bencode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"sync"
)

// The scanner is the single place where the BEP 3 grammar is checked. It walks
// one value iteratively, with an explicit stack bounded by MaxDepth, so hostile
// nesting costs a counter rather than Go stack. Everything after it (the
// reflection decoder, DictValue, skipping) trusts its verdict and re-reads the
// bytes without checks.
//
// It is resumable for the streaming Decoder: when input ends inside a token it
// returns errNeedMore with pos at the start of that token, having changed no
// state for it, and can be called again once more bytes are appended.

// errNeedMore is internal: input ended inside the value and more may come.
var errNeedMore = errors.New("bencode: need more input")

// span is a half-open byte range [start, end) of the input.
type span struct{ start, end int }

// frame is one open list or dict.
type frame struct {
	start    int  // offset of the 'l' or 'd'
	dict     bool // dict rather than list
	wantKey  bool // dict: the next token is a key (or the closing 'e')
	prev     span // dict: previous key's bytes; prev.end == 0 means none yet
	unsorted bool // dict: a key arrived out of order (lenient mode)
	keysBase int  // dict: index in scanner.keys of this dict's first key
	n        int  // elements (list) or entries (dict) so far
	ci       int  // index in scanner.counts, or -1 when not counting
}

// scanner validates one bencode value in data.
type scanner struct {
	data     []byte
	pos      int   // next byte to examine
	base     int64 // offset of data[0] in the stream, for error messages
	strict   bool
	final    bool // no more input will be appended: running out is a syntax error
	maxDepth int
	maxSize  int64 // while streaming: the largest value, checked against string length prefixes
	stack    []frame
	keys     []span // keys of the open dicts, for duplicate detection
	small    int    // total length of strings up to smallString bytes, to size decodeState.arena
	counting bool   // record container sizes in counts
	counts   []int  // element count of each list and dict, in order of their start

	// findKey support for DictValue: the span of the value stored under
	// find in the top-level dict.
	find    string
	finding bool
	found   span
	inFound bool // the value under find is being scanned
}

// scanners recycles scanners, so their stacks are allocated once rather than
// per call: escape analysis cannot keep a stack array behind a slice that
// methods append to.
var scanners = sync.Pool{New: func() any {
	return &scanner{stack: make([]frame, 0, 32), keys: make([]span, 0, 32)}
}}

// getScanner returns a scanner for a complete input (final) with options o.
func getScanner(data []byte, o DecodeOptions) *scanner {
	s := scanners.Get().(*scanner)
	s.data = data
	s.base = 0
	s.strict = o.Strict
	s.final = true
	s.maxDepth = o.maxDepth()
	s.maxSize = o.maxSize()
	s.find, s.finding = "", false
	s.counting = false
	s.reset(0)
	return s
}

// putScanner returns s to the pool, dropping its reference to the input.
func putScanner(s *scanner) {
	s.data, s.find = nil, ""
	if cap(s.stack) > 1024 || cap(s.keys) > 1<<16 || cap(s.counts) > 1<<16 {
		return // let an outsized one go
	}
	scanners.Put(s)
}

// reset prepares s to scan a new value starting at data[pos].
func (s *scanner) reset(pos int) {
	s.pos = pos
	s.stack = s.stack[:0]
	s.keys = s.keys[:0]
	s.small = 0
	s.counts = s.counts[:0]
	s.found = span{-1, -1}
	s.inFound = false
}

func (s *scanner) errorf(off int, wrapped error, format string, args ...any) error {
	return &SyntaxError{Offset: s.base + int64(off), Msg: fmt.Sprintf(format, args...), Err: wrapped}
}

// eof reports input ending at off: either ask for more or fail.
func (s *scanner) eof(tokStart int, what string) error {
	if !s.final {
		s.pos = tokStart
		return errNeedMore
	}
	return s.errorf(len(s.data), io.ErrUnexpectedEOF, "unexpected end of input %s", what)
}

// quoteByte renders a found byte for messages: 'x' when printable ASCII,
// else its hex value.
func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// scan validates from s.pos until one complete value has been read and
// returns the offset just after it.
func (s *scanner) scan() (int, error) {
	data := s.data
	i := s.pos
	for {
		if i >= len(data) {
			if len(s.stack) == 0 {
				return 0, s.eof(i, "at start of value")
			}
			return 0, s.eof(i, "inside "+containerName(s.stack[len(s.stack)-1].dict))
		}
		c := data[i]
		var top *frame
		if n := len(s.stack); n > 0 {
			top = &s.stack[n-1]
		}
		if top != nil && top.dict && top.wantKey {
			if c == 'e' {
				if top.unsorted {
					if err := s.checkDuplicates(top.keysBase); err != nil {
						return 0, err
					}
				}
				s.keys = s.keys[:top.keysBase]
				if top.ci >= 0 {
					s.counts[top.ci] = top.n
				}
				i++
				s.stack = s.stack[:len(s.stack)-1]
				if done, end := s.valueDone(i); done {
					return end, nil
				}
				continue
			}
			if c < '0' || c > '9' {
				return 0, s.errorf(i, nil, "dict key must be a byte string, found %s", quoteByte(c))
			}
			ks, ke, err := s.str(i)
			if err != nil {
				return 0, err
			}
			if err := s.key(top, i, span{ks, ke}); err != nil {
				return 0, err
			}
			top.wantKey = false
			i = ke
			if s.finding && len(s.stack) == 1 && s.found.start < 0 && string(data[ks:ke]) == s.find {
				s.inFound = true
			}
			continue
		}
		switch {
		case c == 'i':
			_, end, err := s.integer(i)
			if err != nil {
				return 0, err
			}
			s.markValueStart(i)
			i = end
		case c >= '0' && c <= '9':
			_, end, err := s.str(i)
			if err != nil {
				return 0, err
			}
			s.markValueStart(i)
			i = end
		case c == 'l' || c == 'd':
			if len(s.stack) >= s.maxDepth {
				return 0, s.errorf(i, ErrDepth, "nesting depth exceeds %d", s.maxDepth)
			}
			s.markValueStart(i)
			f := frame{start: i, dict: c == 'd', wantKey: c == 'd', keysBase: len(s.keys), ci: -1}
			if s.counting {
				f.ci = len(s.counts)
				s.counts = append(s.counts, 0)
			}
			s.stack = append(s.stack, f)
			i++
			continue
		case c == 'e':
			if top == nil {
				return 0, s.errorf(i, nil, "unexpected 'e', expected a value")
			}
			if top.dict {
				return 0, s.errorf(i, nil, "missing value for dict key %q", string(data[top.prev.start:top.prev.end]))
			}
			if top.ci >= 0 {
				s.counts[top.ci] = top.n
			}
			i++
			s.stack = s.stack[:len(s.stack)-1]
		default:
			return 0, s.errorf(i, nil, "expected a value (integer, string, list or dict), found %s", quoteByte(c))
		}
		if done, end := s.valueDone(i); done {
			return end, nil
		}
	}
}

func containerName(dict bool) string {
	if dict {
		return "dict"
	}
	return "list"
}

// markValueStart records where the value under the searched key begins.
func (s *scanner) markValueStart(i int) {
	if s.inFound && s.found.start < 0 {
		s.found.start = i
	}
}

// valueDone is called after a value ending at i has been consumed. It updates
// the enclosing dict's state and reports whether the top-level value is done.
func (s *scanner) valueDone(i int) (bool, int) {
	n := len(s.stack)
	if n == 0 {
		s.pos = i
		return true, i
	}
	top := &s.stack[n-1]
	top.n++
	if top.dict {
		top.wantKey = true
		if s.inFound && n == 1 {
			s.found.end = i
			s.inFound = false
		}
	}
	return false, 0
}

// integer validates "i<digits>e" at data[i] == 'i' per BEP 3: an optional
// '-', then digits with no leading zero, not "-0", not empty; and it must fit
// in int64.
func (s *scanner) integer(i int) (int64, int, error) {
	data := s.data
	j := i + 1
	neg := false
	if j < len(data) && data[j] == '-' {
		neg = true
		j++
	}
	if j >= len(data) {
		return 0, 0, s.eof(i, "in integer")
	}
	c := data[j]
	if c < '0' || c > '9' {
		if c == 'e' {
			return 0, 0, s.errorf(j, nil, "empty integer")
		}
		return 0, 0, s.errorf(j, nil, "expected digit in integer, found %s", quoteByte(c))
	}
	if c == '0' {
		if neg {
			return 0, 0, s.errorf(j-1, nil, "negative zero in integer")
		}
		j++
		if j >= len(data) {
			return 0, 0, s.eof(i, "in integer")
		}
		if c := data[j]; c != 'e' {
			if c >= '0' && c <= '9' {
				return 0, 0, s.errorf(j-1, nil, "leading zero in integer")
			}
			return 0, 0, s.errorf(j, nil, "expected 'e' after integer, found %s", quoteByte(c))
		}
		return 0, j + 1, nil
	}
	limit := uint64(math.MaxInt64)
	if neg {
		limit++
	}
	digits := j
	var u uint64
	for ; j < len(data); j++ {
		c := data[j]
		if c < '0' || c > '9' {
			if c != 'e' {
				return 0, 0, s.errorf(j, nil, "expected 'e' after integer, found %s", quoteByte(c))
			}
			n := int64(u)
			if neg {
				n = -n // also right for MinInt64, whose magnitude wrapped to itself
			}
			return n, j + 1, nil
		}
		d := uint64(c - '0')
		if u > (limit-d)/10 {
			return 0, 0, s.errorf(digits, ErrOverflow, "integer overflows int64")
		}
		u = u*10 + d
	}
	return 0, 0, s.eof(i, "in integer")
}

// str validates "<length>:<bytes>" at data[i], a digit, and returns the span
// of the bytes. The length is checked against the remaining input (or, while
// streaming, MaxSize) before anything else happens, so a huge prefix costs
// nothing.
func (s *scanner) str(i int) (int, int, error) {
	data := s.data
	j := i
	if data[j] == '0' && j+1 < len(data) && data[j+1] >= '0' && data[j+1] <= '9' {
		return 0, 0, s.errorf(i, nil, "leading zero in string length")
	}
	var n uint64
	for ; j < len(data); j++ {
		c := data[j]
		if c < '0' || c > '9' {
			break
		}
		if j-i >= 18 {
			// 19 digits may exceed int64; no input is that large anyway.
			return 0, 0, s.errorf(i, ErrTooLarge, "string length %s... too large", string(data[i:j]))
		}
		n = n*10 + uint64(c-'0')
	}
	if j >= len(data) {
		return 0, 0, s.eof(i, "in string length")
	}
	if data[j] != ':' {
		return 0, 0, s.errorf(j, nil, "expected ':' after string length, found %s", quoteByte(data[j]))
	}
	start := j + 1
	if rem := uint64(len(data) - start); n > rem {
		if s.final {
			return 0, 0, s.errorf(i, io.ErrUnexpectedEOF, "string length %d exceeds remaining input (%d bytes)", n, rem)
		}
		if int64(start)+int64(n) > s.maxSize {
			return 0, 0, s.errorf(i, ErrTooLarge, "string length %d exceeds size limit %d", n, s.maxSize)
		}
		s.pos = i
		return 0, 0, errNeedMore
	}
	if n <= smallString {
		s.small += int(n)
	}
	return start, start + int(n), nil
}

// key checks the dict key k, whose length prefix starts at off, against the
// previous key of dict f. BEP 3 requires keys "in sorted order (sorted as raw
// strings)". Strict mode rejects any disorder; lenient mode accepts it, because
// real torrents (aria2's test files, libtorrent's unordered.torrent) have it and
// their info-hash is over the bytes as they are. Duplicates are rejected in
// both modes: in sorted order a duplicate is always next to its twin, so one
// comparison finds it; once a dict is out of order its keys are sorted at the
// closing 'e' to look for them.
//
// Every key of every open dict is remembered for that, not only those of
// dicts already known to be unsorted: finding the earlier keys again when the
// first disorder shows up would mean rescanning the dict, and nested unsorted
// dicts would then rescan the same bytes once per level.
func (s *scanner) key(f *frame, off int, k span) error {
	data := s.data
	if f.prev.end != 0 && !f.unsorted {
		switch bytes.Compare(data[f.prev.start:f.prev.end], data[k.start:k.end]) {
		case 0:
			return s.errorf(off, ErrDuplicateKey, "duplicate dict key %q", string(data[k.start:k.end]))
		case 1:
			if s.strict {
				return s.errorf(off, ErrUnsorted, "dict keys not sorted (%q after %q)", string(data[k.start:k.end]), string(data[f.prev.start:f.prev.end]))
			}
			f.unsorted = true
		}
	}
	s.keys = append(s.keys, k)
	f.prev = k
	return nil
}

// checkDuplicates sorts s.keys[base:] and reports the later occurrence of any
// key that appears twice.
func (s *scanner) checkDuplicates(base int) error {
	data := s.data
	ks := s.keys[base:]
	slices.SortFunc(ks, func(a, b span) int {
		if c := bytes.Compare(data[a.start:a.end], data[b.start:b.end]); c != 0 {
			return c
		}
		return a.start - b.start
	})
	for i := 1; i < len(ks); i++ {
		if bytes.Equal(data[ks[i-1].start:ks[i-1].end], data[ks[i].start:ks[i].end]) {
			// Report at the length prefix of the second occurrence.
			off := ks[i].start - 1
			for off > 0 && data[off-1] >= '0' && data[off-1] <= '9' {
				off--
			}
			return s.errorf(off, ErrDuplicateKey, "duplicate dict key %q", string(data[ks[i].start:ks[i].end]))
		}
	}
	return nil
}

// The helpers below read bencode that the scanner has already accepted, so
// they do no checking at all.

// readStr returns the span of the string whose length prefix starts at i.
func readStr(data []byte, i int) (int, int) {
	n := 0
	for ; data[i] != ':'; i++ {
		n = n*10 + int(data[i]-'0')
	}
	return i + 1, i + 1 + n
}

// readInt returns the integer starting with 'i' at i and the offset after it.
func readInt(data []byte, i int) (int64, int) {
	i++
	neg := data[i] == '-'
	if neg {
		i++
	}
	var u uint64
	for ; data[i] != 'e'; i++ {
		u = u*10 + uint64(data[i]-'0')
	}
	n := int64(u)
	if neg {
		n = -n
	}
	return n, i + 1
}

// skipValue returns the offset just after the value starting at i.
func skipValue(data []byte, i int) int {
	depth := 0
	for {
		switch c := data[i]; {
		case c == 'i':
			i++
			for data[i] != 'e' {
				i++
			}
			i++
		case c == 'l' || c == 'd':
			depth++
			i++
			continue
		case c == 'e':
			depth--
			i++
		default:
			_, i = readStr(data, i)
		}
		if depth == 0 {
			return i
		}
	}
}
