package bencode_test

import (
	"crypto/sha1"
	"errors"
	"fmt"

	"github.com/peerfind/peerfind/bencode"
)

func ExampleDictValue() {
	// The info-hash is over the info value's bytes as found, even when its
	// keys are not sorted.
	torrent := []byte("d8:announce9:http://t/4:infod4:name1:x6:lengthi1e12:piece lengthi16384e6:pieces0:ee\n")
	raw, ok, err := bencode.DictValue(torrent, "info")
	if err != nil || !ok {
		fmt.Println(ok, err)
		return
	}
	fmt.Printf("%s\n%x\n", raw, sha1.Sum(raw))
	// Output:
	// d4:name1:x6:lengthi1e12:piece lengthi16384e6:pieces0:e
	// 7c6c2e637bf53ab8b48c3d4ae53f9d5ed68584f3
}

func ExampleUnmarshal() {
	var msg struct {
		T string `bencode:"t"`
		Y string `bencode:"y"`
		A struct {
			ID [20]byte `bencode:"id"`
		} `bencode:"a"`
		Q string `bencode:"q"`
	}
	err := bencode.Unmarshal([]byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"), &msg)
	fmt.Println(msg.T, msg.Y, msg.Q, string(msg.A.ID[:]), err)

	err = bencode.Unmarshal([]byte("d1:ai03ee"), &msg)
	var se *bencode.SyntaxError
	fmt.Println(errors.As(err, &se), se.Offset, err)
	// Output:
	// aa q ping abcdefghij0123456789 <nil>
	// true 5 bencode: offset 5: leading zero in integer
}

func ExampleMarshal() {
	b, err := bencode.Marshal(map[string]any{"spam": []any{"a", "b"}, "cow": "moo", "n": 42})
	fmt.Printf("%s %v\n", b, err)
	// Output:
	// d3:cow3:moo1:ni42e4:spaml1:a1:bee <nil>
}
