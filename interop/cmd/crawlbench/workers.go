package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/peerfind/peerfind/internal/testutil"
	"github.com/peerfind/peerfind/store"
	"github.com/peerfind/peerfind/swarmtest"
)

// benchWorkers times one round of n targets worked by k `peerfind worker`
// processes sharing a PostgreSQL job queue, for each k in counts: the time
// from the enqueue to the round's end.
func benchWorkers(ctx context.Context, o *options, bin, dir string, sw *swarmtest.Swarm, torrents []*swarmtest.Torrent, common []string, stderr io.Writer) ([]run, error) {
	pg, err := testutil.StartPostgres()
	if err != nil {
		return nil, err
	}
	defer pg.Stop()
	dsn, err := pg.CreateDB("crawlbench")
	if err != nil {
		return nil, err
	}
	n := min(o.workerTargets, len(torrents))
	var list bytes.Buffer
	for _, t := range torrents[:n] {
		fmt.Fprintln(&list, t.InfoHash)
	}
	file := filepath.Join(dir, "worker-targets.txt")
	if err := os.WriteFile(file, list.Bytes(), 0o644); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var runs []run
	for _, k := range o.workers {
		fmt.Fprintf(stderr, "crawlbench: %d targets, %d workers\n", n, k)
		args := append([]string{"crawl", file, "--enqueue", "--db", dsn}, common...)
		if _, err := runProc(ctx, bin, dir, time.Minute, args...); err != nil {
			return nil, err
		}
		var round int64
		if err := st.DB().QueryRowContext(ctx, `SELECT MAX(round) FROM rounds`).Scan(&round); err != nil {
			return nil, err
		}
		t0 := time.Now()
		var procs []*exec.Cmd
		peaks := make([]chan int64, k)
		dones := make([]chan struct{}, k)
		for i := range k {
			cmd := exec.CommandContext(ctx, bin, append([]string{"worker", "--db", dsn, "--id", "w" + strconv.Itoa(i), "--tracker-rate", "-1", "--dht-rate", "-1",
				"--concurrency", strconv.Itoa(o.concurrency)}, common...)...)
			cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(dir, "wstate"+strconv.Itoa(i)))
			if err := cmd.Start(); err != nil {
				return nil, err
			}
			procs = append(procs, cmd)
			peaks[i], dones[i] = make(chan int64, 1), make(chan struct{})
			go func() { peaks[i] <- pollHWM(cmd.Process.Pid, dones[i]) }()
		}
		waitErr := waitRound(ctx, st.DB(), round, time.Duration(n)*o.timeout/time.Duration(o.concurrency)+5*time.Minute)
		secs := time.Since(t0).Seconds()
		r := run{Mode: fmt.Sprintf("%d worker(s)", k), Targets: n, Seconds: secs, TargetsPerSec: float64(n) / secs}
		for i, cmd := range procs {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
			close(dones[i])
			r.MaxRSSMB = max(r.MaxRSSMB, float64(<-peaks[i])/1024)
			r.CPUSeconds += (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
		}
		if waitErr != nil {
			return nil, waitErr
		}
		if err := st.DB().QueryRowContext(ctx, `SELECT COALESCE(SUM(peers), 0) FROM round_targets WHERE round = $1`, round).Scan(&r.Peers); err != nil {
			return nil, err
		}
		r.PeersPerSec = float64(r.Peers) / secs
		runs = append(runs, r)
	}
	return runs, nil
}

// waitRound polls until round is finished, for at most limit.
func waitRound(ctx context.Context, db *sql.DB, round int64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var done bool
		if err := db.QueryRowContext(ctx, `SELECT finished_ms IS NOT NULL FROM rounds WHERE round = $1`, round).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("the workers did not finish the round in time")
}
