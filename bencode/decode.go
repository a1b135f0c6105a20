package bencode

import (
	"reflect"
	"strconv"
	"unsafe"
)

// Default limits, used when the DecodeOptions fields are zero.
const (
	// DefaultMaxDepth is libtorrent's bdecode depth limit; no real torrent or
	// KRPC message comes close (a multi-file v1 torrent nests 4 deep).
	DefaultMaxDepth = 100
	// DefaultMaxSize bounds the whole input.
	DefaultMaxSize = 64 << 20

	// hardMaxDepth caps MaxDepth because decoding into Go values recurses once
	// per nesting level.
	hardMaxDepth = 10000
)

// DecodeOptions configures decoding. The zero value is lenient about dict key
// order, uses the default limits and rejects trailing bytes; it is what
// Unmarshal uses. A DecodeOptions is a plain value and safe to share.
type DecodeOptions struct {
	// Strict rejects dicts whose keys are not in ascending bytewise order, as
	// BEP 3 requires of encoders. Lenient mode (false) accepts them, because
	// real .torrent files contain them and their info-hash must be computed
	// over the bytes as found. Both modes reject duplicate keys and every
	// other grammar violation (leading zeros, "-0", "ie", non-string keys).
	Strict bool
	// MaxDepth is the deepest nesting of lists and dicts accepted; a
	// top-level list or dict is depth 1. If 0 (or negative), DefaultMaxDepth.
	// Values above 10000 are treated as 10000.
	MaxDepth int
	// MaxSize is the largest input accepted, in bytes. If 0 (or negative),
	// DefaultMaxSize.
	MaxSize int64
	// AllowTrailing ignores bytes after the first complete value. Real
	// .torrent files often end with "\n". If false, trailing bytes are an
	// error wrapping ErrTrailing.
	AllowTrailing bool
}

func (o DecodeOptions) maxDepth() int {
	switch {
	case o.MaxDepth <= 0:
		return DefaultMaxDepth
	case o.MaxDepth > hardMaxDepth:
		return hardMaxDepth
	}
	return o.MaxDepth
}

func (o DecodeOptions) maxSize() int64 {
	if o.MaxSize <= 0 {
		return DefaultMaxSize
	}
	return o.MaxSize
}

// Unmarshal decodes the bencode value in data into v, which must be a non-nil
// pointer. It is DecodeOptions{}.Unmarshal: lenient key order, default limits,
// trailing bytes rejected.
//
// Integers decode into any integer kind (an error, never a wrap-around, if the
// value does not fit) and into bool (only i0e and i1e). Byte strings decode
// into string, []byte (always a fresh copy) and [N]byte (the length must be
// exactly N). Lists decode into slices and arrays (exactly N elements), dicts
// into structs and maps with string keys. Into an empty interface, values
// become int64, string, []any and map[string]any. Pointers are allocated as
// needed. RawMessage receives a copy of the value's bytes as they appear in
// data, and types implementing Unmarshaler receive the raw bytes.
//
// Struct fields are matched by the key in their `bencode:"key"` tag, or by the
// exact field name; unknown keys are ignored; embedded structs are flattened
// as in encoding/json.
//
// Short strings decoded into interface values (any, map[string]any, []any)
// share one allocation per call, which stays alive while any of them is.
//
// The whole input is validated before anything is stored, so a syntax error
// leaves v untouched. A value that does not fit its Go type produces an
// *UnmarshalTypeError; decoding continues with the rest and the first such
// error is returned.
func Unmarshal(data []byte, v any) error {
	return DecodeOptions{}.Unmarshal(data, v)
}

// Unmarshal is like the package-level Unmarshal with the options o.
func (o DecodeOptions) Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return &InvalidUnmarshalError{Type: reflect.TypeOf(v)}
	}
	if err := o.checkSize(data); err != nil {
		return err
	}
	s := getScanner(data, o)
	defer putScanner(s)
	s.counting = generic(v)
	end, err := o.scanOne(s)
	if err != nil {
		return err
	}
	return decodeInto(data[:end], 0, s, v, rv)
}

// generic reports whether v is a *any that will receive a generic value.
func generic(v any) bool {
	p, ok := v.(*any)
	return ok && (*p == nil || reflect.TypeOf(*p).Kind() != reflect.Pointer)
}

func (o DecodeOptions) checkSize(data []byte) error {
	if max := o.maxSize(); int64(len(data)) > max {
		return &SyntaxError{Offset: max, Msg: "input of " + itoa(int64(len(data))) + " bytes exceeds size limit " + itoa(max), Err: ErrTooLarge}
	}
	return nil
}

// scanOne validates the value at the start of s.data and returns its end.
func (o DecodeOptions) scanOne(s *scanner) (int, error) {
	end, err := s.scan()
	if err != nil {
		return 0, err
	}
	if end < len(s.data) && !o.AllowTrailing {
		return 0, trailingError(end, len(s.data))
	}
	return end, nil
}

// validate checks the value at the start of data against the grammar and the
// options and returns its end.
func (o DecodeOptions) validate(data []byte) (int, error) {
	if err := o.checkSize(data); err != nil {
		return 0, err
	}
	s := getScanner(data, o)
	defer putScanner(s)
	return o.scanOne(s)
}

// decodeInto stores the validated value data (which starts at stream offset
// base) into v, whose reflect.Value is rv. s is the scanner that validated it.
func decodeInto(data []byte, base int64, s *scanner, v any, rv reflect.Value) error {
	d := decodeState{data: data, base: base}
	switch p := v.(type) {
	case *any:
		if !generic(v) {
			decodeInterface(&d, rv.Elem()) // decode into the pointer it holds
			break
		}
		d.small = s.small
		if s.counting {
			d.counts = s.counts
		}
		*p = d.anyValue()
	case *RawMessage:
		*p = append(RawMessage(nil), data...)
	default:
		if t := rv.Type().Elem(); t == mapAnyType || t == sliceAnyType {
			// The whole document is decoded generically: worth an arena.
			// Elsewhere (an any field in a struct) it would hold strings
			// that are never decoded.
			d.small = s.small
		}
		decoderFor(rv.Type().Elem())(&d, rv.Elem())
	}
	if te, ok := d.err.(*UnmarshalTypeError); ok && te.Field == "" {
		te.Field = pathAt(data, int(te.Offset-base))
	}
	return d.err
}

// decodeState walks bencode that the scanner has accepted.
type decodeState struct {
	data  []byte
	off   int
	base  int64 // stream offset of data[0], for error offsets
	err   error // first error; decoding carries on past type errors
	small int   // arena size: bytes of strings up to smallString long in data; 0 for no arena
	arena []byte
	// counts holds the element count of every container in data in
	// document order, when the scanner recorded them; ci is the next one.
	counts []int
	ci     int
}

// smallString is the longest string generic decoding copies into the shared
// arena rather than allocating on its own.
const smallString = 512

// string returns b as a string that does not alias the input. Generic
// decoding produces thousands of short keys and values per torrent; rather
// than one allocation each, they are copied into one arena sized by the
// scanner, and the strings point into it. The arena is never appended to past
// its capacity, so it never moves, and bytes handed out are never written
// again. Keeping one such string alive keeps the arena (the document's short
// strings, typically a few KiB) alive.
func (d *decodeState) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) <= smallString && d.small > 0 {
		if d.arena == nil {
			d.arena = make([]byte, 0, d.small)
		}
		if len(d.arena)+len(b) <= cap(d.arena) {
			start := len(d.arena)
			d.arena = append(d.arena, b...)
			return unsafe.String(&d.arena[start], len(b))
		}
	}
	return string(b)
}

func (d *decodeState) saveError(err error) {
	if d.err == nil {
		d.err = err
	}
}

// mismatch records that the value at d.off cannot be stored in type t, and
// skips it.
func (d *decodeState) mismatch(t reflect.Type, detail string) {
	d.saveError(&UnmarshalTypeError{
		Offset: d.base + int64(d.off),
		Value:  kindName(d.data[d.off]),
		Type:   t,
		Detail: detail,
	})
	d.off = skipValue(d.data, d.off)
}

// anyValue decodes the value at d.off generically, without reflection. With
// the scanner's container counts, each slice and map is allocated once at its
// final size.
func (d *decodeState) anyValue() any {
	data := d.data
	switch c := data[d.off]; {
	case c == 'i':
		n, end := readInt(data, d.off)
		d.off = end
		return n
	case c == 'l':
		d.off++
		var list []any
		if d.counts != nil {
			list = make([]any, d.counts[d.ci])
			d.ci++
			for i := range list {
				list[i] = d.anyValue()
			}
		} else {
			list = []any{}
			for data[d.off] != 'e' {
				list = append(list, d.anyValue())
			}
		}
		d.off++
		return list
	case c == 'd':
		d.off++
		var m map[string]any
		if d.counts != nil {
			m = make(map[string]any, d.counts[d.ci])
			d.ci++
		} else {
			m = make(map[string]any)
		}
		for data[d.off] != 'e' {
			ks, ke := readStr(data, d.off)
			d.off = ke
			m[d.string(data[ks:ke])] = d.anyValue()
		}
		d.off++
		return m
	}
	s, e := readStr(data, d.off)
	d.off = e
	return d.string(data[s:e])
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func trailingError(end, n int) error {
	return &SyntaxError{Offset: int64(end), Err: ErrTrailing, Msg: "trailing data after top-level value (" + itoa(int64(n-end)) + " bytes)"}
}
