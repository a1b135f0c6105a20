package peerfind_test

// The package layering of peerfind, written down as data in the manner of Go's
// own go/build/deps_test.go: each package lists the packages of this module
// it may import. Imports point one way (bencode → metainfo → tracker and dht
// → discovery → cmd/peerfind). A package missing from the table, an import the table
// does not allow, or a table entry naming a package that does not exist
// fails the test.

import (
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/peerfind/peerfind"

// allowedImports maps a package (path relative to the module root) to the
// module packages it may import, directly. Standard-library imports are
// always allowed; third-party imports are listed in allowedExternal.
//
// Each list holds what the package needs, nothing more: a permission nobody
// uses is a layer skip waiting to happen (cmd/peerfind reaching into
// internal/compact or raw bencode, discovery decoding packets itself). To
// add a package, add its line with its imports; an internal package of X
// (X/internal/...) may only be granted to X and packages below it
// (TestInternalStaysInside).
var allowedImports = map[string][]string{
	// Wire formats: standard library only.
	"bencode":          {},
	"internal/compact": {},
	"metainfo":         {"bencode"},
	"magnet":           {"metainfo"},

	// Protocols: tracker and dht never import each other.
	"tracker": {"bencode", "metainfo", "internal/compact"},
	"dht":     {"bencode", "metainfo", "internal/compact", "dht/internal/nodeid", "dht/internal/routing", "dht/internal/krpc", "dht/internal/ratelimit", "dht/internal/bloom"},
	// dht's building blocks; only dht imports them (see TestInternalStaysInside).
	"dht/internal/nodeid":    {},
	"dht/internal/routing":   {"dht/internal/nodeid"},
	"dht/internal/krpc":      {"bencode", "internal/compact", "dht/internal/nodeid", "dht/internal/bloom"},
	"dht/internal/bloom":     {},
	"dht/internal/ratelimit": {},
	// One TCP peer: handshakes, ut_pex, ut_metadata. Never imports tracker
	// or dht.
	"peerwire": {"bencode", "metainfo", "internal/compact"},

	// Where the protocols meet: discovery uses their APIs, not their
	// packets; swarmtest builds swarms of them and never uses discovery.
	"discovery": {"metainfo", "magnet", "tracker", "dht", "peerwire"},
	"swarmtest": {"bencode", "metainfo", "magnet", "tracker", "dht"},

	// Many targets over time: crawl runs rounds on discovery (standard
	// library only); store keeps them in SQLite or PostgreSQL and queue
	// spreads them over workers through River on PostgreSQL: the packages
	// below the command allowed third-party modules.
	"crawl": {"metainfo", "tracker", "discovery"},
	"store": {"metainfo", "discovery", "crawl"},
	"queue": {"crawl", "store"},

	// The command: discovery for searches, the protocol packages for their
	// configuration and state, swarmtest for the demo.
	"cmd/peerfind": {"metainfo", "magnet", "tracker", "dht", "discovery", "swarmtest", "crawl", "store", "queue"},

	// Test tooling. (The root directory holds only this test, no package.)
	"internal/testutil": {},
	"scripts/testsum":   {},
}

// allowedExternal lists the third-party modules each package may use; the
// library packages use none, so importing our bencode pulls in nothing else.
var allowedExternal = map[string][]string{
	"store":        {"modernc.org/sqlite", "github.com/jackc/pgx/v5"},
	"queue":        {"github.com/riverqueue/river", "github.com/jackc/pgx/v5"},
	"cmd/peerfind": {"github.com/spf13/cobra", "github.com/spf13/pflag", "github.com/vbauerster/mpb/v8", "golang.org/x/term"},
}

// modulePackages returns each package directory of the module (relative,
// "." for the root) with the import paths of its non-test files.
func modulePackages(t *testing.T) map[string]map[string]bool {
	t.Helper()
	imports := map[string]map[string]bool{} // package dir → imported paths (non-test files)
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "interop") {
				return filepath.SkipDir // interop/ is its own module
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if imports[dir] == nil {
			imports[dir] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			imports[dir][p] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return imports
}

func TestPackageLayering(t *testing.T) {
	imports := modulePackages(t)
	dirs := make([]string, 0, len(imports))
	for d := range imports {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		allowed, known := allowedImports[dir]
		if !known {
			t.Errorf("package %s is not in the layering table of deps_test.go: add it", dir)
			continue
		}
		for imp := range imports[dir] {
			switch {
			case imp == module || strings.HasPrefix(imp, module+"/"):
				rel := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
				if rel == "" {
					rel = "."
				}
				if !contains(allowed, rel) {
					t.Errorf("%s imports %s, which the layering forbids", dir, rel)
				}
			case isStdlib(imp):
			default:
				ok := false
				for _, ext := range allowedExternal[dir] {
					if imp == ext || strings.HasPrefix(imp, ext+"/") {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s imports third-party %s: library packages must stay dependency-free", dir, imp)
				}
			}
		}
	}
}

// TestLayeringTableIsReal fails when the table names a package that does not
// exist, as a key or as an allowed import: a stale entry describes a layering
// the code does not have.
func TestLayeringTableIsReal(t *testing.T) {
	pkgs := modulePackages(t)
	for dir, allowed := range allowedImports {
		if pkgs[dir] == nil {
			t.Errorf("the layering table lists %s, which is not a package of the module", dir)
		}
		for _, imp := range allowed {
			if pkgs[imp] == nil {
				t.Errorf("the layering table allows %s to import %s, which is not a package of the module", dir, imp)
			}
		}
	}
}

// TestInternalStaysInside checks the table against Go's internal rule: a
// package may be allowed X/internal/... only if it lies in X, so that, for
// instance, discovery and cmd/peerfind can never be given dht/internal/*.
func TestInternalStaysInside(t *testing.T) {
	for dir, allowed := range allowedImports {
		for _, imp := range allowed {
			parent, _, ok := strings.Cut("/"+imp, "/internal/")
			if !ok {
				continue
			}
			parent = strings.TrimPrefix(parent, "/")
			if parent != "" && dir != parent && !strings.HasPrefix(dir, parent+"/") {
				t.Errorf("%s is allowed %s, internal to %s", dir, imp, parent)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// isStdlib reports whether an import path belongs to the standard library:
// its first element has no dot (and the stdlib tree has that package).
func isStdlib(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	if strings.Contains(first, ".") {
		return false
	}
	_, err := os.Stat(filepath.Join(build.Default.GOROOT, "src", p))
	return err == nil
}
