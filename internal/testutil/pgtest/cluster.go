//go:build unix

package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// debianRoot is where Debian's postgresql-N packages install their binaries
// (<root>/N/bin), outside PATH.
const debianRoot = "/usr/lib/postgresql"

// binaries are the two programs a throwaway cluster needs.
type binaries struct {
	initdb, pgctl string
}

// findBinaries looks for initdb and pg_ctl in PATH, then in the highest
// version under /usr/lib/postgresql.
func findBinaries() (binaries, error) {
	if initdb, err := exec.LookPath("initdb"); err == nil {
		// Take pg_ctl from the same installation: the PATH entry is often a
		// symlink into /usr/lib/postgresql/N/bin.
		if real, err := filepath.EvalSymlinks(initdb); err == nil {
			if pgctl := filepath.Join(filepath.Dir(real), "pg_ctl"); isExecutable(pgctl) {
				return binaries{initdb: real, pgctl: pgctl}, nil
			}
		}
		if pgctl, err := exec.LookPath("pg_ctl"); err == nil {
			return binaries{initdb: initdb, pgctl: pgctl}, nil
		}
	}
	dir, err := highestVersionDir(debianRoot)
	if err != nil {
		return binaries{}, err
	}
	return binaries{initdb: filepath.Join(dir, "initdb"), pgctl: filepath.Join(dir, "pg_ctl")}, nil
}

// highestVersionDir returns root/<version>/bin for the highest version
// (compared numerically: 16 > 9.6) whose bin holds both initdb and pg_ctl.
func highestVersionDir(root string) (string, error) {
	entries, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("list %s: %w", root, err)
	}
	best, bestVer := "", []int(nil)
	for _, e := range entries {
		ver, ok := parseVersion(e.Name())
		if !ok {
			continue
		}
		bin := filepath.Join(root, e.Name(), "bin")
		if !isExecutable(filepath.Join(bin, "initdb")) || !isExecutable(filepath.Join(bin, "pg_ctl")) {
			continue
		}
		if bestVer == nil || compareVersions(ver, bestVer) > 0 {
			best, bestVer = bin, ver
		}
	}
	if best == "" {
		return "", fmt.Errorf("no initdb and pg_ctl in PATH or in %s/*/bin", root)
	}
	return best, nil
}

// parseVersion parses a directory name such as "15" or "9.6".
func parseVersion(s string) ([]int, bool) {
	var v []int
	for part := range strings.SplitSeq(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

func compareVersions(a, b []int) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// cluster is a running throwaway PostgreSQL cluster.
type cluster struct {
	base    string // directory owned by the server's user: data dir, watchdog cwd
	data    string // PGDATA; also holds server.log and the unix socket
	port    int
	version string
	bin     binaries
	cred    *syscall.Credential // the postgres user when running as root; nil otherwise

	release      *os.File   // write end of the watchdog's stdin; closing it stops the cluster
	watchdogDone chan error // receives the watchdog's exit
}

// watchdogScript stops the cluster and removes its directory once its stdin
// reaches end of file, which happens when the test binary, the only holder of
// the pipe's write end, closes it in Main or ends in any way at all.
// Arguments: $1 pg_ctl, $2 data directory, $3 base directory.
const watchdogScript = `trap '' HUP INT
cat >/dev/null
status=0
if [ -f "$2/postmaster.pid" ]; then
	"$1" -D "$2" -m fast -w -t 60 stop >/dev/null 2>&1 ||
	"$1" -D "$2" -m immediate -w -t 30 stop >/dev/null 2>&1 || status=1
fi
rm -rf "$3" || status=1
exit $status
`

// startCluster initialises and starts a cluster on a free port on
// 127.0.0.1, with its watchdog.
func startCluster() (_ *cluster, err error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	parent := os.TempDir()
	if cred != nil {
		// The postgres user must be able to reach the directory: /tmp is
		// world-traversable, a root-only TMPDIR may not be.
		parent = "/tmp"
	}
	base, err := os.MkdirTemp(parent, "patchctl-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	if cred != nil {
		if err := os.Chown(base, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(base)
			return nil, fmt.Errorf("hand %s to the postgres user: %w", base, err)
		}
	}
	c := &cluster{base: base, data: filepath.Join(base, "data"), bin: bin, cred: cred}
	// The watchdog comes first, so that even a crash during initdb leaves
	// nothing behind.
	if err := c.startWatchdog(); err != nil {
		os.RemoveAll(base)
		return nil, err
	}
	defer func() {
		if err != nil {
			if stopErr := c.stop(); stopErr != nil {
				err = fmt.Errorf("%w\nalso: %v", err, stopErr)
			}
		}
	}()

	if out, err := c.command(bin.pgctl, "--version").Output(); err == nil {
		c.version = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "pg_ctl (PostgreSQL)"))
	}
	if err := c.initdb(); err != nil {
		return nil, err
	}
	if err := c.start(); err != nil {
		return nil, err
	}
	return c, nil
}

// serverUser returns the credentials to run the PostgreSQL binaries with:
// nil when not root, the postgres user when root (initdb and postgres refuse
// to run as root).
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, where initdb refuses to run, and there is no postgres user to run it as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("postgres user has a non-numeric uid %q or gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// command prepares a command that runs as the server's user, in the
// cluster's directory, in a session of its own (so a Ctrl-C or a signal to
// the test's process group does not reach the server or the watchdog).
func (c *cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.base
	cmd.Env = c.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: c.cred}
	// The postmaster must not hold our output pipes (pg_ctl redirects it to
	// the log), but should one ever do so, do not wait forever.
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// env is the caller's environment without the PG* variables that would
// point the binaries elsewhere, with messages in English (initdb's locale
// error is recognised by its text).
func (c *cluster) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "LC_") || k == "LANG" || k == "LANGUAGE" ||
			(c.cred != nil && k == "HOME") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "LC_ALL=C")
	if c.cred != nil {
		env = append(env, "HOME="+c.base)
	}
	return env
}

func (c *cluster) startWatchdog() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("watchdog pipe: %w", err)
	}
	cmd := c.command("/bin/sh", "-c", watchdogScript, "pgtest-watchdog", c.bin.pgctl, c.data, c.base)
	cmd.Stdin = r
	// Stdout and Stderr stay nil (/dev/null): the watchdog outlives a
	// crashed test binary and must not hold go test's output pipe open.
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("start watchdog: %w", err)
	}
	r.Close()
	c.release = w
	c.watchdogDone = make(chan error, 1)
	go func() { c.watchdogDone <- cmd.Wait() }()
	return nil
}

func (c *cluster) initdb() error {
	var out []byte
	var err error
	for _, locale := range []string{"C.UTF-8", "C"} {
		out, err = c.command(c.bin.initdb, "-D", c.data, "-U", "postgres", "--auth=trust",
			"-E", "UTF8", "--locale="+locale, "--no-sync").CombinedOutput()
		if err == nil {
			return nil
		}
		if !bytes.Contains(bytes.ToLower(out), []byte("locale")) {
			break
		}
		// initdb removes the data directory it created when it fails.
	}
	return fmt.Errorf("%s failed: %v\n%s", c.bin.initdb, err, tail(out, 20))
}

// start runs pg_ctl start on a free port. The port is free when chosen but
// another process may take it before the server binds it, so a bind failure
// is retried with another port.
func (c *cluster) start() error {
	logFile := filepath.Join(c.data, "server.log")
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s"+
			" -c fsync=off -c synchronous_commit=off -c full_page_writes=off", port, shellQuote(c.data))
		before := fileSize(logFile)
		out, err := c.command(c.bin.pgctl, "-D", c.data, "-l", logFile, "-o", opts, "-w", "-t", "60", "start").CombinedOutput()
		if err == nil {
			c.port = port
			return nil
		}
		logTail := readTail(logFile, before, 30)
		lastErr = fmt.Errorf("pg_ctl start (port %d) failed: %v\n%s\nserver log tail:\n%s",
			port, err, strings.TrimSpace(string(out)), logTail)
		if !strings.Contains(logTail, "could not bind") && !strings.Contains(logTail, "already in use") {
			break
		}
	}
	return lastErr
}

// stop closes the watchdog's pipe and waits for it to stop the server and
// remove the directory.
func (c *cluster) stop() error {
	c.release.Close()
	select {
	case err := <-c.watchdogDone:
		if err != nil {
			return fmt.Errorf("stopping the cluster in %s: pg_ctl stop or the removal failed (%v); "+
				"with its directory gone the server shuts itself down within about a minute", c.base, err)
		}
	case <-time.After(3 * time.Minute):
		return fmt.Errorf("the cluster in %s did not stop within 3 minutes; see %s/server.log", c.base, c.data)
	}
	if _, err := os.Stat(c.base); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cluster directory %s remains after stop", c.base)
	}
	return nil
}

// url is the maintenance database of the cluster.
func (c *cluster) url() *url.URL {
	return &url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// shellQuote quotes s for the shell that pg_ctl passes its -o options to.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// readTail returns the last n lines written to path after offset.
func readTail(path string, offset int64, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	if offset > 0 && offset <= int64(len(b)) {
		b = b[offset:]
	}
	return tail(b, n)
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
