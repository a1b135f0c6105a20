package nodeid

import (
	"bytes"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseID(t *testing.T) {
	const s = "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"
	id, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	if id.String() != s {
		t.Errorf("String = %s", id)
	}
	if up, err := Parse(strings.ToUpper(s)); err != nil || up != id {
		t.Errorf("upper case: %v %v", up, err)
	}
	for _, bad := range []string{"", s[:39], s + "0", "zz" + s[2:]} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestIDMetric(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	toInt := func(id ID) *big.Int { return new(big.Int).SetBytes(id[:]) }
	for range 2000 {
		target, a, b := Random(rng32{rng}), Random(rng32{rng}), Random(rng32{rng})
		if rng.IntN(4) == 0 {
			// Share a long prefix so the comparison reaches late bytes.
			copy(b[:15], a[:15])
		}
		da := toInt(a.Xor(target))
		db := toInt(b.Xor(target))
		want := da.Cmp(db)
		if got := CompareDistance(target, a, b); got != want {
			t.Fatalf("CompareDistance = %d, want %d", got, want)
		}
		if got := Closer(target, a, b); got != (want < 0) {
			t.Fatalf("Closer = %v, want %v", got, want < 0)
		}
		// CommonPrefixLen is 160 minus the bit length of the XOR.
		if got, want := CommonPrefixLen(a, b), 160-toInt(a.Xor(b)).BitLen(); got != want {
			t.Fatalf("CommonPrefixLen = %d, want %d", got, want)
		}
	}
	var z ID
	if CommonPrefixLen(z, z) != 160 || Closer(z, z, z) || !z.IsZero() {
		t.Errorf("identical ids")
	}
	if got := CommonPrefixLen(z, ID{19: 1}); got != 159 {
		t.Errorf("CommonPrefixLen(last bit) = %d", got)
	}
	if (ID{0x80}).Bit(0) != 1 || (ID{19: 1}).Bit(159) != 1 || (ID{0x80}).Bit(1) != 0 || (ID{}).Bit(-1) != 0 || (ID{}).Bit(160) != 0 {
		t.Errorf("Bit")
	}
}

func TestRandomIDWithPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		prefix := Random(rng32{rng})
		n := rng.IntN(161)
		id := RandomWithPrefix(rng32{rng}, prefix, n, true)
		want := n
		if got := CommonPrefixLen(prefix, id); got != want {
			t.Fatalf("flip at %d: common prefix %d", n, got)
		}
		id = RandomWithPrefix(rng32{rng}, prefix, n, false)
		if got := CommonPrefixLen(prefix, id); got < n {
			t.Fatalf("keep %d bits: common prefix %d", n, got)
		}
	}
}

func TestRandomID(t *testing.T) {
	a, b := Random(nil), Random(nil)
	if a == b || a.IsZero() {
		t.Errorf("Random(nil) twice: %s %s", a, b)
	}
	// A short reader is topped up from crypto/rand.
	c := Random(bytes.NewReader([]byte{1, 2, 3}))
	if c[0] != 1 || c[1] != 2 || c[2] != 3 {
		t.Errorf("reader bytes not used: %s", c)
	}
}
