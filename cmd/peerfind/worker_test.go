package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peerfind/peerfind/internal/testutil"
	"github.com/peerfind/peerfind/store"
)

// startWorker starts `peerfind worker` in the background; the test ends it.
func startWorker(t *testing.T, name string, args ...string) (*exec.Cmd, *testutil.LockedBuffer) {
	t.Helper()
	return startCmd(t, append([]string{"worker", "--id", name}, args...)...)
}

// startCmd starts peerfind in the background; the test ends it.
func startCmd(t *testing.T, args ...string) (*exec.Cmd, *testutil.LockedBuffer) {
	t.Helper()
	cmd := exec.Command(peerfindBin, args...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	out := &testutil.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, out
}

// waitCount polls query until it returns at least want, for at most 2
// minutes: workers share no channel with the test, only the database.
func waitCount(t *testing.T, st *store.Store, want int, query string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	n := 0
	for time.Now().Before(deadline) {
		if err := st.DB().QueryRow(query, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		if n >= want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %d after 2 minutes, want %d", query, n, want)
}

func count1(t *testing.T, st *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestE2EWorkers runs the scale-out path on a real PostgreSQL server: a
// round enqueued, two worker processes sharing the queue, each job done
// once; then a second round during which one worker is killed with
// SIGKILL: its jobs are rescued by the other, nothing is lost and nothing
// counted twice.
func TestE2EWorkers(t *testing.T) {
	pg, err := testutil.StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Stop() })
	dsn, err := pg.CreateDB("workers")
	if err != nil {
		t.Fatal(err)
	}
	sw, ts := manySwarms(t, 120, 0)
	listPath := writeHashList(t, t.TempDir(), ts)
	search := append([]string{"--db", dsn, "--tracker", sw.HTTPTracker, "--tracker", sw.UDPTracker, "--tracker-rate", "-1", "--timeout", "3s"}, bootstrapArgs(sw)...)

	// Enqueueing twice the same round is impossible (a new round each
	// time), but the jobs of a round are unique: enqueue round 1.
	if r := runPF(t, nil, append([]string{"crawl", listPath, "--enqueue"}, search...)...); r.code != 0 {
		t.Fatalf("crawl --enqueue: exit %d: %s", r.code, r.stderr)
	}
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	wargs := append([]string{"--concurrency", "4", "--rescue-after", "20s"}, search...)
	a, aOut := startWorker(t, "worker-a", wargs...)
	b, bOut := startWorker(t, "worker-b", wargs...)
	waitCount(t, st, 1, `SELECT COUNT(*) FROM rounds WHERE round = 1 AND finished_ms IS NOT NULL`)
	if n := count1(t, st, `SELECT COUNT(*) FROM round_targets WHERE round = 1`); n != len(ts) {
		t.Errorf("round 1: %d targets stored, want %d", n, len(ts))
	}
	waitCount(t, st, len(ts), `SELECT COUNT(*) FROM river_job WHERE state = 'completed'`)
	if n := count1(t, st, `SELECT COUNT(*) FROM river_job WHERE kind = 'peerfind_target' AND (state <> 'completed' OR attempt <> 1)`); n != 0 {
		t.Errorf("round 1: %d jobs not completed at their first attempt", n)
	}
	for _, w := range []string{"worker-a", "worker-b"} {
		if n := count1(t, st, `SELECT COUNT(*) FROM river_job WHERE $1 = ANY(attempted_by)`, w); n == 0 {
			t.Errorf("%s worked no job of round 1", w)
		}
	}

	// Round 2: kill worker a as soon as the round is under way.
	if r := runPF(t, nil, append([]string{"crawl", listPath, "--enqueue"}, search...)...); r.code != 0 {
		t.Fatalf("crawl --enqueue: exit %d: %s", r.code, r.stderr)
	}
	waitCount(t, st, 5, `SELECT COUNT(*) FROM round_targets WHERE round = 2`)
	a.Process.Signal(syscall.SIGKILL)
	a.Wait()
	waitCount(t, st, 1, `SELECT COUNT(*) FROM rounds WHERE round = 2 AND finished_ms IS NOT NULL`)
	if n := count1(t, st, `SELECT COUNT(*) FROM round_targets WHERE round = 2`); n != len(ts) {
		t.Errorf("round 2: %d targets stored, want %d", n, len(ts))
	}
	if n := count1(t, st, `SELECT COUNT(*) FROM sightings WHERE round = 2`); n != len(ts)*8 {
		t.Errorf("round 2: %d sightings, want %d", n, len(ts)*8)
	}
	if n := count1(t, st, `SELECT COUNT(*) FROM peers WHERE first_round = 1 AND last_round = 2`); n != len(ts)*8 {
		t.Errorf("%d peers seen in both rounds, want %d", n, len(ts)*8)
	}
	if n := count1(t, st, `SELECT COUNT(*) FROM river_job WHERE kind = 'peerfind_target'`); n != 2*len(ts) {
		t.Errorf("%d jobs, want one per target and round: %d", n, 2*len(ts))
	}

	t.Logf("round 2: %d jobs rescued from the killed worker and done again",
		count1(t, st, `SELECT COUNT(*) FROM river_job WHERE kind = 'peerfind_target' AND attempt > 1`))

	// A graceful stop hands back the jobs under way: round 3 adds a UDP
	// tracker that never answers, so that every job waits for it, and
	// worker b is stopped (SIGINT) while it holds some.
	hole, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	slow := append([]string{"crawl", listPath, "--enqueue", "--tracker", "udp://" + hole.LocalAddr().String()}, search...)
	if r := runPF(t, nil, slow...); r.code != 0 {
		t.Fatalf("crawl --enqueue: exit %d: %s", r.code, r.stderr)
	}
	waitCount(t, st, 1, `SELECT COUNT(*) FROM river_job WHERE state = 'running' AND (args->>'round')::int = 3`)
	b.Process.Signal(os.Interrupt)
	if err := b.Wait(); err != nil {
		t.Errorf("worker b after SIGINT: %v\n%s", err, bOut.String())
	}
	if !strings.Contains(bOut.String(), "worker stopped") {
		t.Errorf("worker b did not say it stopped:\n%s", bOut.String())
	}
	if n := count1(t, st, `SELECT COUNT(*) FROM river_job WHERE (args->>'round')::int = 3 AND state NOT IN ('available', 'retryable')`); n != 0 {
		t.Errorf("round 3: %d jobs neither available nor retryable after the stop", n)
	}
	// River puts a job cancelled by its client's stop back as available,
	// its attempt not counted.
	if n := count1(t, st, `SELECT COUNT(*) FROM river_job WHERE (args->>'round')::int = 3 AND state = 'available' AND 'worker-b' = ANY(attempted_by)`); n == 0 {
		t.Error("round 3: no job handed back by the stopped worker")
	}
	if n := count1(t, st, `SELECT COUNT(*) FROM round_targets WHERE round = 3`); n != 0 {
		t.Errorf("round 3: %d results stored from cancelled jobs", n)
	}
	if t.Failed() {
		t.Logf("worker a:\n%s", aOut.String())
	}
}

// TestE2EWorkerPeriodic crawls into PostgreSQL in-process (the crawl
// command on a postgres:// --db), then lets a worker with --every start
// the next rounds by itself from the stored targets.
func TestE2EWorkerPeriodic(t *testing.T) {
	pg, err := testutil.StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Stop() })
	dsn, err := pg.CreateDB("periodic")
	if err != nil {
		t.Fatal(err)
	}
	sw, ts := manySwarms(t, 20, 0)
	var args []string
	for _, tt := range ts {
		args = append(args, tt.InfoHash.String())
	}
	search := []string{"--db", dsn, "--no-dht", "--tracker", sw.HTTPTracker, "--tracker", sw.UDPTracker, "--tracker-rate", "-1", "--timeout", "3s"}
	if r := runPF(t, nil, append(append([]string{"crawl"}, args...), search...)...); r.code != 0 {
		t.Fatalf("crawl into PostgreSQL: exit %d: %s", r.code, r.stderr)
	}
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n := count1(t, st, `SELECT COUNT(*) FROM sightings WHERE round = 1`); n != 8*len(ts) {
		t.Fatalf("round 1: %d sightings, want %d", n, 8*len(ts))
	}
	w, out := startWorker(t, "periodic", append([]string{"--every", "1s", "--rescue-after", "1m"}, search...)...)
	waitCount(t, st, 2, `SELECT COUNT(*) FROM rounds WHERE round > 1 AND finished_ms IS NOT NULL`)
	w.Process.Signal(os.Interrupt)
	if err := w.Wait(); err != nil {
		t.Errorf("worker after SIGINT: %v\n%s", err, out.String())
	}
	if n := count1(t, st, `SELECT COUNT(*) FROM round_targets WHERE round IN (2, 3)`); n != 2*len(ts) {
		t.Errorf("rounds 2 and 3: %d targets stored, want %d", n, 2*len(ts))
	}
}
