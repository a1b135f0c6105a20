package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// countingReader yields n bytes of 'x' (endless if n < 0) and counts what
// it handed out.
type countingReader struct {
	n, read int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.n >= 0 && r.read >= r.n {
		return 0, io.EOF
	}
	k := int64(len(p))
	if r.n >= 0 {
		k = min(k, r.n-r.read)
	}
	for i := range k {
		p[i] = 'x'
	}
	r.read += k
	return int(k), nil
}

func TestReadCapped(t *testing.T) {
	const max = 10000
	tests := []struct {
		name    string
		n, hint int64
		tooBig  bool
	}{
		{"empty", 0, 0, false},
		{"small", 100, 0, false},
		{"exactly the cap", max, 0, false},
		{"exactly the cap, hinted", max, max, false},
		{"one byte over", max + 1, 0, true},
		{"far over, hint says small", 5 * max, 10, true},
		{"endless", -1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &countingReader{n: tt.n}
			data, err := readCapped(r, max, tt.hint)
			if tt.tooBig {
				if !errors.Is(err, errTooLarge) {
					t.Fatalf("err = %v, want errTooLarge", err)
				}
			} else if err != nil || int64(len(data)) != tt.n {
				t.Fatalf("got %d bytes, %v; want %d", len(data), err, tt.n)
			}
			// Never more than the cap + 1 bytes taken from the source, and
			// the buffer never grew past that either.
			if r.read > max+1 {
				t.Errorf("read %d bytes from the source, cap %d", r.read, max)
			}
			if int64(cap(data)) > max+1 {
				t.Errorf("buffer capacity %d, cap %d", cap(data), max)
			}
		})
	}
}

func TestParseTorrentPlainErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "x: empty file, not a .torrent file"},
		{"html", "<!DOCTYPE html><html><body>login</body></html>", "x: not a .torrent file (it is an HTML page)"},
		{"text", "hello world\n", "x: not a .torrent file (it is text)"},
		{"random", "\x00\x01\x02\xff\xfe", "x: not a .torrent file"},
		{"broken bencoding", "d3:foo", "x: not a valid .torrent file: bencode: offset"},
		{"bencoded, not a torrent", "d3:fooi1ee", "x: info: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseTorrent("x", []byte(tt.data))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to start with %q", err, tt.want)
			}
		})
	}
	if _, err := parseTorrent("x", bytes.Clone(smallTorrent(t, false))); err != nil {
		t.Errorf("a valid torrent: %v", err)
	}
}
