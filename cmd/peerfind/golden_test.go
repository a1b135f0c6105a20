package main

import (
	"flag"
	"os"
	"testing"
)

// update rewrites the golden files under testdata/ instead of comparing:
// go test ./cmd/peerfind -run 'Golden' -update.
var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with the golden file at path, or rewrites it under
// -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}
