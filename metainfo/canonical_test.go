package metainfo

import (
	"crypto/sha1"
	"testing"
)

func TestReencoded(t *testing.T) {
	sorted := "d6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae"
	unsorted := "d4:name1:x6:lengthi1e12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae"
	m, err := Parse([]byte("d4:info" + sorted + "e"))
	if err != nil {
		t.Fatal(err)
	}
	if r := m.Reencoded(); r != nil {
		t.Errorf("canonical info: Reencoded = %+v, want nil", r)
	}
	m, err = Parse([]byte("d4:info" + unsorted + "e"))
	if err != nil {
		t.Fatal(err)
	}
	r := m.Reencoded()
	if r == nil {
		t.Fatal("unsorted keys: Reencoded = nil")
	}
	// Re-encoding sorts the keys: the hash tools such as parse-torrent
	// compute is the hash of the sorted bytes; ours stays the published one.
	if r.InfoHash != Hash(sha1.Sum([]byte(sorted))) || m.InfoHash != Hash(sha1.Sum([]byte(unsorted))) || !r.InfoHashV2.IsZero() {
		t.Errorf("hashes: re-encoded %v, ours %v", r.InfoHash, m.InfoHash)
	}
	if r.Reason != `offset 10: dict keys not sorted ("length" after "name")` {
		t.Errorf("Reason = %q", r.Reason)
	}
}
