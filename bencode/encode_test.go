package bencode

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

func TestMarshal(t *testing.T) {
	type small struct {
		B string `bencode:"b"`
		A int    `bencode:"a"`
	}
	n := 7
	cases := []struct {
		v    any
		want string
	}{
		{int64(0), "i0e"},
		{-42, "i-42e"},
		{int8(math.MinInt8), "i-128e"},
		{uint64(math.MaxInt64), "i9223372036854775807e"},
		{int64(math.MinInt64), "i-9223372036854775808e"},
		{true, "i1e"},
		{false, "i0e"},
		{"", "0:"},
		{"spam", "4:spam"},
		{[]byte{0, 0xff}, "2:\x00\xff"},
		{[3]byte{'a', 'b', 'c'}, "3:abc"},
		{&[2]byte{'x', 'y'}, "2:xy"},
		{[]any{"spam", "eggs"}, "l4:spam4:eggse"},
		{[]int(nil), "le"},
		{[2]int{1, 2}, "li1ei2ee"},
		{map[string]any{"spam": []any{"a", "b"}, "cow": "moo"}, "d3:cow3:moo4:spaml1:a1:bee"},
		{map[string]int(nil), "de"},
		{map[string]int{"b": 1, "a": 2, "": 3, "\xff": 4, "\x7f": 5, "aa": 6}, "d0:i3e1:ai2e2:aai6e1:bi1e1:\x7fi5e1:\xffi4ee"},
		{map[myKey]myStr{"k": "v"}, "d1:k1:ve"},
		{small{B: "x", A: 1}, "d1:ai1e1:b1:xe"},
		{&small{}, "d1:ai0e1:b0:e"},
		{map[string]*int{"a": nil, "b": &n}, "d1:bi7ee"},
		{map[string]any{"a": nil, "b": RawMessage(nil), "c": 1}, "d1:ci1ee"},
		{[]any{RawMessage("d1:bi1e1:ai2ee")}, "ld1:bi1e1:ai2eee"},
	}
	for _, tc := range cases {
		got, err := Marshal(tc.v)
		if err != nil || string(got) != tc.want {
			t.Errorf("%#v: got %q, %v; want %q", tc.v, got, err, tc.want)
		}
	}
}

func TestOmitEmpty(t *testing.T) {
	type T struct {
		S  string         `bencode:"s,omitempty"`
		I  int            `bencode:"i,omitempty"`
		U  uint8          `bencode:"u,omitempty"`
		B  bool           `bencode:"b,omitempty"`
		L  []int          `bencode:"l,omitempty"`
		M  map[string]int `bencode:"m,omitempty"`
		P  *int           `bencode:"p,omitempty"`
		A  [0]int         `bencode:"a,omitempty"`
		Z  [2]byte        `bencode:"z,omitzero"`
		X  any            `bencode:"x,omitempty"`
		NP *int           `bencode:"np"` // nil: left out without omitempty
		K  string         `bencode:"k"`  // kept when empty
		E  []int          `bencode:"e"`  // nil slice kept as empty list
	}
	got, err := Marshal(T{})
	if want := "d1:ele1:k0:e"; err != nil || string(got) != want {
		t.Errorf("got %q %v, want %q", got, err, want)
	}
	one := 1
	got, err = Marshal(T{S: "s", I: -1, U: 1, B: true, L: []int{1}, M: map[string]int{"a": 1}, P: &one, Z: [2]byte{1}, X: "x", NP: &one, K: "k"})
	if want := "d1:bi1e1:ele1:ii-1e1:k1:k1:lli1ee1:md1:ai1ee2:npi1e1:pi1e1:s1:s1:ui1e1:x1:x1:z2:\x01\x00e"; err != nil || string(got) != want {
		t.Errorf("got %q %v,\nwant %q", got, err, want)
	}
}

func TestMarshalErrors(t *testing.T) {
	type cyc struct {
		Next any `bencode:"next"`
	}
	c := &cyc{}
	c.Next = c
	var nilMap map[int]string
	cases := []struct {
		v   any
		typ any // pointer to the expected error type
	}{
		{1.5, new(*UnsupportedTypeError)},
		{map[int]string{1: "a"}, new(*UnsupportedTypeError)},
		{nilMap, new(*UnsupportedTypeError)},
		{make(chan int), new(*UnsupportedTypeError)},
		{[]any{complex(1, 2)}, new(*UnsupportedTypeError)},
		{uint64(math.MaxInt64 + 1), new(*UnsupportedValueError)},
		{nil, new(*UnsupportedValueError)},
		{(*int)(nil), new(*UnsupportedValueError)},
		{[]any{nil}, new(*UnsupportedValueError)},
		{[]*int{nil}, new(*UnsupportedValueError)},
		{c, new(*UnsupportedValueError)},
		{badMarshaler("i01e"), new(*MarshalerError)},
		{badMarshaler("i1ei2e"), new(*MarshalerError)},
		{badMarshaler(""), new(*MarshalerError)},
		{RawMessage("x"), new(*SyntaxError)},
	}
	for _, tc := range cases {
		_, err := Marshal(tc.v)
		if err == nil || !errors.As(err, tc.typ) {
			t.Errorf("%T: got %v, want %s", tc.v, err, reflect.TypeOf(tc.typ).Elem())
		}
	}
}

type badMarshaler string

func (b badMarshaler) MarshalBencode() ([]byte, error) { return []byte(b), nil }

type ptrMarshaler struct{ n int }

func (p *ptrMarshaler) MarshalBencode() ([]byte, error) { return Marshal(p.n * 10) }

func TestPointerMarshaler(t *testing.T) {
	type T struct {
		P ptrMarshaler `bencode:"p"`
	}
	// Addressable through the pointer: the method is used.
	got, err := Marshal(&T{P: ptrMarshaler{2}})
	if err != nil || string(got) != "d1:pi20ee" {
		t.Errorf("got %q %v", got, err)
	}
}

func TestAppend(t *testing.T) {
	b, err := Append([]byte("prefix"), map[string]any{"a": 1})
	if err != nil || string(b) != "prefixd1:ai1ee" {
		t.Errorf("%q %v", b, err)
	}
	b, err = Append([]byte("prefix"), 1.5)
	if err == nil || string(b) != "prefix" {
		t.Errorf("%q %v", b, err)
	}
}

// TestRoundTrip: decode → encode → decode is the identity, and canonical
// input re-encodes to itself.
func TestRoundTrip(t *testing.T) {
	for _, tc := range syntaxCases {
		if tc.msg != "" {
			continue
		}
		var v any
		if err := Unmarshal([]byte(tc.in), &v); err != nil {
			t.Fatal(err)
		}
		out, err := Marshal(v)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		var v2 any
		if err := (DecodeOptions{Strict: true}).Unmarshal(out, &v2); err != nil || !reflect.DeepEqual(v, v2) {
			t.Errorf("%q → %q → %#v %v", tc.in, out, v2, err)
		}
		if (DecodeOptions{Strict: true}).Unmarshal([]byte(tc.in), &v) == nil && string(out) != tc.in {
			t.Errorf("canonical %q re-encoded as %q", tc.in, out)
		}
	}
}
