// Package bencodebench compares peerfind's bencode package with
// github.com/anacrolix/torrent/bencode and github.com/jackpal/bencode-go on the
// repository's .torrent corpus (testdata/corpus in the root module). It holds only tests and benchmarks; it lives in the
// interop module so the main module never depends on those libraries.
package bencodebench
