package main

// Reading a .torrent from wherever a TARGET says: a regular file, a FIFO or
// process substitution (`<(curl …)`), a device, standard input. Every one
// goes through readCapped, so no input, however long or endless, holds more
// than maxTorrentSize+1 bytes in memory: the size a stat reports is only a
// hint (a FIFO or /dev/zero reports 0).

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/peerfind/peerfind/metainfo"
)

// maxTorrentSize bounds a .torrent read from any source: the largest real
// torrents are a few MiB of piece hashes.
const maxTorrentSize = 64 << 20

// errTooLarge is returned by readCapped for input longer than its cap.
var errTooLarge = fmt.Errorf("more than %d MiB, too large for a .torrent file", maxTorrentSize>>20)

// readCapped reads r to its end and returns what it read, or errTooLarge
// as soon as more than max bytes arrive. It never holds more than max+1
// bytes of input: it reads into chunks (the first of the size hint, a
// stat's size if known; then growing up to 4 MiB) rather than a doubling
// buffer, whose copies would hold twice the input, and joins them once at
// the end. An endless input costs max+1 bytes and is refused.
func readCapped(r io.Reader, max, hint int64) ([]byte, error) {
	var chunks [][]byte
	var total int64
	size := int64(64 << 10)
	if hint > 0 {
		size = hint + 1 // +1 to see the end without another chunk
	}
	for {
		c := make([]byte, min(size, max+1-total))
		n, err := io.ReadFull(r, c)
		total += int64(n)
		if n > 0 {
			chunks = append(chunks, c[:n])
		}
		if total > max {
			return nil, errTooLarge
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		size = min(2*size, 4<<20)
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	out := make([]byte, 0, total)
	for i, c := range chunks {
		out = append(out, c...)
		chunks[i] = nil
	}
	return out, nil
}

// readTorrentFile reads the file at path, whatever kind of file it is,
// through readCapped. A regular file whose size is already too large is
// refused without reading it.
func readTorrentFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, not a .torrent file", path)
	}
	var hint int64
	if st.Mode().IsRegular() {
		if st.Size() > maxTorrentSize {
			return nil, fmt.Errorf("%s: %s, too large for a .torrent file (at most %d MiB)", path, humanBytes(st.Size()), maxTorrentSize>>20)
		}
		hint = st.Size()
	}
	data, err := readCapped(f, maxTorrentSize, hint)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// parseTorrent parses data read from name ("standard input", a path or a
// URL), saying in plain words what is wrong with input that is not a
// .torrent at all before falling back to the parser's byte-offset errors.
func parseTorrent(name string, data []byte) (*metainfo.MetaInfo, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%s: empty file, not a .torrent file", name)
	}
	// Every .torrent is a bencoded dictionary (BEP 3), so its first byte is
	// 'd'; anything else is some other kind of file.
	if data[0] != 'd' {
		return nil, fmt.Errorf("%s: not a .torrent file (%s)", name, sniff(data))
	}
	mi, err := metainfo.Parse(data)
	var fe *metainfo.Error
	switch {
	case errors.As(err, &fe):
		return nil, fmt.Errorf("%s: %w", name, err) // the field at fault says enough
	case err != nil: // the bencoding itself is broken
		return nil, fmt.Errorf("%s: not a valid .torrent file: %w", name, err)
	}
	return mi, nil
}

// sniff names what data looks like, for the "not a .torrent" message.
func sniff(data []byte) string {
	const n = 512
	head := data[:min(len(data), n)]
	ct, _, _ := strings.Cut(http.DetectContentType(head), ";")
	switch ct {
	case "application/octet-stream":
		return "it does not start with a bencoded dictionary"
	case "text/html":
		return "it is an HTML page"
	case "text/plain":
		return "it is text"
	}
	return "it is " + ct

}
