package bencode

import (
	"reflect"
	"strconv"
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
	end, err := o.validate(data)
	if err != nil {
		return err
	}
	return decodeInto(data[:end], 0, v, rv)
}

// validate checks the value at the start of data against the grammar and the
// options and returns its end.
func (o DecodeOptions) validate(data []byte) (int, error) {
	if max := o.maxSize(); int64(len(data)) > max {
		return 0, &SyntaxError{Offset: max, Msg: "input of " + itoa(int64(len(data))) + " bytes exceeds size limit " + itoa(max), Err: ErrTooLarge}
	}
	s := getScanner(data, o)
	end, err := s.scan()
	putScanner(s)
	if err != nil {
		return 0, err
	}
	if end < len(data) && !o.AllowTrailing {
		return 0, trailingError(end, len(data))
	}
	return end, nil
}

// decodeInto stores the validated value data (which starts at stream offset
// base) into v, whose reflect.Value is rv.
func decodeInto(data []byte, base int64, v any, rv reflect.Value) error {
	d := decodeState{data: data, base: base}
	switch p := v.(type) {
	case *any:
		*p = d.anyValue()
	case *RawMessage:
		*p = append(RawMessage(nil), data...)
	default:
		decoderFor(rv.Type().Elem())(&d, rv.Elem())
	}
	if te, ok := d.err.(*UnmarshalTypeError); ok && te.Field == "" {
		te.Field = pathAt(data, int(te.Offset-base))
	}
	return d.err
}

// decodeState walks bencode that the scanner has accepted.
type decodeState struct {
	data []byte
	off  int
	base int64 // stream offset of data[0], for error offsets
	err  error // first error; decoding carries on past type errors
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

// anyValue decodes the value at d.off generically, without reflection.
func (d *decodeState) anyValue() any {
	data := d.data
	switch c := data[d.off]; {
	case c == 'i':
		n, end := readInt(data, d.off)
		d.off = end
		return n
	case c == 'l':
		d.off++
		list := []any{}
		for data[d.off] != 'e' {
			list = append(list, d.anyValue())
		}
		d.off++
		return list
	case c == 'd':
		d.off++
		m := make(map[string]any)
		for data[d.off] != 'e' {
			ks, ke := readStr(data, d.off)
			d.off = ke
			m[string(data[ks:ke])] = d.anyValue()
		}
		d.off++
		return m
	}
	s, e := readStr(data, d.off)
	d.off = e
	return string(data[s:e])
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func trailingError(end, n int) error {
	return &SyntaxError{Offset: int64(end), Err: ErrTrailing, Msg: "trailing data after top-level value (" + itoa(int64(n-end)) + " bytes)"}
}
