package bencode

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"slices"
	"testing"
	"testing/iotest"
	"unsafe"
)

// fuzzSeedMax bounds the corpus files used as seeds: the large ones are large
// only because of their pieces strings and would slow every execution.
const fuzzSeedMax = 64 << 10

var fuzzHand = []string{
	"i0e", "i-1e", "i9223372036854775807e", "i-9223372036854775808e", "i03e", "i-0e", "ie",
	"0:", "4:spam", "04:spam", "999999999999:",
	"le", "l4:spam4:eggse", "lli1eee", "l",
	"de", "d3:cow3:moo4:spam4:eggse", "d1:bi1e1:ai2ee", "d1:ai1e1:ai2ee", "d1:bi1e1:ai2e1:bi3ee",
	"d4:infod4:name1:x6:lengthi1e1:ai2eee", "d4:infodee\n", "di1ei2ee",
	"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
}

// addCorpusSeeds adds the shared corpus files, if present, to f's seeds.
func addCorpusSeeds(add func([]byte)) {
	entries, _ := readCorpus()
	for _, e := range entries {
		data, err := os.ReadFile(e.path)
		if err == nil && len(data) <= fuzzSeedMax {
			add(data)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzHand {
		f.Add([]byte(s))
	}
	addCorpusSeeds(func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		err := Unmarshal(data, &v)
		var strictV any
		strictErr := DecodeOptions{Strict: true}.Unmarshal(data, &strictV)
		if strictErr == nil && err != nil {
			t.Fatalf("strict accepts what lenient rejects: %v", err)
		}
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > int64(len(data)) {
				t.Fatalf("bad error %v (%T)", err, err)
			}
		}
		// Typed decoding and the span finder must not panic, and agree with
		// generic decoding about validity.
		var m metaInfo
		if terr := Unmarshal(data, &m); (err == nil) != (terr == nil || isTypeError(terr)) {
			t.Fatalf("struct decode %v vs generic %v", terr, err)
		}
		_, _, derr := DecodeOptions{}.DictValue(data, "info")
		if err == nil && derr != nil && data[0] == 'd' {
			t.Fatalf("DictValue: %v", derr)
		}
		if err != nil && derr == nil {
			t.Fatalf("DictValue accepted what Unmarshal rejects: %v", err)
		}
		// The stream decoder sees the same first value, even when fed one
		// byte at a time (every token boundary is a resumption point), and
		// then the same value again.
		if len(data) < 4096 {
			dec := NewDecoder(iotest.OneByteReader(bytes.NewReader(append(slices.Clip(data), data...))))
			for i := range 2 {
				var sv any
				serr := dec.Decode(&sv)
				if err == nil && (serr != nil || !reflect.DeepEqual(sv, v)) {
					t.Fatalf("Decoder value %d: %#v %v, Unmarshal: %#v", i, sv, serr, v)
				}
				var se *SyntaxError
				if serr != nil && !errors.As(serr, &se) && !errors.Is(serr, io.EOF) {
					t.Fatalf("Decoder error %v (%T)", serr, serr)
				}
			}
			if err == nil {
				if serr := dec.Decode(new(any)); serr != io.EOF {
					t.Fatalf("Decoder after two values: %v", serr)
				}
			}
		}
		if err != nil {
			return
		}
		enc, merr := Marshal(v)
		if merr != nil {
			t.Fatalf("Marshal: %v", merr)
		}
		var v2 any
		if err := (DecodeOptions{Strict: true}).Unmarshal(enc, &v2); err != nil {
			t.Fatalf("re-decode %q: %v", enc, err)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("round trip: %#v != %#v", v, v2)
		}
		if strictErr == nil && !bytes.Equal(enc, data) {
			t.Fatalf("canonical input %q re-encoded as %q", data, enc)
		}
		var raw RawMessage
		if err := Unmarshal(data, &raw); err != nil || !bytes.Equal(raw, data) {
			t.Fatalf("RawMessage: %q %v", raw, err)
		}
	})
}

func isTypeError(err error) bool {
	var te *UnmarshalTypeError
	return errors.As(err, &te)
}

func FuzzDictValue(f *testing.F) {
	for _, s := range fuzzHand {
		f.Add([]byte(s), "info")
		f.Add([]byte(s), "a")
	}
	addCorpusSeeds(func(b []byte) { f.Add(b, "info") })
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		raw, ok, err := DictValue(data, key)
		var top map[string]RawMessage
		terr := DecodeOptions{AllowTrailing: true}.Unmarshal(data, &top)
		if err != nil {
			if ok || raw != nil {
				t.Fatal("result with error")
			}
			if terr == nil {
				t.Fatalf("DictValue: %v, Unmarshal accepted", err)
			}
			return
		}
		if terr != nil {
			t.Fatalf("Unmarshal: %v, DictValue accepted", terr)
		}
		want, present := top[key]
		if ok != present || !bytes.Equal(raw, want) {
			t.Fatalf("DictValue %q %v, map %q %v", raw, ok, want, present)
		}
		if ok {
			// raw is a subslice of data, not a copy.
			p, lo := uintptr(unsafe.Pointer(&raw[0])), uintptr(unsafe.Pointer(&data[0]))
			if p < lo || p+uintptr(len(raw)) > lo+uintptr(len(data)) {
				t.Fatal("raw does not alias data")
			}
			var v any
			if err := Unmarshal(raw, &v); err != nil {
				t.Fatalf("raw value does not decode: %v", err)
			}
		}
	})
}
