package metainfo

import (
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Hash is a 20-byte swarm key: the SHA-1 info hash of a v1 torrent, or the
// first 20 bytes of a v2 SHA-256 info hash as used on trackers and the DHT
// (BEP 52, "info hash" section).
type Hash [20]byte

// HashV2 is the full SHA-256 info hash of a v2 torrent (BEP 52).
type HashV2 [32]byte

// ErrBadHash is wrapped by every error returned by ParseHash.
var ErrBadHash = errors.New("invalid info hash")

// String returns the hash as 40 lowercase hex digits.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is the all-zero hash (no hash).
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText implements encoding.TextMarshaler (hex), for JSON output.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; see ParseHash.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// String returns the hash as 64 lowercase hex digits.
func (h HashV2) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is the all-zero hash (no hash).
func (h HashV2) IsZero() bool { return h == HashV2{} }

// Truncate returns the first 20 bytes of h: the key of the v2 swarm on
// trackers and the DHT (BEP 52).
func (h HashV2) Truncate() Hash {
	var t Hash
	copy(t[:], h[:20])
	return t
}

// MarshalText implements encoding.TextMarshaler (hex), for JSON output.
func (h HashV2) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// ParseHash parses a v1 info hash written as 40 hex digits or as 32 base32
// characters (the two forms BEP 9 allows in urn:btih). Case is ignored.
func ParseHash(s string) (Hash, error) {
	var h Hash
	switch len(s) {
	case 40:
		if _, err := hex.Decode(h[:], []byte(s)); err != nil {
			return Hash{}, fmt.Errorf("%w %q: not hexadecimal", ErrBadHash, s)
		}
	case 32:
		n, err := base32.StdEncoding.Decode(h[:], []byte(strings.ToUpper(s)))
		if err != nil || n != 20 {
			return Hash{}, fmt.Errorf("%w %q: not base32", ErrBadHash, s)
		}
	default:
		return Hash{}, fmt.Errorf("%w %q: want 40 hex or 32 base32 characters, got %d", ErrBadHash, s, len(s))
	}
	return h, nil
}

// ParseHashV2 parses a v2 info hash written as 64 hex digits.
func ParseHashV2(s string) (HashV2, error) {
	var h HashV2
	if len(s) != 64 {
		return HashV2{}, fmt.Errorf("%w %q: want 64 hex characters, got %d", ErrBadHash, s, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return HashV2{}, fmt.Errorf("%w %q: not hexadecimal", ErrBadHash, s)
	}
	return h, nil
}
