package main

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2ENonCanonical: a torrent whose info dictionary has unsorted keys is
// said to be non-canonical, with the hash re-encoding tools compute beside
// ours, which stays the hash of the bytes as published (the swarm's).
func TestE2ENonCanonical(t *testing.T) {
	const unsorted = "d4:name1:x6:lengthi1e12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae"
	const sorted = "d6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae"
	ours, theirs := sha1.Sum([]byte(unsorted)), sha1.Sum([]byte(sorted))
	path := filepath.Join(t.TempDir(), "unsorted.torrent")
	if err := os.WriteFile(path, []byte("d4:info"+unsorted+"e"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runPF(t, nil, "info", path)
	for _, want := range []string{
		"Info hash v1: " + hex.EncodeToString(ours[:]),
		`Canonical:    no: offset 10: dict keys not sorted ("length" after "name")`,
		"Re-encoded:   " + hex.EncodeToString(theirs[:]) + " (v1)",
		"sha1(bencode(decode(info)))", "bytes as",
	} {
		if r.code != exitOK || !strings.Contains(r.stdout, want) {
			t.Errorf("info: exit %d, stdout lacks %q:\n%s", r.code, want, r.stdout)
		}
	}
	r = runPF(t, nil, "info", "--json", path)
	var v struct {
		InfoHash     string `json:"info_hash"`
		SwarmHashes  []string
		NonCanonical struct {
			Reason   string `json:"reason"`
			InfoHash string `json:"reencoded_info_hash"`
		} `json:"non_canonical"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatal(err)
	}
	if v.InfoHash != hex.EncodeToString(ours[:]) || v.NonCanonical.InfoHash != hex.EncodeToString(theirs[:]) || !strings.Contains(v.NonCanonical.Reason, "not sorted") {
		t.Errorf("info --json: %+v", v)
	}
	// A canonical torrent has no such fields.
	path2 := filepath.Join(t.TempDir(), "sorted.torrent")
	os.WriteFile(path2, []byte("d4:info"+sorted+"e"), 0o644)
	if r := runPF(t, nil, "info", "--json", path2); strings.Contains(r.stdout, "non_canonical") {
		t.Errorf("canonical torrent reported non-canonical:\n%s", r.stdout)
	}
}
