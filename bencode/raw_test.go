package bencode

import (
	"crypto/sha1"
	"errors"
	"strings"
	"testing"
)

func TestDictValue(t *testing.T) {
	cases := []struct {
		in, key string
		want    string
		ok      bool
		err     string // substring of the expected error; "" for none
	}{
		{"d4:infod1:xi1eee", "info", "d1:xi1ee", true, ""},
		{"d4:infod1:xi1eee\n", "info", "d1:xi1ee", true, ""}, // trailing newline ignored
		{"d1:ai1e4:infoli1ei2ee1:zi3ee", "info", "li1ei2ee", true, ""},
		{"d1:ai1e4:info3:abc1:zi3ee", "info", "3:abc", true, ""},
		{"d1:ai1e4:infoi-7e1:zi3ee", "info", "i-7e", true, ""},
		{"d1:zd4:infoi1ee4:infoi2ee", "info", "i2e", true, ""}, // only the top level counts; unsorted ok
		{"d1:zd4:infoi1eee", "info", "", false, ""},
		{"de", "info", "", false, ""},
		{"d4:infod1:bi1e1:ai1eee", "info", "d1:bi1e1:ai1ee", true, ""},               // unsorted inside, as found
		{"d4:infodei4:infodee", "info", "", false, "dict key must be a byte string"}, // not a key
		{"d4:infode4:infodee", "info", "", false, "duplicate dict key"},              // duplicate
		{"d4:infod1:xi01eee", "info", "", false, "leading zero"},                     // invalid inside
		{"d4:infod1:xi1ee1:ai1ee", "info", "d1:xi1ee", true, ""},                     // unsorted top level
		{"d4:infod1:xi1ee", "info", "", false, "unexpected end"},                     // truncated after info
		{"li1ee", "info", "", false, "not a dict"},
		{"", "info", "", false, "unexpected end"},
	}
	for _, tc := range cases {
		raw, ok, err := DictValue([]byte(tc.in), tc.key)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: got %q, %v; want error %q", tc.in, raw, err, tc.err)
			}
			continue
		}
		if err != nil || ok != tc.ok || string(raw) != tc.want {
			t.Errorf("%q: got %q %v %v, want %q %v", tc.in, raw, ok, err, tc.want, tc.ok)
		}
	}
	// Strict options apply.
	if _, _, err := (DecodeOptions{Strict: true}).DictValue([]byte("d4:infod1:bi1e1:ai1eee"), "info"); !errors.Is(err, ErrUnsorted) {
		t.Errorf("strict: %v", err)
	}
	if _, _, err := (DecodeOptions{}).DictValue([]byte("d4:infodee\n"), "info"); !errors.Is(err, ErrTrailing) {
		t.Errorf("no AllowTrailing: %v", err)
	}
}

// TestDictValueAllocs: hashing an info dict costs no allocations.
func TestDictValueAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race (sync.Pool drops items); the plain go test run checks them")
	}
	in := []byte("d8:announce9:http://x/13:announce-listll1:ael1:bee4:infod5:filesld6:lengthi5e4:pathl1:a1:beed6:lengthi6e4:pathl1:ceee4:name4:test12:piece lengthi16384e6:pieces20:01234567890123456789ee\n")
	var sum [20]byte
	allocs := testing.AllocsPerRun(100, func() {
		raw, ok, err := DictValue(in, "info")
		if !ok || err != nil {
			t.Fatal(ok, err)
		}
		sum = sha1.Sum(raw)
	})
	if allocs != 0 {
		t.Errorf("%v allocs per DictValue", allocs)
	}
	_ = sum
	// Unsorted dicts under the stack buffer size: still none.
	un := []byte("d4:infod4:name1:x6:lengthi1e1:ai2eee")
	if allocs := testing.AllocsPerRun(100, func() { DictValue(un, "info") }); allocs != 0 {
		t.Errorf("%v allocs per DictValue on unsorted input", allocs)
	}
}

func TestRawMessageMarshal(t *testing.T) {
	for _, tc := range []struct {
		raw RawMessage
		ok  bool
	}{
		{RawMessage("i1e"), true},
		{RawMessage("d1:bi1e1:ai2ee"), true}, // unsorted: caller's bytes, kept
		{RawMessage("i1ei2e"), false},
		{RawMessage("i01e"), false},
		{RawMessage("d1:ai1e1:ai1ee"), false},
		{RawMessage(""), false},
		{nil, false},
	} {
		out, err := Marshal(tc.raw)
		if (err == nil) != tc.ok || (tc.ok && string(out) != string(tc.raw)) {
			t.Errorf("%q: %q %v", tc.raw, out, err)
		}
	}
	// Nil RawMessage fields are left out.
	out, err := Marshal(struct {
		A RawMessage `bencode:"a"`
		B RawMessage `bencode:"b"`
	}{B: RawMessage("le")})
	if err != nil || string(out) != "d1:blee" {
		t.Errorf("%q %v", out, err)
	}
}

func TestPathAt(t *testing.T) {
	data := []byte("d1:ald1:bi1eei2ee5:x.y\"zi3e4:\xff\xfe\x00\x01i4ee")
	for _, tc := range []struct {
		off  int
		want string
	}{
		{0, ""},
		{4, "a"},
		{5, "a[0]"},
		{9, "a[0].b"},
		{14, "a[1]"},
		{25, `"x.y\"z"`},
		{35, `"\xff\xfe\x00\x01"`},
	} {
		if got := pathAt(data, tc.off); got != tc.want {
			t.Errorf("%d: got %s, want %s", tc.off, got, tc.want)
		}
	}
}
