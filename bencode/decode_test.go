package bencode

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

type fileEntry struct {
	Length int64    `bencode:"length"`
	Path   []string `bencode:"path"`
}

type infoDict struct {
	Name        string      `bencode:"name"`
	PieceLength int64       `bencode:"piece length"`
	Pieces      []byte      `bencode:"pieces"`
	Length      int64       `bencode:"length,omitempty"`
	Files       []fileEntry `bencode:"files,omitempty"`
	Private     bool        `bencode:"private,omitempty"`
}

type metaInfo struct {
	Announce     string     `bencode:"announce"`
	AnnounceList [][]string `bencode:"announce-list,omitempty"`
	Comment      string     `bencode:"comment,omitempty"`
	CreationDate int64      `bencode:"creation date,omitempty"`
	Info         infoDict   `bencode:"info"`
	InfoRaw      RawMessage `bencode:"-"`
}

func TestUnmarshalStruct(t *testing.T) {
	in := "d8:announce14:http://t/annce13:announce-listll1:aee4:infod5:filesld6:lengthi5e4:pathl1:x1:yeee4:name3:abc12:piece lengthi16384e6:pieces3:\x00\x01\x02e7:unknownli1eee"
	var m metaInfo
	if err := Unmarshal([]byte(in), &m); err != nil {
		t.Fatal(err)
	}
	want := metaInfo{
		Announce:     "http://t/annce",
		AnnounceList: [][]string{{"a"}},
		Info: infoDict{
			Name: "abc", PieceLength: 16384, Pieces: []byte{0, 1, 2},
			Files: []fileEntry{{Length: 5, Path: []string{"x", "y"}}},
		},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %+v\nwant %+v", m, want)
	}
	out, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	wantOut := strings.Replace(in, "7:unknownli1eee", "e", 1)
	if string(out) != wantOut {
		t.Errorf("marshal:\n got %q\nwant %q", out, wantOut)
	}
}

func TestUnmarshalNoAlias(t *testing.T) {
	in := []byte("d1:b3:xyz1:r3:abc1:s3:defe")
	var v struct {
		B []byte     `bencode:"b"`
		R RawMessage `bencode:"r"`
		S string     `bencode:"s"`
	}
	if err := Unmarshal(in, &v); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = '!'
	}
	if string(v.B) != "xyz" || string(v.R) != "3:abc" || v.S != "def" {
		t.Errorf("aliasing: %q %q %q", v.B, v.R, v.S)
	}
}

type embedBase struct {
	ID   [4]byte `bencode:"id"`
	Note string
}

type EmbedPtr struct {
	Extra int `bencode:"extra"`
}

type withEmbed struct {
	embedBase
	*EmbedPtr
	Name   string `bencode:"name"`
	Note   string // shadows embedBase.Note (shallower)
	Hidden string `bencode:"-"`
	Dash   int    `bencode:"-,"`
	skip   int
}

func TestEmbedded(t *testing.T) {
	in := "d1:-i7e4:Note1:n5:extrai9e2:id4:abcd4:name1:xe"
	var v withEmbed
	if err := Unmarshal([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	if v.ID != [4]byte{'a', 'b', 'c', 'd'} || v.Note != "n" || v.embedBase.Note != "" || v.EmbedPtr == nil || v.Extra != 9 || v.Name != "x" || v.Dash != 7 {
		t.Errorf("got %+v %+v", v, v.EmbedPtr)
	}
	out, err := Marshal(v)
	if err != nil || string(out) != in {
		t.Errorf("marshal: %q %v, want %q", out, err, in)
	}
	v.EmbedPtr = nil
	out, _ = Marshal(v)
	if want := "d1:-i7e4:Note1:n2:id4:abcd4:name1:xe"; string(out) != want {
		t.Errorf("nil embedded: %q, want %q", out, want)
	}
}

func TestTypes(t *testing.T) {
	var v struct {
		I8   int8            `bencode:"i8"`
		U16  uint16          `bencode:"u16"`
		U64  uint64          `bencode:"u64"`
		B    bool            `bencode:"b"`
		P    *int            `bencode:"p"`
		PP   **string        `bencode:"pp"`
		A    [2]int          `bencode:"a"`
		M    map[string]int  `bencode:"m"`
		MA   map[string]any  `bencode:"ma"`
		LA   []any           `bencode:"la"`
		I    any             `bencode:"i"`
		NS   map[myKey]myStr `bencode:"ns"`
		Self *node           `bencode:"self"`
	}
	in := "d1:ali1ei2ee1:bi1e1:i4:five2:lal1:xe1:md1:xi1e1:yi2ee2:mad1:ki3ee2:nsd1:k1:ve1:pi-5e2:pp2:hi4:selfd4:nextd4:nextdeee2:i8i-128e3:u16i65535e3:u64i9223372036854775807ee"
	if err := (DecodeOptions{Strict: false}).Unmarshal([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	if v.I8 != -128 || v.U16 != 65535 || v.U64 != 1<<63-1 || !v.B || *v.P != -5 || **v.PP != "hi" ||
		v.A != [2]int{1, 2} || v.M["y"] != 2 || v.MA["k"] != int64(3) || v.LA[0] != "x" || v.I != "five" ||
		v.NS["k"] != "v" || v.Self == nil || v.Self.Next == nil {
		t.Errorf("got %+v", v)
	}
}

type myKey string
type myStr string
type node struct {
	Next *node `bencode:"next,omitempty"`
}

// TestTypeErrors: values that do not fit their field, with offsets and paths.
func TestTypeErrors(t *testing.T) {
	type inner struct {
		N uint8    `bencode:"n"`
		H [20]byte `bencode:"h"`
	}
	type outer struct {
		L []inner `bencode:"l"`
		B bool    `bencode:"b"`
		S string  `bencode:"s"`
		I int32   `bencode:"i"`
		F float64 `bencode:"f"`
		X struct {
			Y int `bencode:"y"`
		} `bencode:"x"`
	}
	cases := []struct {
		in    string
		off   int64
		value string
		field string
		msg   string
	}{
		{"d1:lld1:ni256eeee", 9, "integer", "l[0].n", "cannot unmarshal integer into field l[0].n of type uint8 (256 overflows uint8)"},
		{"d1:llded1:ni-1eeee", 11, "integer", "l[1].n", "(-1 overflows uint8)"},
		{"d1:lld1:h3:abceee", 9, "string", "l[0].h", "(string of length 3, want 20)"},
		{"d1:bi2ee", 4, "integer", "b", "(2 is not 0 or 1)"},
		{"d1:bi-1ee", 4, "integer", "b", "is not 0 or 1"},
		{"d1:si1ee", 4, "integer", "s", "cannot unmarshal integer into field s of type string"},
		{"d1:i4:abcde", 4, "string", "i", "of type int32"},
		{"d1:ii2147483648ee", 4, "integer", "i", "overflows int32"},
		{"d1:fi1ee", 4, "integer", "f", "unsupported Go type"},
		{"d1:xd1:yleee", 8, "list", "x.y", "cannot unmarshal list into field x.y of type int"},
		{"d1:l3:abce", 4, "string", "l", "of type []bencode.inner"},
		{"li1ee", 0, "list", "", "cannot unmarshal list into Go value of type bencode.outer"},
	}
	for _, tc := range cases {
		var v outer
		err := Unmarshal([]byte(tc.in), &v)
		var te *UnmarshalTypeError
		if !errors.As(err, &te) {
			t.Errorf("%q: got %v, want UnmarshalTypeError", tc.in, err)
			continue
		}
		if te.Offset != tc.off || te.Value != tc.value || te.Field != tc.field || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: got %q (offset %d, value %q, field %q), want offset %d %q %q %q", tc.in, err, te.Offset, te.Value, te.Field, tc.off, tc.value, tc.field, tc.msg)
		}
	}
	// Decoding carries on after a type error.
	var v outer
	err := Unmarshal([]byte("d1:bi5e1:i4:abcd1:s2:oke"), &v)
	if err == nil || v.S != "ok" {
		t.Errorf("got %v %+v", err, v)
	}
	var te *UnmarshalTypeError
	if !errors.As(err, &te) || te.Field != "b" {
		t.Errorf("first error should be reported: %v", err)
	}
}

func TestInvalidUnmarshal(t *testing.T) {
	var x int
	for _, v := range []any{nil, x, (*int)(nil)} {
		var ie *InvalidUnmarshalError
		if err := Unmarshal([]byte("i1e"), v); !errors.As(err, &ie) {
			t.Errorf("%T: %v", v, err)
		}
	}
}

type upper string

func (u *upper) UnmarshalBencode(b []byte) error {
	var s string
	if err := Unmarshal(b, &s); err != nil {
		return err
	}
	*u = upper(strings.ToUpper(s))
	return nil
}

func (u upper) MarshalBencode() ([]byte, error) {
	return Marshal(strings.ToLower(string(u)))
}

func TestUnmarshaler(t *testing.T) {
	var v struct {
		U  upper            `bencode:"u"`
		UP *upper           `bencode:"up"`
		UL []upper          `bencode:"ul"`
		UM map[string]upper `bencode:"um"`
	}
	if err := Unmarshal([]byte("d1:u2:ab2:ul1:xe2:umd1:k1:ye2:up1:ce"), &v); err == nil {
		t.Fatal("want error from ul (not a list)")
	}
	if err := Unmarshal([]byte("d1:u2:ab2:ull1:xe2:umd1:k1:ye2:up1:ce"), &v); err != nil {
		t.Fatal(err)
	}
	if v.U != "AB" || *v.UP != "C" || v.UL[0] != "X" || v.UM["k"] != "Y" {
		t.Errorf("got %+v", v)
	}
	out, err := Marshal(v)
	if want := "d1:u2:ab2:ull1:xe2:umd1:k1:ye2:up1:ce"; err != nil || string(out) != want {
		t.Errorf("marshal %q %v, want %q", out, err, want)
	}
	// Unmarshaler errors are returned.
	if err := Unmarshal([]byte("d1:ui1ee"), &v); err == nil {
		t.Error("want error")
	}
}

func TestRawMessageExact(t *testing.T) {
	// Unsorted keys and all: kept byte for byte, in lenient mode.
	in := []byte("d4:infod4:name1:x6:lengthi1e1:ai2ee1:zi0ee")
	var v struct {
		Info RawMessage `bencode:"info"`
	}
	if err := Unmarshal(in, &v); err != nil {
		t.Fatal(err)
	}
	if want := "d4:name1:x6:lengthi1e1:ai2ee"; string(v.Info) != want {
		t.Errorf("got %q, want %q", v.Info, want)
	}
	out, err := Marshal(v)
	if want := "d4:infod4:name1:x6:lengthi1e1:ai2eee"; err != nil || string(out) != want {
		t.Errorf("marshal %q %v, want %q", out, err, want)
	}
	var r RawMessage
	if err := Unmarshal(in, &r); err != nil || !bytes.Equal(r, in) {
		t.Errorf("top-level %q %v", r, err)
	}
	if err := (DecodeOptions{Strict: true}).Unmarshal(in, &v); !errors.Is(err, ErrUnsorted) {
		t.Errorf("strict: %v", err)
	}
}

// TestConcurrentTypeCache: first use of a type from many goroutines at once.
func TestConcurrentTypeCache(t *testing.T) {
	type rec struct {
		Name string `bencode:"name"`
		Kids []rec  `bencode:"kids"`
	}
	in := []byte("d4:kidsld4:kidsle4:name1:bee4:name1:ae")
	done := make(chan error)
	for range 8 {
		go func() {
			var r rec
			err := Unmarshal(in, &r)
			if err == nil && (r.Name != "a" || r.Kids[0].Name != "b") {
				err = errors.New("wrong value")
			}
			if err == nil {
				var out []byte
				out, err = Marshal(r)
				if err == nil && !bytes.Equal(out, in) {
					err = errors.New("wrong encoding " + string(out))
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestInterfaceHoldingPointer: as in encoding/json, a non-nil pointer in an
// interface is decoded into.
func TestInterfaceHoldingPointer(t *testing.T) {
	var n int
	var v any = &n
	if err := Unmarshal([]byte("i42e"), &v); err != nil || n != 42 || v != &n {
		t.Errorf("got %v %v %v", n, v, err)
	}
	var s struct {
		X any `bencode:"x"`
	}
	var inner struct {
		A string `bencode:"a"`
	}
	s.X = &inner
	if err := Unmarshal([]byte("d1:xd1:a1:bee"), &s); err != nil || inner.A != "b" {
		t.Errorf("got %+v %v", inner, err)
	}
	var stale any = "old"
	if err := Unmarshal([]byte("i1e"), &stale); err != nil || stale != int64(1) {
		t.Errorf("got %v %v", stale, err)
	}
}
