package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// versionText says which peerfind this is, from the build information the
// Go toolchain stamps into the binary: the module version (a tag, or a
// pseudo-version from the commit when built in a checkout), the VCS
// revision and its time, and the Go version.
func versionText() string {
	bi, _ := debug.ReadBuildInfo()
	return formatVersion(bi)
}

// formatVersion formats bi (nil: none) as versionText prints it. A binary
// built in a git worktree, or with -buildvcs=false, has no revision: Go
// stamps VCS information only in a checkout whose .git is a directory.
func formatVersion(bi *debug.BuildInfo) string {
	var b strings.Builder
	if bi == nil {
		fmt.Fprintf(&b, "peerfind (no build information)\n%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return b.String()
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel (not built from a tagged module version)"
	}
	fmt.Fprintf(&b, "peerfind %s\n", v)
	var rev, at, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		fmt.Fprintf(&b, "revision %s", rev)
		var notes []string
		if at != "" {
			notes = append(notes, at)
		}
		if modified == "true" {
			notes = append(notes, "with local changes")
		}
		if len(notes) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(notes, ", "))
		}
		b.WriteByte('\n')
	} else {
		b.WriteString("revision unknown (built without version control information)\n")
	}
	fmt.Fprintf(&b, "%s %s/%s\n", bi.GoVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}

func newVersionCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and Go version of this binary",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprint(c.stdout, versionText())
			return err
		},
	}
}

// noArgs is cobra.NoArgs as a usage error in our words.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("%s takes no arguments, got %d", cmd.Name(), len(args))
	}
	return nil
}
