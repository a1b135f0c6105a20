package bencode

import (
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// syntaxCases covers the BEP 3 grammar: every input either decodes to want or
// fails at offset off with a message containing msg (and wrapping is, if set).
var syntaxCases = []struct {
	in     string
	strict bool
	want   any
	off    int64
	msg    string
	is     error
}{
	// Integers.
	{in: "i0e", want: int64(0)},
	{in: "i3e", want: int64(3)},
	{in: "i-3e", want: int64(-3)},
	{in: "i9223372036854775807e", want: int64(9223372036854775807)},
	{in: "i-9223372036854775808e", want: int64(-9223372036854775808)},
	{in: "i9223372036854775808e", off: 1, msg: "integer overflows int64", is: ErrOverflow},
	{in: "i-9223372036854775809e", off: 2, msg: "integer overflows int64", is: ErrOverflow},
	{in: "i99999999999999999999999e", off: 1, msg: "overflows", is: ErrOverflow},
	{in: "i03e", off: 1, msg: "leading zero in integer"},
	{in: "i00e", off: 1, msg: "leading zero in integer"},
	{in: "li03ee", off: 2, msg: "leading zero in integer"},
	{in: "i-0e", off: 1, msg: "negative zero"},
	{in: "i-03e", off: 1, msg: "negative zero"},
	{in: "ie", off: 1, msg: "empty integer"},
	{in: "i-e", off: 2, msg: "empty integer"},
	{in: "i+1e", off: 1, msg: "expected digit in integer, found '+'"},
	{in: "i1.5e", off: 2, msg: "expected 'e' after integer, found '.'"},
	{in: "i 1e", off: 1, msg: "expected digit"},
	{in: "i0x", off: 2, msg: "expected 'e' after integer"},
	{in: "i12", off: 3, msg: "unexpected end of input in integer", is: io.ErrUnexpectedEOF},
	{in: "i", off: 1, msg: "unexpected end of input", is: io.ErrUnexpectedEOF},
	{in: "i-", off: 2, msg: "unexpected end of input", is: io.ErrUnexpectedEOF},
	{in: "i0", off: 2, msg: "unexpected end of input", is: io.ErrUnexpectedEOF},

	// Strings.
	{in: "0:", want: ""},
	{in: "4:spam", want: "spam"},
	{in: "3:\x00\xff\n", want: "\x00\xff\n"},
	{in: "04:spam", off: 0, msg: "leading zero in string length"},
	{in: "00:", off: 0, msg: "leading zero in string length"},
	{in: "5:spam", off: 0, msg: "string length 5 exceeds remaining input (4 bytes)", is: io.ErrUnexpectedEOF},
	{in: "999999999999:", off: 0, msg: "string length 999999999999 exceeds remaining input (0 bytes)", is: io.ErrUnexpectedEOF},
	{in: "99999999999999999999999:", off: 0, msg: "too large", is: ErrTooLarge},
	{in: "4spam", off: 1, msg: "expected ':' after string length, found 's'"},
	{in: "-1:a", off: 0, msg: "expected a value"},
	{in: "4", off: 1, msg: "unexpected end of input in string length", is: io.ErrUnexpectedEOF},
	{in: "l4", off: 2, msg: "unexpected end of input in string length", is: io.ErrUnexpectedEOF},

	// Lists.
	{in: "le", want: []any{}},
	{in: "l4:spam4:eggse", want: []any{"spam", "eggs"}},
	{in: "lli1eee", want: []any{[]any{int64(1)}}},
	{in: "l", off: 1, msg: "unexpected end of input inside list", is: io.ErrUnexpectedEOF},
	{in: "li1e", off: 4, msg: "unexpected end of input inside list", is: io.ErrUnexpectedEOF},
	{in: "e", off: 0, msg: "unexpected 'e'"},
	{in: "lx", off: 1, msg: "expected a value (integer, string, list or dict), found 'x'"},

	// Dicts.
	{in: "de", want: map[string]any{}},
	{in: "d3:cow3:moo4:spam4:eggse", want: map[string]any{"cow": "moo", "spam": "eggs"}},
	{in: "d4:spaml1:a1:bee", want: map[string]any{"spam": []any{"a", "b"}}},
	{in: "d0:i1ee", want: map[string]any{"": int64(1)}},
	{in: "d1:ai1e2:aai2e1:bi3ee", want: map[string]any{"a": int64(1), "aa": int64(2), "b": int64(3)}},
	{in: "d1:bi1e1:ai2ee", want: map[string]any{"a": int64(2), "b": int64(1)}},
	{in: "d1:bi1e1:ai2ee", strict: true, off: 7, msg: `dict keys not sorted ("a" after "b")`, is: ErrUnsorted},
	{in: "d1:\xffi1e1:\x7fi2ee", strict: true, off: 7, msg: "not sorted", is: ErrUnsorted}, // bytewise, not signed
	{in: "d1:\x7fi1e1:\xffi2ee", strict: true, want: map[string]any{"\x7f": int64(1), "\xff": int64(2)}},
	{in: "d1:ai1e1:ai2ee", off: 7, msg: `duplicate dict key "a"`, is: ErrDuplicateKey},
	{in: "d1:ai1e1:ai2ee", strict: true, off: 7, msg: `duplicate dict key "a"`, is: ErrDuplicateKey},
	{in: "d1:bi1e1:ai2e1:bi3ee", off: 13, msg: `duplicate dict key "b"`, is: ErrDuplicateKey},
	{in: "d1:ci1e1:bi2e1:ai3e1:bi4ee", off: 19, msg: `duplicate dict key "b"`, is: ErrDuplicateKey},
	{in: "d1:bd1:bi1e1:ai2e1:bi3eee", off: 17, msg: `duplicate dict key "b"`, is: ErrDuplicateKey}, // inner dict
	{in: "d1:bd1:bi1e1:ai2ee1:ai1e1:bi3ee", off: 24, msg: `duplicate dict key "b"`, is: ErrDuplicateKey},
	{in: "di1ei2ee", off: 1, msg: "dict key must be a byte string, found 'i'"},
	{in: "dlei1ee", off: 1, msg: "dict key must be a byte string, found 'l'"},
	{in: "d1:ae", off: 4, msg: `missing value for dict key "a"`},
	{in: "d1:a", off: 4, msg: "unexpected end of input inside dict", is: io.ErrUnexpectedEOF},
	{in: "d", off: 1, msg: "unexpected end of input inside dict", is: io.ErrUnexpectedEOF},

	// Whole input.
	{in: "", off: 0, msg: "unexpected end of input at start of value", is: io.ErrUnexpectedEOF},
	{in: "de\n", off: 2, msg: "trailing data after top-level value (1 bytes)", is: ErrTrailing},
	{in: "i1ei2e", off: 3, msg: "trailing data", is: ErrTrailing},
	{in: " i1e", off: 0, msg: "expected a value"},
}

func TestSyntax(t *testing.T) {
	for _, tc := range syntaxCases {
		var got any
		err := DecodeOptions{Strict: tc.strict}.Unmarshal([]byte(tc.in), &got)
		if tc.msg == "" {
			if err != nil {
				t.Errorf("%q strict=%v: %v", tc.in, tc.strict, err)
			} else if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%q: got %#v, want %#v", tc.in, got, tc.want)
			}
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q strict=%v: got %v (%T), want SyntaxError %q", tc.in, tc.strict, err, err, tc.msg)
			continue
		}
		if se.Offset != tc.off || !strings.Contains(se.Msg, tc.msg) {
			t.Errorf("%q strict=%v: got %q, want offset %d: %q", tc.in, tc.strict, err, tc.off, tc.msg)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%q: error %v does not wrap %v", tc.in, err, tc.is)
		}
		if got != nil {
			t.Errorf("%q: value %#v stored despite error", tc.in, got)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	err := Unmarshal([]byte("d1:ai1e1:bi03ee"), new(any))
	if got, want := err.Error(), "bencode: offset 11: leading zero in integer"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAllowTrailing(t *testing.T) {
	var v map[string]any
	if err := (DecodeOptions{AllowTrailing: true}).Unmarshal([]byte("d1:ai1ee\ngarbage"), &v); err != nil {
		t.Fatal(err)
	}
	if v["a"] != int64(1) {
		t.Errorf("got %v", v)
	}
}

func nested(n int) []byte {
	b := make([]byte, 2*n)
	for i := 0; i < n; i++ {
		b[i] = 'l'
		b[n+i] = 'e'
	}
	return b
}

func TestDepth(t *testing.T) {
	var v any
	if err := Unmarshal(nested(DefaultMaxDepth), &v); err != nil {
		t.Errorf("depth %d: %v", DefaultMaxDepth, err)
	}
	err := Unmarshal(nested(DefaultMaxDepth+1), &v)
	var se *SyntaxError
	if !errors.Is(err, ErrDepth) || !errors.As(err, &se) || se.Offset != DefaultMaxDepth {
		t.Errorf("depth %d: got %v, want ErrDepth at offset %d", DefaultMaxDepth+1, err, DefaultMaxDepth)
	}
	if err := (DecodeOptions{MaxDepth: 3}).Unmarshal([]byte("d1:ald1:ali1eeeee"), &v); !errors.Is(err, ErrDepth) {
		t.Errorf("MaxDepth 3, depth 4: %v", err)
	}
	if err := (DecodeOptions{MaxDepth: 3}).Unmarshal([]byte("d1:aldeee"), &v); err != nil {
		t.Errorf("MaxDepth 3, depth 3: %v", err)
	}
	if err := (DecodeOptions{MaxDepth: 1000}).Unmarshal(nested(1000), &v); err != nil {
		t.Errorf("MaxDepth 1000: %v", err)
	}
}

// TestDeepNesting: a million nested lists fail at the limit, iteratively.
func TestDeepNesting(t *testing.T) {
	in := nested(1_000_000)
	for _, o := range []DecodeOptions{{}, {MaxDepth: 1 << 30}} {
		err := o.Unmarshal(in, new(any))
		if !errors.Is(err, ErrDepth) {
			t.Errorf("MaxDepth %d: got %v, want ErrDepth", o.MaxDepth, err)
		}
		if _, _, err := o.DictValue(in, "x"); !errors.Is(err, ErrDepth) {
			t.Errorf("DictValue: got %v, want ErrDepth", err)
		}
	}
	// Unclosed: fails at the limit before reaching the end.
	if err := Unmarshal(in[:1_000_000], new(any)); !errors.Is(err, ErrDepth) {
		t.Errorf("unclosed: %v", err)
	}
}

// TestHugeLengthNoAlloc: a length prefix far beyond the input fails before any
// large allocation.
func TestHugeLengthNoAlloc(t *testing.T) {
	for _, in := range []string{"999999999999:", "l999999999999:e", "d1:a999999999999:", "d999999999999:"} {
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		var v any
		err := Unmarshal([]byte(in), &v)
		runtime.ReadMemStats(&ms1)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: %v", in, err)
		}
		if d := ms1.TotalAlloc - ms0.TotalAlloc; d > 1<<20 {
			t.Errorf("%q: allocated %d bytes", in, d)
		}
	}
	allocs := testing.AllocsPerRun(100, func() { Unmarshal([]byte("999999999999:"), new(any)) })
	if allocs > 10 {
		t.Errorf("%v allocs", allocs)
	}
}

func TestMaxSize(t *testing.T) {
	o := DecodeOptions{MaxSize: 10}
	if err := o.Unmarshal([]byte("10:abcdefgh"), new(any)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("got %v", err)
	}
	if err := o.Unmarshal([]byte("8:abcdefgh"), new(any)); err != nil {
		t.Errorf("got %v", err)
	}
}

// TestUnsortedLarge exercises duplicate detection in big unsorted dicts.
func TestUnsortedLarge(t *testing.T) {
	var b strings.Builder
	b.WriteString("d")
	for i := 999; i >= 0; i-- {
		k := itoa(int64(1000 + i))
		b.WriteString("4:" + k + "i" + itoa(int64(i)) + "e")
	}
	valid := b.String() + "e"
	var m map[string]any
	if err := Unmarshal([]byte(valid), &m); err != nil || len(m) != 1000 {
		t.Fatalf("%v, %d keys", err, len(m))
	}
	dup := b.String() + "4:1500i0ee"
	if err := Unmarshal([]byte(dup), new(any)); !errors.Is(err, ErrDuplicateKey) {
		t.Errorf("got %v", err)
	}
}

// TestNestedUnsortedLinear: nested dicts, each out of order only after a
// large value, cost one pass, not one per level (an earlier design rescanned
// each dict when its disorder showed up: 100 levels meant 100 passes).
func TestNestedUnsortedLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("large input")
	}
	build := func(first, second string) []byte {
		var b strings.Builder
		for range 99 {
			b.WriteString("d1:" + first)
		}
		b.WriteString("l" + strings.Repeat("i0e", 2<<20) + "e")
		for range 99 {
			b.WriteString("1:" + second + "i0ee")
		}
		return []byte(b.String())
	}
	unsorted, sorted := build("b", "a"), build("a", "b")
	measure := func(in []byte) time.Duration {
		start := time.Now()
		if err := Unmarshal(in, new(RawMessage)); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	measure(sorted) // warm up
	ts, tu := measure(sorted), measure(unsorted)
	if tu > 10*ts+time.Second {
		t.Errorf("unsorted nesting took %v, sorted %v", tu, ts)
	}
}
