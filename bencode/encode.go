package bencode

import (
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Marshal returns the canonical bencoding of v (BEP 3): dict keys in
// ascending bytewise order, no duplicates, integers without leading zeros.
//
// Integers of every kind encode as integers, bool as i0e/i1e, string, []byte
// and [N]byte as byte strings, slices and arrays as lists, maps with string
// keys and structs as dicts. Struct fields follow the same tags as Unmarshal;
// the option "omitempty" leaves out false, 0, "", and empty or nil slices,
// maps and pointers, and "omitzero" leaves out zero values. Bencode has no
// null, so nil pointers, nil interfaces and empty RawMessages in struct fields
// and map values are left out too; elsewhere they are an error. Nil slices
// and maps encode as empty lists and dicts.
//
// Marshaler values are asked for their encoding, which must be exactly one
// valid bencode value and is copied verbatim (so a RawMessage keeps its
// original, possibly unsorted, bytes). Floats, complex numbers, channels,
// functions, maps with non-string keys and uint64 values above
// math.MaxInt64 are errors.
func Marshal(v any) ([]byte, error) {
	return Append(nil, v)
}

// Append appends the bencoding of v to b, as Marshal does, and returns the
// extended buffer. On error b is returned unextended in length.
func Append(b []byte, v any) ([]byte, error) {
	e := encodeState{buf: b}
	if err := e.any(v); err != nil {
		return b, err
	}
	return e.buf, nil
}

// maxEncodeDepth stops Marshal on cyclic data instead of overflowing the
// stack.
const maxEncodeDepth = hardMaxDepth

type encodeState struct {
	buf   []byte
	depth int
}

func (e *encodeState) str(s string) {
	e.buf = strconv.AppendInt(e.buf, int64(len(s)), 10)
	e.buf = append(e.buf, ':')
	e.buf = append(e.buf, s...)
}

func (e *encodeState) bytes(s []byte) {
	e.buf = strconv.AppendInt(e.buf, int64(len(s)), 10)
	e.buf = append(e.buf, ':')
	e.buf = append(e.buf, s...)
}

func (e *encodeState) int(n int64) {
	e.buf = append(e.buf, 'i')
	e.buf = strconv.AppendInt(e.buf, n, 10)
	e.buf = append(e.buf, 'e')
}

func (e *encodeState) enter(t reflect.Type) error {
	e.depth++
	if e.depth > maxEncodeDepth {
		return &UnsupportedValueError{Type: t, Msg: "nested too deep (cyclic data?)"}
	}
	return nil
}

// any encodes the values generic decoding produces without reflection, and
// hands everything else to the type encoders.
func (e *encodeState) any(v any) error {
	switch x := v.(type) {
	case string:
		e.str(x)
	case []byte:
		e.bytes(x)
	case int64:
		e.int(x)
	case int:
		e.int(int64(x))
	case bool:
		if x {
			e.int(1)
		} else {
			e.int(0)
		}
	case []any:
		if err := e.enter(sliceAnyType); err != nil {
			return err
		}
		e.buf = append(e.buf, 'l')
		for _, el := range x {
			if err := e.any(el); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, 'e')
		e.depth--
	case map[string]any:
		if err := e.enter(mapAnyType); err != nil {
			return err
		}
		keys := make([]string, 0, len(x))
		for k, el := range x {
			if !isNil(el) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		e.buf = append(e.buf, 'd')
		for _, k := range keys {
			e.str(k)
			if err := e.any(x[k]); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, 'e')
		e.depth--
	case nil:
		return &UnsupportedValueError{Type: anyType, Msg: "nil (bencode has no null)"}
	default:
		rv := reflect.ValueOf(v)
		return encoderFor(rv.Type())(e, rv)
	}
	return nil
}

// isNil reports whether the interface value x holds nothing bencode can
// express: nil, a nil pointer, or an empty RawMessage.
func isNil(x any) bool {
	switch x := x.(type) {
	case nil:
		return true
	case string, int64, []any, map[string]any:
		return false
	case RawMessage:
		return len(x) == 0
	}
	return isNilValue(reflect.ValueOf(x))
}

func isNilValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	case reflect.Slice:
		return v.Type() == rawMessageType && v.Len() == 0
	}
	return false
}

func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

// encoderFunc appends the encoding of v.
type encoderFunc func(e *encodeState, v reflect.Value) error

var encoderCache sync.Map // reflect.Type → encoderFunc

var marshalerType = reflect.TypeFor[Marshaler]()

// encoderFor returns the cached encoder for t, building it if needed (with the
// same indirection as decoderFor for recursive types).
func encoderFor(t reflect.Type) encoderFunc {
	if f, ok := encoderCache.Load(t); ok {
		return f.(encoderFunc)
	}
	var (
		wg sync.WaitGroup
		f  encoderFunc
	)
	wg.Add(1)
	fi, loaded := encoderCache.LoadOrStore(t, encoderFunc(func(e *encodeState, v reflect.Value) error {
		wg.Wait()
		return f(e, v)
	}))
	if loaded {
		return fi.(encoderFunc)
	}
	f = newEncoder(t, true)
	wg.Done()
	encoderCache.Store(t, f)
	return f
}

func newEncoder(t reflect.Type, checkMethods bool) encoderFunc {
	if checkMethods {
		if t.Implements(marshalerType) {
			return encodeMarshaler
		}
		if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(marshalerType) {
			// Pointer-receiver method: usable only when v is addressable.
			plain := newEncoder(t, false)
			return func(e *encodeState, v reflect.Value) error {
				if v.CanAddr() {
					return encodeMarshaler(e, v.Addr())
				}
				return plain(e, v)
			}
		}
	}
	switch t.Kind() {
	case reflect.Bool:
		return encodeBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return encodeInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return encodeUint
	case reflect.String:
		return encodeString
	case reflect.Interface:
		return encodeInterface
	case reflect.Pointer:
		return newPointerEncoder(t)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return encodeByteSlice
		}
		return newListEncoder(t)
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return encodeByteArray
		}
		return newListEncoder(t)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return unsupportedEncoder
		}
		return newMapEncoder(t)
	case reflect.Struct:
		return newStructEncoder(t)
	}
	return unsupportedEncoder
}

func unsupportedEncoder(e *encodeState, v reflect.Value) error {
	return &UnsupportedTypeError{Type: v.Type()}
}

func encodeMarshaler(e *encodeState, v reflect.Value) error {
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return &UnsupportedValueError{Type: v.Type(), Msg: "nil (bencode has no null)"}
	}
	b, err := v.Interface().(Marshaler).MarshalBencode()
	if err != nil {
		return &MarshalerError{Type: v.Type(), Err: err}
	}
	if len(b) == 0 {
		return &MarshalerError{Type: v.Type(), Err: &SyntaxError{Msg: "empty output"}}
	}
	if v.Type() != rawMessageType { // RawMessage validated itself
		if _, err := (DecodeOptions{}).validate(b); err != nil {
			return &MarshalerError{Type: v.Type(), Err: err}
		}
	}
	e.buf = append(e.buf, b...)
	return nil
}

func encodeBool(e *encodeState, v reflect.Value) error {
	if v.Bool() {
		e.int(1)
	} else {
		e.int(0)
	}
	return nil
}

func encodeInt(e *encodeState, v reflect.Value) error {
	e.int(v.Int())
	return nil
}

func encodeUint(e *encodeState, v reflect.Value) error {
	u := v.Uint()
	if u > math.MaxInt64 {
		// Unmarshal would reject it; refuse to write what we cannot read.
		return &UnsupportedValueError{Type: v.Type(), Msg: strconv.FormatUint(u, 10) + " exceeds int64"}
	}
	e.int(int64(u))
	return nil
}

func encodeString(e *encodeState, v reflect.Value) error {
	e.str(v.String())
	return nil
}

func encodeByteSlice(e *encodeState, v reflect.Value) error {
	e.bytes(v.Bytes())
	return nil
}

func encodeByteArray(e *encodeState, v reflect.Value) error {
	if v.CanAddr() {
		e.bytes(v.Bytes())
		return nil
	}
	n := v.Len()
	e.buf = strconv.AppendInt(e.buf, int64(n), 10)
	e.buf = append(e.buf, ':')
	for i := 0; i < n; i++ {
		e.buf = append(e.buf, byte(v.Index(i).Uint()))
	}
	return nil
}

func encodeInterface(e *encodeState, v reflect.Value) error {
	if v.IsNil() {
		return &UnsupportedValueError{Type: v.Type(), Msg: "nil (bencode has no null)"}
	}
	if err := e.enter(v.Type()); err != nil {
		return err
	}
	err := e.any(v.Elem().Interface())
	e.depth--
	return err
}

func newPointerEncoder(t reflect.Type) encoderFunc {
	elem := encoderFor(t.Elem())
	return func(e *encodeState, v reflect.Value) error {
		if v.IsNil() {
			return &UnsupportedValueError{Type: t, Msg: "nil (bencode has no null)"}
		}
		if err := e.enter(t); err != nil {
			return err
		}
		err := elem(e, v.Elem())
		e.depth--
		return err
	}
}

func newListEncoder(t reflect.Type) encoderFunc {
	elem := encoderFor(t.Elem())
	return func(e *encodeState, v reflect.Value) error {
		if err := e.enter(t); err != nil {
			return err
		}
		e.buf = append(e.buf, 'l')
		for i, n := 0, v.Len(); i < n; i++ {
			if err := elem(e, v.Index(i)); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, 'e')
		e.depth--
		return nil
	}
}

func newMapEncoder(t reflect.Type) encoderFunc {
	elem := encoderFor(t.Elem())
	type entry struct {
		k string
		v reflect.Value
	}
	return func(e *encodeState, v reflect.Value) error {
		if err := e.enter(t); err != nil {
			return err
		}
		entries := make([]entry, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			if ev := it.Value(); !isNilValue(ev) {
				entries = append(entries, entry{it.Key().String(), ev})
			}
		}
		slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.k, b.k) })
		e.buf = append(e.buf, 'd')
		for _, en := range entries {
			e.str(en.k)
			if err := elem(e, en.v); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, 'e')
		e.depth--
		return nil
	}
}

type structEncoder struct {
	t      reflect.Type
	fields *structFields
	encs   []encoderFunc // parallel to fields.list
}

func newStructEncoder(t reflect.Type) encoderFunc {
	se := &structEncoder{t: t, fields: cachedFields(t)}
	se.encs = make([]encoderFunc, len(se.fields.list))
	for i, f := range se.fields.list {
		se.encs[i] = encoderFor(f.typ)
	}
	return se.encode
}

func (se *structEncoder) encode(e *encodeState, v reflect.Value) error {
	if err := e.enter(se.t); err != nil {
		return err
	}
	e.buf = append(e.buf, 'd')
	for i := range se.fields.list {
		f := &se.fields.list[i]
		fv, ok := fieldByIndex(v, f.index, false)
		if !ok || isNilValue(fv) ||
			(f.omitEmpty && isEmptyValue(fv)) ||
			(f.omitZero && fv.IsZero()) {
			continue
		}
		e.str(f.key)
		if err := se.encs[i](e, fv); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, 'e')
	e.depth--
	return nil
}
