// Package bencode encodes and decodes bencoding, the serialisation of
// BitTorrent metainfo files, tracker responses and DHT messages (BEP 3).
//
// Decoding is strict about the grammar in every mode: integers have no
// leading zeros, no "-0", no '+', and fit in int64; string lengths are plain
// decimal and are checked against the remaining input before anything is
// allocated; dict keys are byte strings and never repeat. The only leniency,
// on by default, is dict key order: BEP 3 requires sorted keys, but real
// .torrent files contain unsorted ones, and their info-hash must be computed
// over the bytes as found (see DictValue and RawMessage). DecodeOptions.Strict
// turns that leniency off. Nesting depth and input size are limited, and
// every error is a *SyntaxError or *UnmarshalTypeError carrying the byte
// offset.
//
// Decoding first validates the whole value in one iterative pass (no
// recursion, no allocation for ordinary input) and then fills Go values from
// the accepted bytes with per-type decoders built once and cached. Encoding is
// canonical: Marshal always writes dict keys in sorted order.
package bencode
