package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/peerfind/peerfind/discovery"
	"github.com/peerfind/peerfind/magnet"
	"github.com/peerfind/peerfind/metainfo"
)

// target is a TARGET argument, resolved. Every command resolves its TARGET
// with loadTarget, so they all accept the same spellings.
type target struct {
	discovery.Target
	name string // the torrent's or magnet's name, or the hash
	kind string // "torrent", "magnet" or "hash"
	file string // the .torrent path, "-" for standard input, or its URL; "" otherwise
	url  string // the http(s) URL the .torrent (or magnet link) came from; "" otherwise

	meta *metainfo.MetaInfo // kind "torrent"
	mag  *magnet.Magnet     // kinds "magnet" and "hash"
}

// oneTarget is the argument check of every command taking one TARGET, so
// they all word a wrong count the same way (a usage error).
func oneTarget(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageError("%s takes exactly one TARGET (a .torrent file or URL, -, a magnet link or an info hash); got %s", cmd.Name(), plural(len(args), "argument"))
	}
	return nil
}

// loadTarget is loadTargetContext without a context of its own: a download
// is still bounded by downloadTimeout.
func loadTarget(arg string, stdin io.Reader) (*target, error) {
	return loadTargetContext(context.Background(), arg, stdin)
}

// loadTargetContext resolves a TARGET: "-" (a .torrent on stdin), a magnet
// link, an http(s) URL of a .torrent, a bare info hash, or a .torrent path.
// A path that exists wins over a hash of the same spelling. Every error
// names the input and is bad input (exit status 1), not a usage error: the
// command line was well formed.
func loadTargetContext(ctx context.Context, arg string, stdin io.Reader) (*target, error) {
	switch {
	case isURL(arg):
		data, link, err := download(ctx, arg)
		if err != nil {
			return nil, err
		}
		if link != "" {
			m, err := magnet.Parse(link)
			if err != nil {
				return nil, fmt.Errorf("%s: redirected to a bad magnet link: %w", arg, err)
			}
			t := fromMagnet(m, "magnet")
			t.url = arg
			return t, nil
		}
		mi, err := parseTorrent(arg, data)
		if err != nil {
			return nil, err
		}
		t := fromMetaInfo(mi, arg)
		t.url = arg
		return t, nil
	case arg == "-":
		data, err := readCapped(stdin, maxTorrentSize, 0)
		if err != nil {
			return nil, fmt.Errorf("standard input: %w", err)
		}
		mi, err := parseTorrent("standard input", data)
		if err != nil {
			return nil, err
		}
		return fromMetaInfo(mi, "-"), nil
	case strings.HasPrefix(strings.ToLower(arg), "magnet:"):
		m, err := magnet.Parse(arg)
		if err != nil {
			return nil, err
		}
		return fromMagnet(m, "magnet"), nil
	}
	st, statErr := os.Stat(arg)
	if statErr == nil && !st.IsDir() {
		data, err := readTorrentFile(arg)
		if err != nil {
			return nil, err
		}
		mi, err := parseTorrent(arg, data)
		if err != nil {
			return nil, err
		}
		return fromMetaInfo(mi, arg), nil
	}
	if m, err := magnet.Parse(arg); err == nil { // 40 hex, 32 base32 or 64 hex (v2)
		return fromMagnet(m, "hash"), nil
	}
	if statErr == nil {
		return nil, fmt.Errorf("%s: is a directory, not a .torrent file", arg)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such file, and not a magnet link or an info hash (40 hex or 32 base32 characters)", arg)
	}
	return nil, statErr
}

func fromMetaInfo(mi *metainfo.MetaInfo, file string) *target {
	return &target{Target: discovery.TargetFromMetaInfo(mi), name: mi.Info.Name, kind: "torrent", file: file, meta: mi}
}

func fromMagnet(m *magnet.Magnet, kind string) *target {
	t := &target{Target: discovery.TargetFromMagnet(m), name: m.Name, kind: kind, mag: m}
	if t.name == "" && len(t.InfoHashes) > 0 {
		t.name = t.InfoHashes[0].String()
	}
	return t
}
