package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/peerfind/peerfind/internal/testutil"
	"github.com/peerfind/peerfind/store"
)

// workers times one round of n targets worked by k `peerfind worker`
// processes sharing a PostgreSQL job queue, for each k in -workers: the
// time from the enqueue to the round's end.
func (b *bencher) workers(ctx context.Context) ([]run, error) {
	o, tb := b.o, b.tb
	pg, err := testutil.StartPostgres()
	if err != nil {
		return nil, err
	}
	defer pg.Stop()
	dsn, err := pg.CreateDB("crawlbench")
	if err != nil {
		return nil, err
	}
	n := o.workerTargets
	var list bytes.Buffer
	for _, h := range tb.hashes[:n] {
		fmt.Fprintln(&list, h)
	}
	file := filepath.Join(b.dir, "worker-targets.txt")
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
		fmt.Fprintf(b.stderr, "crawlbench: %d targets, %d workers\n", n, k)
		state, err := b.state()
		if err != nil {
			return nil, err
		}
		args := append([]string{"crawl", file, "--enqueue", "--db", dsn}, tb.common...)
		if _, err := b.proc(ctx, state, time.Minute, args...); err != nil {
			return nil, err
		}
		var round int64
		if err := st.DB().QueryRowContext(ctx, `SELECT MAX(round) FROM rounds`).Scan(&round); err != nil {
			return nil, err
		}
		q0, tr0, c0, cpu0 := tb.dhtQueries(), b.trackerReqs(), b.httpConns(), selfCPU()
		t0 := time.Now()
		var procs []*exec.Cmd
		peaks := make([]chan int64, k)
		dones := make([]chan struct{}, k)
		for i := range k {
			// Each worker is its own machine: its own copy of the warm state.
			ws, err := b.state()
			if err != nil {
				return nil, err
			}
			cmd := exec.CommandContext(ctx, b.bin, append([]string{"worker", "--db", dsn, "--id", "w" + strconv.Itoa(i), "--tracker-rate", fmt.Sprint(o.trackerRate),
				"--dht-rate", fmt.Sprint(o.dhtRate), "--concurrency", strconv.Itoa(o.concurrency)}, tb.common...)...)
			cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+ws)
			if err := cmd.Start(); err != nil {
				return nil, err
			}
			procs = append(procs, cmd)
			peaks[i], dones[i] = make(chan int64, 1), make(chan struct{})
			go func() { peaks[i] <- pollHWM(cmd.Process.Pid, dones[i]) }()
		}
		waitErr := waitRound(ctx, st.DB(), round, time.Duration(n)*o.timeout/time.Duration(o.concurrency)+5*time.Minute)
		secs := time.Since(t0).Seconds()
		r := run{Mode: fmt.Sprintf("%d worker(s)", k), Setting: fmt.Sprintf("--concurrency %d", o.concurrency), Targets: n, Seconds: secs, TargetsPerSec: float64(n) / secs}
		r.DHTQueries = float64(tb.dhtQueries()-q0) / float64(n)
		r.HTTPConns = b.connsPerTarget(c0, n)
		r.NetCPUSeconds = (selfCPU() - cpu0).Seconds()
		if tb.trackerReqs != nil {
			r.TrackerReqs = float64(b.trackerReqs()-tr0) / float64(n)
		}
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
		rows, err := st.DB().QueryContext(ctx, `SELECT info_hash, peers, duration_ms, error FROM round_targets WHERE round = $1`, round)
		if err != nil {
			return nil, err
		}
		var durs []float64
		found, held := 0, 0
		for rows.Next() {
			var h, e string
			var peers int
			var ms float64
			if err := rows.Scan(&h, &peers, &ms, &e); err != nil {
				rows.Close()
				return nil, err
			}
			r.Peers += peers
			found += min(peers, tb.held[h])
			held += tb.held[h]
			durs = append(durs, ms)
			if e != "" {
				r.Failed++
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		r.PeersPerSec = float64(r.Peers) / secs
		r.Found = float64(found) / float64(max(held, 1))
		r.Busy = busy(durs, secs)
		r.P50MS, r.P90MS = quantile(durs, 0.5), quantile(durs, 0.9)
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
