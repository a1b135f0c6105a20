package bencode

import (
	"errors"
	"reflect"
	"strconv"
)

// Sentinel errors. Decoding errors are *SyntaxError or *UnmarshalTypeError
// values that wrap one of these where a caller may want to branch on the
// condition; test with errors.Is.
var (
	// ErrDepth: lists and dicts are nested deeper than DecodeOptions.MaxDepth.
	ErrDepth = errors.New("bencode: nesting too deep")
	// ErrTrailing: bytes follow the first complete value and
	// DecodeOptions.AllowTrailing is false.
	ErrTrailing = errors.New("bencode: trailing data after value")
	// ErrUnsorted: dict keys are not in ascending bytewise order (BEP 3) and
	// DecodeOptions.Strict is set.
	ErrUnsorted = errors.New("bencode: dict keys not sorted")
	// ErrDuplicateKey: a dict holds the same key twice. Rejected in every mode,
	// because different implementations would keep different values.
	ErrDuplicateKey = errors.New("bencode: duplicate dict key")
	// ErrTooLarge: the input, or a string length prefix, exceeds
	// DecodeOptions.MaxSize.
	ErrTooLarge = errors.New("bencode: input too large")
	// ErrOverflow: an integer does not fit in int64. BEP 3 allows integers of
	// any size, but no BitTorrent field needs more than 64 bits.
	ErrOverflow = errors.New("bencode: integer overflows int64")
)

// A SyntaxError describes malformed bencode: where it is and what was
// expected or found. Truncated input wraps io.ErrUnexpectedEOF; limit and
// canonical-form violations wrap the sentinels above.
type SyntaxError struct {
	Offset int64  // byte offset in the input (for a Decoder, in the whole stream)
	Msg    string // what was expected or found, e.g. "leading zero in integer"
	Err    error  // wrapped cause such as ErrDepth or io.ErrUnexpectedEOF; may be nil
}

// Error returns "bencode: offset N: msg".
func (e *SyntaxError) Error() string {
	return "bencode: offset " + strconv.FormatInt(e.Offset, 10) + ": " + e.Msg
}

// Unwrap returns the wrapped sentinel, if any.
func (e *SyntaxError) Unwrap() error { return e.Err }

// An UnmarshalTypeError describes a well-formed bencode value that cannot be
// stored in the Go value it maps to: the wrong kind of value, an integer out of
// the field's range, or a string of the wrong length for a [N]byte array.
type UnmarshalTypeError struct {
	Offset int64        // byte offset of the value in the input
	Value  string       // bencode kind: "integer", "string", "list" or "dict"
	Type   reflect.Type // Go type that could not hold it
	Field  string       // path from the top-level value, e.g. "info.files[2].length"; "" at top level
	Detail string       // why, when the kinds alone do not say (e.g. "300 overflows uint8"); may be ""
}

// Error names the offset, the field path and both types.
func (e *UnmarshalTypeError) Error() string {
	s := "bencode: offset " + strconv.FormatInt(e.Offset, 10) + ": cannot unmarshal " + e.Value + " into "
	if e.Field != "" {
		s += "field " + e.Field + " of type " + e.Type.String()
	} else {
		s += "Go value of type " + e.Type.String()
	}
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// An InvalidUnmarshalError reports an argument to Unmarshal that is not a
// non-nil pointer.
type InvalidUnmarshalError struct {
	Type reflect.Type // nil when the argument was nil
}

// Error describes the bad argument.
func (e *InvalidUnmarshalError) Error() string {
	if e.Type == nil {
		return "bencode: Unmarshal(nil)"
	}
	if e.Type.Kind() != reflect.Pointer {
		return "bencode: Unmarshal(non-pointer " + e.Type.String() + ")"
	}
	return "bencode: Unmarshal(nil " + e.Type.String() + ")"
}

// An UnsupportedTypeError is returned by Marshal for Go types bencode cannot
// represent (floats, complex numbers, channels, functions, maps whose keys are
// not strings).
type UnsupportedTypeError struct {
	Type reflect.Type
}

// Error names the type.
func (e *UnsupportedTypeError) Error() string {
	return "bencode: unsupported type: " + e.Type.String()
}

// An UnsupportedValueError is returned by Marshal for values of a supported
// type that bencode cannot represent, such as a nil pointer outside a struct
// field or map entry (bencode has no null) or a uint64 above math.MaxInt64.
type UnsupportedValueError struct {
	Type reflect.Type
	Msg  string
}

// Error names the type and the problem.
func (e *UnsupportedValueError) Error() string {
	return "bencode: unsupported value of type " + e.Type.String() + ": " + e.Msg
}

// A MarshalerError wraps an error returned by a Marshaler, or reports that its
// output is not exactly one valid bencode value.
type MarshalerError struct {
	Type reflect.Type
	Err  error
}

// Error names the type and the cause.
func (e *MarshalerError) Error() string {
	return "bencode: error calling MarshalBencode for type " + e.Type.String() + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *MarshalerError) Unwrap() error { return e.Err }

// kindName names the bencode kind of the value starting with byte c.
func kindName(c byte) string {
	switch c {
	case 'i':
		return "integer"
	case 'l':
		return "list"
	case 'd':
		return "dict"
	}
	return "string"
}
