package bencode

import (
	"strconv"
	"unicode/utf8"
)

// RawMessage is one encoded bencode value, kept as bytes. Unmarshal stores a
// copy of the value's bytes exactly as they appear in the input (never
// re-encoded, so unsorted keys survive byte for byte); Marshal writes it
// verbatim after checking it is exactly one valid value. Use it to delay
// decoding, or to keep an info dict whose hash must be over the original
// bytes (BEP 3: the info-hash is of the bencoded form found in the file).
//
// An empty (or nil) RawMessage has no value: struct fields and map entries
// holding one are left out by Marshal, and elsewhere it is an error.
type RawMessage []byte

// MarshalBencode returns m after checking it is exactly one valid bencode
// value (in lenient mode, so unsorted keys are allowed).
func (m RawMessage) MarshalBencode() ([]byte, error) {
	if len(m) == 0 {
		return nil, &SyntaxError{Msg: "empty RawMessage"}
	}
	if _, err := (DecodeOptions{}).validate(m); err != nil {
		return nil, err
	}
	return m, nil
}

// UnmarshalBencode sets *m to a copy of data.
func (m *RawMessage) UnmarshalBencode(data []byte) error {
	*m = append((*m)[:0:0], data...)
	return nil
}

// Marshaler is implemented by types that encode themselves. MarshalBencode
// must return exactly one valid bencode value; Marshal checks this and copies
// it into the output as is.
type Marshaler interface {
	MarshalBencode() ([]byte, error)
}

// Unmarshaler is implemented by types that decode themselves. UnmarshalBencode
// receives the raw bytes of one value, already validated against the grammar
// and the decoder's options. The slice aliases the input: copy it to keep it.
type Unmarshaler interface {
	UnmarshalBencode([]byte) error
}

// DictValue returns the exact bytes of the value stored under key in the
// top-level dict of data: a subslice of data, as found, never re-encoded. It
// is how an info-hash is computed (BEP 3: SHA-1 of the bencoded info value as
// it appears in the file; BEP 52: SHA-256 of the same bytes).
//
// The whole of the first value in data is validated with
// DecodeOptions{AllowTrailing: true} (lenient key order, default limits), so a
// span is only returned from a well-formed document; bytes after the top-level
// value are ignored, since many .torrent files end with "\n". ok is false if
// the key is absent; a top-level value that is not a dict is an error.
// DictValue does not allocate: its scanner and scratch space are pooled.
func DictValue(data []byte, key string) (raw []byte, ok bool, err error) {
	return DecodeOptions{AllowTrailing: true}.DictValue(data, key)
}

// DictValue is like the package-level DictValue with the options o.
func (o DecodeOptions) DictValue(data []byte, key string) (raw []byte, ok bool, err error) {
	if err := o.checkSize(data); err != nil {
		return nil, false, err
	}
	s := getScanner(data, o)
	s.find, s.finding = key, true
	end, err := s.scan()
	found := s.found
	putScanner(s)
	if err != nil {
		return nil, false, err
	}
	if data[0] != 'd' {
		return nil, false, &SyntaxError{Offset: 0, Msg: "top-level value is a " + kindName(data[0]) + ", not a dict"}
	}
	if end < len(data) && !o.AllowTrailing {
		return nil, false, trailingError(end, len(data))
	}
	if found.start < 0 {
		return nil, false, nil
	}
	return data[found.start:found.end:found.end], true, nil
}

// pathAt describes where the value starting at target sits inside the valid
// value data, e.g. "info.files[2].length". It is only used to build error
// messages, so it rescans rather than making the decoder track a path.
func pathAt(data []byte, target int) string {
	var b []byte
	i := 0
	for i < target {
		switch data[i] {
		case 'l':
			i++
			for n := 0; ; n++ {
				if data[i] == 'e' {
					return string(b)
				}
				end := skipValue(data, i)
				if target < end {
					b = append(b, '[')
					b = strconv.AppendInt(b, int64(n), 10)
					b = append(b, ']')
					break
				}
				i = end
			}
		case 'd':
			i++
			for {
				if data[i] == 'e' {
					return string(b)
				}
				ks, ke := readStr(data, i)
				end := skipValue(data, ke)
				if target < end {
					if len(b) > 0 {
						b = append(b, '.')
					}
					b = appendKey(b, data[ks:ke])
					i = ke
					break
				}
				i = end
			}
		default:
			return string(b)
		}
	}
	return string(b)
}

// appendKey writes a dict key for a path, quoting it unless it is plain
// printable text.
func appendKey(b, k []byte) []byte {
	plain := len(k) > 0 && utf8.Valid(k)
	for _, c := range k {
		if c < 0x20 || c == 0x7f || c == '.' || c == '[' || c == '"' {
			plain = false
			break
		}
	}
	if plain {
		return append(b, k...)
	}
	return strconv.AppendQuote(b, string(k))
}
