package metainfo

import (
	"errors"
	"testing"
)

func TestParseHash(t *testing.T) {
	const hexForm = "d43e185e297421ea3f253ae04300e373aef9404e"
	want, err := ParseHash(hexForm)
	if err != nil {
		t.Fatal(err)
	}
	if got := want.String(); got != hexForm {
		t.Fatalf("String() = %s, want %s", got, hexForm)
	}
	tests := []struct {
		in      string
		want    Hash
		wantErr bool
	}{
		{in: hexForm, want: want},
		{in: "D43E185E297421EA3F253AE04300E373AEF9404E", want: want},
		{in: "2Q7BQXRJOQQ6UPZFHLQEGAHDOOXPSQCO", want: want},
		{in: "2q7bqxrjoqq6upzfhlqegahdooxpsqco", want: want},
		{in: "xyz", wantErr: true},
		{in: "g43e185e297421ea3f253ae04300e373aef9404e", wantErr: true},
		{in: "1Q7BQXRJOQQ6UPZFHLQEGAHDOOXPSQCO", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseHash(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrBadHash) {
				t.Errorf("ParseHash(%q) error = %v, want ErrBadHash", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseHash(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestHashV2Truncate(t *testing.T) {
	h, err := ParseHashV2("caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.Truncate().String(), "caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa"; got != want {
		t.Fatalf("Truncate = %s, want %s", got, want)
	}
	if _, err := ParseHashV2("caf1"); !errors.Is(err, ErrBadHash) {
		t.Fatalf("short v2 hash: err = %v", err)
	}
}
