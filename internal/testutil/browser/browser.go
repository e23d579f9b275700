// Package browser starts headless Chromium for UI tests and saves
// screenshots of what they saw.
//
// New(t) launches a fresh Chromium (Debian's chromium package, or the
// program named by PATCHCTL_CHROMIUM) with an empty profile in t.TempDir(),
// and returns a github.com/chromedp/chromedp context for one tab in it. The
// browser is closed, and waited for, in t.Cleanup. When Chromium is not
// installed the test skips; under CI=true it fails instead.
//
// Screenshot(t, ctx, name) saves a full-page PNG of the tab to
// $PATCHCTL_ARTIFACTS, or to <repository>/test-output/screenshots when that
// is unset.
//
// The flags are chromedp's defaults plus those this machine needs: as root
// Chromium only runs with --no-sandbox; with no GPU it needs --disable-gpu;
// and on a network that refuses outside connections it must not phone home
// (--disable-background-networking, --disable-component-update,
// --disable-sync, --disable-quic), or it keeps retrying in the background.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvChromium names the environment variable that overrides the Chromium
// executable.
const EnvChromium = "PATCHCTL_CHROMIUM"

// EnvArtifacts names the environment variable of the directory that
// Screenshot writes to.
const EnvArtifacts = "PATCHCTL_ARTIFACTS"

const unavailableMsg = "Chromium not available: install Debian's chromium package " +
	"(apt-get install --no-install-recommends chromium) or set " + EnvChromium + " to its path"

// closeTimeout bounds the graceful close of the browser at cleanup; after it
// the process is killed.
const closeTimeout = 10 * time.Second

// New starts a headless Chromium with a fresh profile and returns a chromedp
// context bound to its first tab:
//
//	ctx := browser.New(t)
//	err := chromedp.Do(ctx, chromedp.Navigate(srv.URL), chromedp.Click(chromedp.ID("save")))
//
// The browser is already running when New returns, so a launch failure
// fails here, not in the first action. The context has no deadline: bound
// waits with context.WithTimeout(ctx, …) so that a missing element fails the
// test instead of hanging it. Child contexts made with chromedp.NewContext
// open more tabs in the same browser.
func New(t testing.TB) context.Context {
	t.Helper()
	path, err := findChromium()
	if err != nil {
		if os.Getenv(EnvChromium) != "" {
			t.Fatalf("browser: %v", err)
		}
		msg := unavailableMsg + "\n" + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "\n(CI=true: Chromium is required)")
		}
		t.Skip(msg)
	}

	// Registered before the cleanup below, so it runs after the browser has
	// exited and stopped writing to its profile.
	profile := t.TempDir()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		// Close the browser gracefully so that it ends its helper processes,
		// then cancel both contexts; cancelAlloc waits for the process to exit.
		cctx, cancel := context.WithTimeout(ctx, closeTimeout)
		err := chromedp.Cancel(cctx)
		cancel()
		cancelTab()
		cancelAlloc()
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Logf("browser: closing chromium: %v", err)
		}
	})

	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browser: start %s: %v", path, err)
	}
	t.Logf("browser: started %s in %s", path, time.Since(start).Round(time.Millisecond))
	return ctx
}

// findChromium returns the Chromium to run: $PATCHCTL_CHROMIUM, else
// /usr/bin/chromium, chromium or chromium-browser in PATH.
func findChromium() (string, error) {
	if p := os.Getenv(EnvChromium); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%s=%s: not an executable: %w", EnvChromium, p, err)
		}
		return found, nil
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("none of /usr/bin/chromium, chromium, chromium-browser found in PATH")
}

// Screenshot saves a full-page PNG of the tab in ctx as
// <dir>/<test name>--<name>.png, where dir is ScreenshotDir, logs the path and
// returns it. It fails the test if the page cannot be captured or written.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 means PNG
	if err != nil {
		t.Fatalf("browser: screenshot %q: %v", name, err)
	}
	dir, err := ScreenshotDir()
	if err != nil {
		t.Fatalf("browser: screenshot %q: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browser: screenshot %q: %v", name, err)
	}
	path := filepath.Join(dir, fileName(t.Name())+"--"+fileName(strings.TrimSuffix(name, ".png"))+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("browser: screenshot %q: %v", name, err)
	}
	t.Logf("browser: screenshot %s", path)
	return path
}

// ScreenshotDir returns $PATCHCTL_ARTIFACTS when set, else
// test-output/screenshots in the repository (the directory holding go.mod,
// found from the working directory, which go test sets to the package's).
func ScreenshotDir() (string, error) {
	if dir := os.Getenv(EnvArtifacts); dir != "" {
		return filepath.Abs(dir)
	}
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("set %s, or run inside the repository: %w", EnvArtifacts, err)
	}
	return filepath.Join(root, "test-output", "screenshots"), nil
}

// repoRoot finds the nearest directory at or above the working directory
// that has a go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod at or above %s", dir)
		}
		d = parent
	}
}

// fileName turns a test or screenshot name into a portable file name.
func fileName(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}
