package bencode

import (
	"bytes"
	"errors"
	"io"
	"reflect"
)

// A Decoder reads a stream of concatenated bencode values, such as KRPC
// messages over a stream or several values written back to back. Each Decode
// reads one value; bytes read past it are kept for the next call. A Decoder is
// not safe for concurrent use.
type Decoder struct {
	// Options apply to every value: key order, nesting depth and MaxSize,
	// which here bounds each value (not the stream). AllowTrailing has no
	// effect, since what follows a value is the next value. Set Options
	// before the first Decode.
	Options DecodeOptions

	r      io.Reader
	buf    []byte // buf[start:] is read but not yet decoded
	start  int
	offset int64 // stream offset of buf[0]
	rerr   error // error from r, reported once the buffer is used up
	err    error // sticky syntax error: the stream cannot be resynchronised
	s      scanner
}

// NewDecoder returns a Decoder reading from r with default options. It reads
// r in chunks; use Buffered to recover bytes read past the last value.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: r}
}

// SetOptions replaces the decoder's options; it is the same as assigning
// Options.
func (dec *Decoder) SetOptions(o DecodeOptions) { dec.Options = o }

// Buffered returns the bytes read from r but not yet decoded.
func (dec *Decoder) Buffered() io.Reader {
	return bytes.NewReader(dec.buf[dec.start:])
}

// InputOffset returns the stream offset just after the last decoded value.
func (dec *Decoder) InputOffset() int64 {
	return dec.offset + int64(dec.start)
}

// Decode reads the next value from the stream and stores it in v, with the
// rules of Unmarshal. At the end of the stream, between values, it returns
// io.EOF; a stream ending inside a value is a *SyntaxError wrapping
// io.ErrUnexpectedEOF. Error offsets count from the start of the stream.
func (dec *Decoder) Decode(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return &InvalidUnmarshalError{Type: reflect.TypeOf(v)}
	}
	dec.s.counting = generic(v)
	raw, base, err := dec.next()
	if err != nil {
		return err
	}
	return decodeInto(raw, base, &dec.s, v, rv)
}

// next returns the raw bytes of the next value and its stream offset.
func (dec *Decoder) next() ([]byte, int64, error) {
	if dec.err != nil {
		return nil, 0, dec.err
	}
	o := dec.Options
	s := &dec.s
	s.strict = o.Strict
	s.final = false
	s.maxDepth = o.maxDepth()
	s.maxSize = o.maxSize()
	s.reset(0)
	for {
		s.data = dec.buf[dec.start:]
		s.base = dec.offset + int64(dec.start)
		if s.final && len(s.data) == 0 {
			// Clean end of stream between values.
			return nil, 0, dec.rerr
		}
		end, err := s.scan()
		if err == nil {
			raw := dec.buf[dec.start : dec.start+end]
			dec.start += end
			return raw, s.base, nil
		}
		if !errors.Is(err, errNeedMore) {
			dec.err = err
			return nil, 0, err
		}
		if int64(len(s.data)) >= s.maxSize {
			dec.err = s.errorf(len(s.data), ErrTooLarge, "value exceeds size limit %d", s.maxSize)
			return nil, 0, dec.err
		}
		if dec.rerr != nil {
			if dec.rerr != io.EOF {
				return nil, 0, dec.rerr
			}
			// Rescan with no more input to come, to report where the value
			// was cut off.
			s.final = true
			continue
		}
		dec.fill()
	}
}

// fill reads more input, first moving unread bytes to the front of buf.
func (dec *Decoder) fill() {
	if dec.start > 0 {
		n := copy(dec.buf, dec.buf[dec.start:])
		dec.buf = dec.buf[:n]
		dec.offset += int64(dec.start)
		dec.start = 0
	}
	if cap(dec.buf)-len(dec.buf) < 512 {
		nb := make([]byte, len(dec.buf), 2*cap(dec.buf)+4096)
		copy(nb, dec.buf)
		dec.buf = nb
	}
	// io.Reader discourages returning 0, nil but allows it; give up after
	// many in a row, as bufio.Reader does, rather than spin.
	for range 100 {
		n, err := dec.r.Read(dec.buf[len(dec.buf):cap(dec.buf)])
		dec.buf = dec.buf[:len(dec.buf)+n]
		if err != nil {
			dec.rerr = err
			return
		}
		if n > 0 {
			return
		}
	}
	dec.rerr = io.ErrNoProgress
}
