//go:build !race

package bencode

const raceEnabled = false
