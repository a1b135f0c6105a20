// Command peerfind finds the peers of a BitTorrent swarm through HTTP and UDP
// trackers and the Mainline DHT, and prints them as they arrive.
//
// See README.md for usage; `peerfind help` lists the subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit statuses, documented in README.md and the help text.
const (
	exitOK      = 0 // success (for `peers`: at least one peer found)
	exitError   = 1 // bad input or a failed operation
	exitUsage   = 2 // bad flags or arguments
	exitNoPeers = 3 // `peers`: the search ran fine but found nobody
	// A second SIGINT or SIGTERM exits at once with 128 + the signal's
	// number, as shells report a process killed by it: 130 for SIGINT.
	exitSignal = 128
)

// exitError carries a specific exit status out of a subcommand.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// usageError marks an error as a usage error (exit status 2).
func usageError(format string, args ...any) error {
	return &statusError{status: exitUsage, err: fmt.Errorf(format, args...)}
}

// withStatus marks err with an exit status.
func withStatus(status int, err error) error {
	if err == nil {
		return nil
	}
	return &statusError{status: status, err: err}
}

// cli is what every subcommand shares: the streams and the context.
type cli struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func main() {
	ctx, stop := notifyContext(os.Stderr)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// notifyContext is signal.NotifyContext for SIGINT and SIGTERM with a way
// out: the first signal cancels the context, and the command winds down
// cleanly (trackers told we left, state saved, summary printed), which
// may take a few seconds when a tracker does not answer; a second signal
// exits at once, as users expect of a second Ctrl-C.
func notifyContext(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			cancel(&interrupted{sig})
		case <-done:
			return
		}
		select {
		case sig := <-sigs:
			fmt.Fprintln(stderr, "peerfind: interrupted again: exiting without waiting")
			n := 2
			if s, ok := sig.(syscall.Signal); ok {
				n = int(s)
			}
			os.Exit(exitSignal + n)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}

// interrupted is the cause of the context's cancellation when a signal
// ended the command: a search it cut short is interrupted, not failed, and
// exits with 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)
// when it found nothing, as shells report a process a signal ended.
type interrupted struct{ sig os.Signal }

func (e *interrupted) Error() string { return "interrupted by " + signalName(e.sig) }

// status is the exit status after the signal.
func (e *interrupted) status() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return exitSignal + int(s)
	}
	return exitSignal + int(syscall.SIGINT)
}

func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// interruptedBy returns the signal that cancelled ctx, or nil.
func interruptedBy(ctx context.Context) *interrupted {
	var in *interrupted
	if errors.As(context.Cause(ctx), &in) {
		return in
	}
	return nil
}

// run executes one command line and returns the process exit status. It never
// panics out to the user: a panic inside a subcommand is a bug, reported as
// one line with exit status 1 rather than a Go trace.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "peerfind: internal error: %v (please report this bug)\n", r)
			code = exitError
		}
	}()
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "peerfind",
		Short:         "Find the peers of a BitTorrent swarm through trackers and the DHT",
		SilenceErrors: true,
		SilenceUsage:  true,
		Long: `peerfind finds the peers of a torrent -- every reachable IP:port in the swarm -- through
HTTP trackers, UDP trackers and the Mainline DHT, and prints them as they arrive.

A TARGET is a .torrent file, an http(s):// URL of one (downloaded), "-" for a
.torrent on standard input, a magnet link, or a bare info hash (40 hex digits
or 32 base32 characters for v1, 64 hex digits for v2).

Exit status: 0 success, 1 error, 2 usage error, 3 the search ran but found no
peers, 130/143 a search interrupted by SIGINT/SIGTERM before any peer was found.`,
	}
	root.Version = strings.TrimSuffix(versionText(), "\n") // --version
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetHelpCommand(newHelpCmd())
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &statusError{status: exitUsage, err: plainFlagError(err)}
	})
	for _, newCmd := range []func(*cli) *cobra.Command{newInfoCmd, newScrapeCmd, newPeersCmd, newMetadataCmd, newDemoCmd, newCrawlCmd, newHistoryCmd, newExportCmd, newPruneCmd, newWorkerCmd, newVersionCmd} {
		root.AddCommand(newCmd(c))
	}
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var se *statusError
	status := exitError
	if errors.As(err, &se) {
		status = se.status
	} else if isCobraUsageError(err) {
		status = exitUsage
	}
	if se == nil || se.err != nil && se.err.Error() != "" {
		fmt.Fprintf(stderr, "peerfind: %v\n", err)
	}
	if status == exitUsage {
		fmt.Fprintln(stderr, "Run 'peerfind --help' for usage.")
	}
	return status
}

// newHelpCmd is `peerfind help [command]`. Unlike cobra's own, a topic
// that names no command is a usage error (exit status 2), not a success.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := c.Root().Find(args)
			if err != nil || target == nil || len(rest) > 0 || len(args) > 0 && target == c.Root() {
				var names []string
				for _, sub := range c.Root().Commands() {
					if sub.IsAvailableCommand() {
						names = append(names, sub.Name())
					}
				}
				return usageError("help: no command %q; the commands are %s", strings.Join(args, " "), strings.Join(names, ", "))
			}
			return target.Help()
		},
	}
}

// isCobraUsageError recognises the argument errors cobra itself returns
// (unknown command, wrong number of arguments), which carry no type.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "unknown flag", "unknown shorthand"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
