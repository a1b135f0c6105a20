package bencode

import (
	"crypto/sha1"
	"os"
	"testing"
)

// benchCorpus returns the first value of every valid corpus file.
func benchCorpus(b *testing.B) ([][]byte, int64) {
	b.Helper()
	var files [][]byte
	var n int64
	for _, e := range loadCorpus(b) {
		if e.outcome != "valid" {
			continue
		}
		data, err := os.ReadFile(e.path)
		if err != nil {
			b.Fatal(err)
		}
		var raw RawMessage
		if err := (DecodeOptions{AllowTrailing: true}).Unmarshal(data, &raw); err != nil {
			continue
		}
		files = append(files, raw)
		n += int64(len(raw))
	}
	return files, n
}

func BenchmarkUnmarshalCorpus(b *testing.B) {
	files, n := benchCorpus(b)
	b.Run("any", func(b *testing.B) {
		b.SetBytes(n)
		b.ReportAllocs()
		for b.Loop() {
			for _, f := range files {
				var v any
				if err := Unmarshal(f, &v); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("struct", func(b *testing.B) {
		b.SetBytes(n)
		b.ReportAllocs()
		for b.Loop() {
			for _, f := range files {
				var m metaInfo
				Unmarshal(f, &m) // a few valid files hold unexpected types
			}
		}
	})
	b.Run("validate", func(b *testing.B) {
		b.SetBytes(n)
		b.ReportAllocs()
		for b.Loop() {
			for _, f := range files {
				if _, err := (DecodeOptions{}).validate(f); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func BenchmarkDictValueInfo(b *testing.B) {
	files, n := benchCorpus(b)
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range files {
			raw, ok, err := DictValue(f, "info")
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
			sha1.Sum(raw)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	files, n := benchCorpus(b)
	generic := make([]any, len(files))
	structs := make([]metaInfo, len(files))
	for i, f := range files {
		Unmarshal(f, &generic[i])
		Unmarshal(f, &structs[i])
	}
	b.Run("any", func(b *testing.B) {
		b.SetBytes(n)
		b.ReportAllocs()
		for b.Loop() {
			for _, v := range generic {
				if _, err := Marshal(v); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("struct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i := range structs {
				if _, err := Marshal(&structs[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkKRPC decodes a typical DHT get_peers response into a struct.
func BenchmarkKRPC(b *testing.B) {
	msg := []byte("d1:rd2:id20:abcdefghij01234567895:nodes208:" + string(make([]byte, 208)) + "5:token8:aoeusnthe1:t2:aa1:y1:re")
	type resp struct {
		ID    [20]byte `bencode:"id"`
		Nodes []byte   `bencode:"nodes"`
		Token []byte   `bencode:"token"`
	}
	type krpc struct {
		T string `bencode:"t"`
		Y string `bencode:"y"`
		R *resp  `bencode:"r"`
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		var k krpc
		if err := Unmarshal(msg, &k); err != nil {
			b.Fatal(err)
		}
	}
}
