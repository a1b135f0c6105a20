package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"tagged, clean", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "false"}}},
			"peerfind v1.2.3\nrevision 0123abcd (2026-12-01T10:00:00Z)\ngo1.26.0 " + runtime.GOOS + "/" + runtime.GOARCH + "\n"},
		{"checkout with changes", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20261201100000-0123abcd0000+dirty"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "true"}}},
			"peerfind v0.0.0-20261201100000-0123abcd0000+dirty\nrevision 0123abcd (with local changes)\n"},
		{"no VCS", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			"peerfind devel (not built from a tagged module version)\nrevision unknown"},
		{"no build info", nil, "peerfind (no build information)\n" + runtime.Version()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatVersion(tt.bi); !strings.HasPrefix(got, tt.want) {
				t.Errorf("got\n%s\nwant it to start with\n%s", got, tt.want)
			}
		})
	}
}

// TestE2EVersion: `peerfind version` and `peerfind --version` print the
// same three lines from the binary's build information.
func TestE2EVersion(t *testing.T) {
	a := runPF(t, nil, "version")
	b := runPF(t, nil, "--version")
	if a.code != exitOK || b.code != exitOK || a.stdout != b.stdout {
		t.Fatalf("version: exit %d %q; --version: exit %d %q", a.code, a.stdout, b.code, b.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(a.stdout, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "peerfind ") || !strings.HasPrefix(lines[1], "revision ") ||
		lines[2] != runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version output:\n%s", a.stdout)
	}
	if r := runPF(t, nil, "version", "extra"); r.code != exitUsage {
		t.Errorf("version extra: exit %d, want %d", r.code, exitUsage)
	}
}
