package testutil

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// Postgres is a PostgreSQL server started for tests in a temporary
// directory, listening on 127.0.0.1 only, trusting local connections as
// user "postgres". Stop it with Stop.
type Postgres struct {
	Port int
	bin  string
	dir  string
	cred *syscall.Credential
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	out  LockedBuffer
}

// postgresLifetime bounds the server's life: it does not notice when the
// test binary dies, so it runs under coreutils timeout.
const postgresLifetime = "900"

// PostgresBin returns the directory of Debian's PostgreSQL server binaries
// (/usr/lib/postgresql/VERSION/bin, the newest version), or an error saying
// how to install them (scripts/test.sh does).
func PostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) < pgVersion(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "postgres")); err == nil {
			return dirs[i], nil
		}
	}
	return "", errors.New("PostgreSQL server not found under /usr/lib/postgresql/*/bin: install Debian's postgresql package (scripts/test.sh does)")
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// StartPostgres initialises a database cluster in a new temporary directory
// and starts a server on a free loopback port. PostgreSQL refuses to run as
// root, so as root it runs as the system user "postgres" that Debian's
// package creates.
func StartPostgres() (*Postgres, error) {
	bin, err := PostgresBin()
	if err != nil {
		return nil, err
	}
	p := &Postgres{bin: bin}
	p.dir, err = os.MkdirTemp("", "peerfind-pg-")
	if err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			p.cleanup()
			return nil, fmt.Errorf("running PostgreSQL as root is refused, and there is no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(p.dir, uid, gid); err != nil {
			p.cleanup()
			return nil, err
		}
	}
	data := filepath.Join(p.dir, "data")
	if out, err := p.command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		p.cleanup()
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	var lastErr error
	for range 3 { // a port taken between choosing and binding: choose again
		p.Port, err = freeTCPPort()
		if err != nil {
			p.cleanup()
			return nil, err
		}
		p.out = LockedBuffer{}
		p.cmd = p.command("timeout", "--signal=INT", postgresLifetime, filepath.Join(bin, "postgres"), "-D", data,
			"-p", strconv.Itoa(p.Port), "-k", p.dir, "-c", "listen_addresses=127.0.0.1",
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200")
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
		if err := p.cmd.Start(); err != nil {
			p.cleanup()
			return nil, fmt.Errorf("starting postgres: %w", err)
		}
		p.done = make(chan struct{})
		go func(cmd *exec.Cmd, done chan struct{}) {
			cmd.Wait()
			close(done)
		}(p.cmd, p.done)
		if lastErr = p.waitReady(); lastErr == nil {
			return p, nil
		}
		p.cmd.Process.Signal(os.Interrupt)
		<-p.done
	}
	p.cleanup()
	return nil, lastErr
}

func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = p.dir
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd
}

// waitReady polls pg_isready until the server accepts connections, it
// exits, or 60 s pass.
func (p *Postgres) waitReady() error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("postgres on port %d exited while starting:\n%s", p.Port, p.out.String())
		default:
		}
		if exec.Command(filepath.Join(p.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port)).Run() == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("postgres on port %d not ready after 60 s:\n%s", p.Port, p.out.String())
}

// DSN returns the URL of database name on this server.
func (p *Postgres) DSN(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, name)
}

// CreateDB creates an empty database and returns its URL.
func (p *Postgres) CreateDB(name string) (string, error) {
	out, err := p.command(filepath.Join(p.bin, "createdb"), "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", "postgres", name).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("createdb %s: %w\n%s", name, err, out)
	}
	return p.DSN(name), nil
}

// Output returns the server's log so far.
func (p *Postgres) Output() string { return p.out.String() }

// Stop shuts the server down (fast shutdown) and removes its directory.
func (p *Postgres) Stop() error {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(os.Interrupt)
		<-p.done
	}
	return p.cleanup()
}

func (p *Postgres) cleanup() error { return os.RemoveAll(p.dir) }

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
