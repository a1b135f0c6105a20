package store

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/peerfind/peerfind/internal/testutil"
)

// The PostgreSQL server of this package's tests: Debian's, started on first
// use in a temporary directory on a loopback port, stopped by TestMain.
var (
	pgOnce sync.Once
	pg     *testutil.Postgres
	pgErr  error
	pgMu   sync.Mutex
	pgN    int
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pg != nil {
		pg.Stop()
	}
	os.Exit(code)
}

// postgresDB returns the URL of a new, empty database for t.
func postgresDB(t *testing.T) string {
	t.Helper()
	pgOnce.Do(func() { pg, pgErr = testutil.StartPostgres() })
	if pgErr != nil {
		t.Fatal(pgErr)
	}
	pgMu.Lock()
	pgN++
	name := fmt.Sprintf("%s_%d", strings.ToLower(strings.NewReplacer("/", "_", "-", "_").Replace(t.Name())), pgN)
	pgMu.Unlock()
	dsn, err := pg.CreateDB(name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}
