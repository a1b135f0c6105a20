package metainfo

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"testing"
)

func TestNewTorrent(t *testing.T) {
	// Unsorted keys: the bytes must survive as they are.
	info := []byte("d4:name1:x6:lengthi1e12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae")
	data, mi, err := NewTorrent(info, [][]string{{"udp://a:1"}, {"http://b/announce", "http://c/announce"}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, info) || mi.InfoHash != Hash(sha1.Sum(info)) || !bytes.Equal(mi.InfoBytes, info) {
		t.Fatalf("info not kept byte for byte: %q", data)
	}
	want := "d8:announce9:udp://a:113:announce-listll9:udp://a:1el17:http://b/announce17:http://c/announceee4:info"
	if !bytes.HasPrefix(data, []byte(want)) {
		t.Errorf("torrent %q, want prefix %q", data, want)
	}
	if mi.Announce != "udp://a:1" || len(mi.AnnounceList) != 2 {
		t.Errorf("announce %q, list %q", mi.Announce, mi.AnnounceList)
	}
	if _, _, err := NewTorrent([]byte("d4:name1:xe"), nil); !errors.Is(err, ErrBadPieceLength) && err == nil {
		t.Errorf("an invalid info dictionary: %v", err)
	}
	if _, _, err := NewTorrent([]byte("not bencode"), nil); err == nil {
		t.Error("garbage accepted")
	}
}
