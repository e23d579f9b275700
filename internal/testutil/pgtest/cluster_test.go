//go:build unix

package pgtest

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHighestVersionDir(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9.6", "15", "16", "17", "common"} {
		bin := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		progs := []string{"initdb", "pg_ctl"}
		if v == "17" {
			progs = progs[:1] // incomplete installation: no pg_ctl
		}
		for _, p := range progs {
			if err := os.WriteFile(filepath.Join(bin, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := highestVersionDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(filepath.Join(root, "16", "bin"), got); diff != "" {
		t.Errorf("highestVersionDir (-want +got):\n%s", diff)
	}
	if _, err := highestVersionDir(filepath.Join(root, "missing")); err == nil {
		t.Error("highestVersionDir of a missing directory: want an error")
	}
}

// crashChildEnv makes the test binary, re-run by TestClusterStopsAfterCrash,
// act as a test binary that starts a cluster and is then killed.
const crashChildEnv = "PGTEST_CRASH_CHILD"

func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) != "1" {
		t.Skip("helper for TestClusterStopsAfterCrash")
	}
	New(t)
	mu.Lock()
	c := running
	mu.Unlock()
	fmt.Printf("cluster base=%s port=%d\n", c.base, c.port)
	os.Stdout.Sync()
	// SIGKILL: no Cleanup, no Main, no deferred code runs.
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// TestClusterStopsAfterCrash runs this test binary again as a child that
// starts a cluster and kills itself with SIGKILL, then checks that the
// watchdog stopped the server and removed its directory.
func TestClusterStopsAfterCrash(t *testing.T) {
	if os.Getenv(EnvURL) != "" {
		t.Skip("uses an external server; no cluster to watch")
	}
	if testing.Short() {
		t.Skip("starts a second cluster")
	}
	server(t) // skip here, not in the child, when PostgreSQL is unavailable

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1")
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: want death by SIGKILL, got %v\n%s", err, out)
	}
	var base string
	var port int
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "cluster base="); ok {
			b, p, _ := strings.Cut(rest, " port=")
			base = b
			port, _ = strconv.Atoi(p)
		}
	}
	if base == "" || port == 0 {
		t.Fatalf("child did not report its cluster:\n%s", out)
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		_, statErr := os.Stat(base)
		gone := errors.Is(statErr, fs.ErrNotExist)
		conn, dialErr := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if dialErr == nil {
			conn.Close()
		}
		if gone && dialErr != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("60s after the child died: directory %s gone=%v, port %d still accepting=%v", base, gone, port, dialErr == nil)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
