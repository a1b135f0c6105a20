package bencode

import (
	"bytes"
	"reflect"
	"strconv"
	"sync"
)

// Decoding into Go values is driven by one decoderFunc per type, built once
// and cached, so the per-value work is a switch on the first byte plus the
// store; no type inspection happens in the hot path.

// decoderFunc stores the value at d.off into v (addressable and settable) and
// advances d.off past it.
type decoderFunc func(d *decodeState, v reflect.Value)

var decoderCache sync.Map // reflect.Type → decoderFunc

var (
	unmarshalerType = reflect.TypeFor[Unmarshaler]()
	rawMessageType  = reflect.TypeFor[RawMessage]()
	anyType         = reflect.TypeFor[any]()
	mapAnyType      = reflect.TypeFor[map[string]any]()
	sliceAnyType    = reflect.TypeFor[[]any]()
)

// decoderFor returns the cached decoder for t, building it if needed.
func decoderFor(t reflect.Type) decoderFunc {
	if f, ok := decoderCache.Load(t); ok {
		return f.(decoderFunc)
	}
	// Recursive types (type T struct{ Next *T }) reach decoderFor(T) again
	// while T's decoder is being built: hand them an indirection that waits
	// for the real one.
	var (
		wg sync.WaitGroup
		f  decoderFunc
	)
	wg.Add(1)
	fi, loaded := decoderCache.LoadOrStore(t, decoderFunc(func(d *decodeState, v reflect.Value) {
		wg.Wait()
		f(d, v)
	}))
	if loaded {
		return fi.(decoderFunc)
	}
	f = newDecoder(t)
	wg.Done()
	decoderCache.Store(t, f)
	return f
}

func newDecoder(t reflect.Type) decoderFunc {
	if t == rawMessageType {
		return decodeRawMessage
	}
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(unmarshalerType) {
		return decodeUnmarshaler
	}
	switch t.Kind() {
	case reflect.Bool:
		return decodeBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return decodeInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return decodeUint
	case reflect.String:
		return decodeString
	case reflect.Interface:
		return decodeInterface
	case reflect.Pointer:
		return newPointerDecoder(t)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return decodeByteSlice
		}
		if t == sliceAnyType {
			return decodeSliceAny
		}
		return newSliceDecoder(t)
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return decodeByteArray
		}
		return newArrayDecoder(t)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return decodeUnsupported
		}
		if t == mapAnyType {
			return decodeMapAny
		}
		return newMapDecoder(t)
	case reflect.Struct:
		return newStructDecoder(t)
	}
	return decodeUnsupported
}

func decodeUnsupported(d *decodeState, v reflect.Value) {
	d.mismatch(v.Type(), "unsupported Go type")
}

// rawEnd skips the value at d.off and returns its raw bytes.
func (d *decodeState) raw() []byte {
	start := d.off
	d.off = skipValue(d.data, start)
	return d.data[start:d.off]
}

func decodeRawMessage(d *decodeState, v reflect.Value) {
	v.SetBytes(bytes.Clone(d.raw()))
}

func decodeUnmarshaler(d *decodeState, v reflect.Value) {
	if err := v.Addr().Interface().(Unmarshaler).UnmarshalBencode(d.raw()); err != nil {
		d.saveError(err)
	}
}

func decodeBool(d *decodeState, v reflect.Value) {
	if d.data[d.off] != 'i' {
		d.mismatch(v.Type(), "")
		return
	}
	n, end := readInt(d.data, d.off)
	if n != 0 && n != 1 {
		d.mismatch(v.Type(), strconv.FormatInt(n, 10)+" is not 0 or 1")
		return
	}
	d.off = end
	v.SetBool(n == 1)
}

func decodeInt(d *decodeState, v reflect.Value) {
	if d.data[d.off] != 'i' {
		d.mismatch(v.Type(), "")
		return
	}
	n, end := readInt(d.data, d.off)
	if v.OverflowInt(n) {
		d.mismatch(v.Type(), strconv.FormatInt(n, 10)+" overflows "+v.Type().String())
		return
	}
	d.off = end
	v.SetInt(n)
}

func decodeUint(d *decodeState, v reflect.Value) {
	if d.data[d.off] != 'i' {
		d.mismatch(v.Type(), "")
		return
	}
	n, end := readInt(d.data, d.off)
	if n < 0 || v.OverflowUint(uint64(n)) {
		d.mismatch(v.Type(), strconv.FormatInt(n, 10)+" overflows "+v.Type().String())
		return
	}
	d.off = end
	v.SetUint(uint64(n))
}

// str returns the bytes of the string at d.off, or ok=false (after recording
// a mismatch) if the value there is not a string.
func (d *decodeState) str(t reflect.Type) ([]byte, bool) {
	if c := d.data[d.off]; c < '0' || c > '9' {
		d.mismatch(t, "")
		return nil, false
	}
	s, e := readStr(d.data, d.off)
	d.off = e
	return d.data[s:e], true
}

func decodeString(d *decodeState, v reflect.Value) {
	if b, ok := d.str(v.Type()); ok {
		v.SetString(string(b))
	}
}

func decodeByteSlice(d *decodeState, v reflect.Value) {
	if b, ok := d.str(v.Type()); ok {
		// Always a copy: callers may reuse the input buffer.
		v.SetBytes(append(make([]byte, 0, len(b)), b...))
	}
}

func decodeByteArray(d *decodeState, v reflect.Value) {
	if c := d.data[d.off]; c >= '0' && c <= '9' {
		s, e := readStr(d.data, d.off)
		if e-s != v.Len() {
			d.mismatch(v.Type(), "string of length "+strconv.Itoa(e-s)+", want "+strconv.Itoa(v.Len()))
			return
		}
		d.off = e
		copy(v.Bytes(), d.data[s:e])
		return
	}
	d.mismatch(v.Type(), "")
}

func decodeInterface(d *decodeState, v reflect.Value) {
	if !v.IsNil() {
		// A non-nil pointer in an interface is decoded into, as encoding/json
		// does; this lets callers choose the concrete type.
		if e := v.Elem(); e.Kind() == reflect.Pointer && !e.IsNil() {
			decoderFor(e.Type().Elem())(d, e.Elem())
			return
		}
	}
	if v.NumMethod() != 0 {
		d.mismatch(v.Type(), "")
		return
	}
	v.Set(reflect.ValueOf(d.anyValue()))
}

func newPointerDecoder(t reflect.Type) decoderFunc {
	elem := decoderFor(t.Elem())
	et := t.Elem()
	return func(d *decodeState, v reflect.Value) {
		if v.IsNil() {
			v.Set(reflect.New(et))
		}
		elem(d, v.Elem())
	}
}

func decodeSliceAny(d *decodeState, v reflect.Value) {
	if d.data[d.off] != 'l' {
		d.mismatch(v.Type(), "")
		return
	}
	v.Set(reflect.ValueOf(d.anyValue()))
}

func decodeMapAny(d *decodeState, v reflect.Value) {
	if d.data[d.off] != 'd' {
		d.mismatch(v.Type(), "")
		return
	}
	if v.IsNil() {
		v.Set(reflect.ValueOf(d.anyValue()))
		return
	}
	m := v.Interface().(map[string]any)
	data := d.data
	d.off++
	for data[d.off] != 'e' {
		ks, ke := readStr(data, d.off)
		d.off = ke
		m[d.string(data[ks:ke])] = d.anyValue()
	}
	d.off++
}

func newSliceDecoder(t reflect.Type) decoderFunc {
	elem := decoderFor(t.Elem())
	return func(d *decodeState, v reflect.Value) {
		if d.data[d.off] != 'l' {
			d.mismatch(v.Type(), "")
			return
		}
		d.off++
		// A fresh slice every time: never write into a backing array the
		// caller may still hold.
		v.SetZero()
		n := 0
		for d.data[d.off] != 'e' {
			if n == v.Cap() {
				v.Grow(1)
			}
			v.SetLen(n + 1)
			elem(d, v.Index(n))
			n++
		}
		d.off++
		if n == 0 {
			v.Set(reflect.MakeSlice(t, 0, 0))
		}
	}
}

func newArrayDecoder(t reflect.Type) decoderFunc {
	elem := decoderFor(t.Elem())
	return func(d *decodeState, v reflect.Value) {
		if d.data[d.off] != 'l' {
			d.mismatch(v.Type(), "")
			return
		}
		n := 0
		for i := d.off + 1; d.data[i] != 'e'; i = skipValue(d.data, i) {
			n++
		}
		if n != v.Len() {
			d.mismatch(v.Type(), "list of "+strconv.Itoa(n)+" elements, want "+strconv.Itoa(v.Len()))
			return
		}
		d.off++
		for i := 0; i < n; i++ {
			elem(d, v.Index(i))
		}
		d.off++
	}
}

func newMapDecoder(t reflect.Type) decoderFunc {
	elemType := t.Elem()
	elem := decoderFor(elemType)
	plainKey := t.Key() == reflect.TypeFor[string]()
	keyType := t.Key()
	return func(d *decodeState, v reflect.Value) {
		if d.data[d.off] != 'd' {
			d.mismatch(v.Type(), "")
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		d.off++
		ev := reflect.New(elemType).Elem()
		for d.data[d.off] != 'e' {
			ks, ke := readStr(d.data, d.off)
			d.off = ke
			kv := reflect.ValueOf(string(d.data[ks:ke]))
			if !plainKey {
				kv = kv.Convert(keyType)
			}
			ev.SetZero()
			elem(d, ev)
			v.SetMapIndex(kv, ev)
		}
		d.off++
	}
}

// structDecoder fills a struct from a dict.
type structDecoder struct {
	fields *structFields
	decs   []decoderFunc // parallel to fields.list
}

func newStructDecoder(t reflect.Type) decoderFunc {
	sd := &structDecoder{fields: cachedFields(t)}
	sd.decs = make([]decoderFunc, len(sd.fields.list))
	for i, f := range sd.fields.list {
		sd.decs[i] = decoderFor(f.typ)
	}
	return sd.decode
}

func (sd *structDecoder) decode(d *decodeState, v reflect.Value) {
	data := d.data
	if data[d.off] != 'd' {
		d.mismatch(v.Type(), "")
		return
	}
	d.off++
	list := sd.fields.list
	// Keys usually arrive in sorted order, the order of list, so try the
	// field after the previous match before hashing.
	next := 0
	for data[d.off] != 'e' {
		ks, ke := readStr(data, d.off)
		d.off = ke
		key := data[ks:ke]
		i := -1
		if next < len(list) && list[next].key == string(key) {
			i = next
		} else if j, ok := sd.fields.byKey[string(key)]; ok {
			i = j
		}
		if i < 0 {
			d.off = skipValue(data, d.off)
			continue
		}
		next = i + 1
		f := &list[i]
		var fv reflect.Value
		if len(f.index) == 1 {
			fv = v.Field(f.index[0])
		} else {
			var ok bool
			fv, ok = fieldByIndex(v, f.index, true)
			if !ok {
				d.mismatch(f.typ, "nil pointer to embedded unexported struct")
				continue
			}
		}
		sd.decs[i](d, fv)
	}
	d.off++
}
