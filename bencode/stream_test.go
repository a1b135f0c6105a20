package bencode

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestDecoderConcatenated(t *testing.T) {
	in := "d1:ti1ee" + "4:spam" + "li1ei2ee" + "i-5e" + "0:" + "d1:ad1:bleee"
	want := []any{map[string]any{"t": int64(1)}, "spam", []any{int64(1), int64(2)}, int64(-5), "", map[string]any{"a": map[string]any{"b": []any{}}}}
	for name, r := range map[string]func() io.Reader{
		"whole":   func() io.Reader { return strings.NewReader(in) },
		"onebyte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(in)) },
		"half":    func() io.Reader { return iotest.HalfReader(strings.NewReader(in)) },
		"dataerr": func() io.Reader { return iotest.DataErrReader(strings.NewReader(in)) },
	} {
		dec := NewDecoder(r())
		var got []any
		for {
			var v any
			err := dec.Decode(&v)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got = append(got, v)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v", name, got)
		}
		if dec.InputOffset() != int64(len(in)) {
			t.Errorf("%s: offset %d", name, dec.InputOffset())
		}
		var v any
		if err := dec.Decode(&v); err != io.EOF {
			t.Errorf("%s: after end: %v", name, err)
		}
	}
}

func TestDecoderErrors(t *testing.T) {
	cases := []struct {
		in   string
		opts DecodeOptions
		off  int64
		is   error
	}{
		{in: "i1ed1:a", off: 7, is: io.ErrUnexpectedEOF}, // cut off inside the second value
		{in: "i1e5:ab", off: 3, is: io.ErrUnexpectedEOF}, // cut off inside a string
		{in: "i1ei01e", off: 4},                          // offsets count from the stream start
		{in: "i1e\n", off: 3},                            // a newline is not a value
		{in: "i1ed1:bi1e1:ai1ee", opts: DecodeOptions{Strict: true}, off: 10, is: ErrUnsorted},
		{in: "i1e" + strings.Repeat("l", 200), off: 103, is: ErrDepth},
		{in: "i1e999999999999:", off: 3, is: ErrTooLarge}, // bigger than MaxSize: no waiting
		{in: "i1el" + strings.Repeat("i1e", 10), opts: DecodeOptions{MaxSize: 16}, is: ErrTooLarge},
	}
	for _, tc := range cases {
		dec := NewDecoder(iotest.OneByteReader(strings.NewReader(tc.in)))
		dec.SetOptions(tc.opts)
		var v any
		if err := dec.Decode(&v); err != nil || v != int64(1) {
			t.Fatalf("%q: first value: %v %v", tc.in, v, err)
		}
		err := dec.Decode(&v)
		var se *SyntaxError
		if !errors.As(err, &se) || (tc.off != 0 && se.Offset != tc.off) || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("%q: got %v, want offset %d, %v", tc.in, err, tc.off, tc.is)
		}
		if err2 := dec.Decode(&v); err2 != err {
			t.Errorf("%q: error not sticky: %v", tc.in, err2)
		}
	}
}

// TestDecoderNoOverRead: a complete value is returned without waiting for
// more input, as a KRPC peer waits for our reply.
func TestDecoderNoOverRead(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte("d1:y1:qe"))
	done := make(chan error, 1)
	dec := NewDecoder(pr)
	go func() {
		var v map[string]string
		err := dec.Decode(&v)
		if err == nil && v["y"] != "q" {
			err = errors.New("wrong value")
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Decode blocked after a complete value")
	}
}

func TestDecoderBuffered(t *testing.T) {
	r := bytes.NewReader([]byte("i1ei2ei3e"))
	dec := NewDecoder(r)
	var n int
	if err := dec.Decode(&n); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	rest, _ := io.ReadAll(io.MultiReader(dec.Buffered(), r))
	if string(rest) != "i2ei3e" {
		t.Errorf("rest %q", rest)
	}
}

func TestDecoderLarge(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	in := "d6:pieces" + itoa(int64(len(big))) + ":" + big + "e"
	dec := NewDecoder(iotest.HalfReader(strings.NewReader(in + in)))
	for range 2 {
		var v struct {
			Pieces []byte `bencode:"pieces"`
		}
		if err := dec.Decode(&v); err != nil || string(v.Pieces) != big {
			t.Fatalf("%d %v", len(v.Pieces), err)
		}
	}
}

func TestDecoderInvalidArg(t *testing.T) {
	var ie *InvalidUnmarshalError
	if err := NewDecoder(strings.NewReader("i1e")).Decode(nil); !errors.As(err, &ie) {
		t.Error(err)
	}
}
