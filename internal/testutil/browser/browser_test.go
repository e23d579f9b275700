package browser

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>browser helper test</title></head>
<body>
<button id="go" type="button">Go</button>
<p id="out">not clicked</p>
<script>
let clicks = 0;
document.getElementById("go").addEventListener("click", () => {
	clicks++;
	document.getElementById("out").textContent = "clicked " + clicks;
});
</script>
</body></html>`

func TestNewClickAndScreenshot(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	}))
	defer srv.Close()

	ctx := New(t)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	before, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("out")))
	if err != nil {
		t.Fatal(err)
	}
	if before != "not clicked" {
		t.Errorf("before the click #out = %q, want %q", before, "not clicked")
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("go"))); err != nil {
		t.Fatal(err)
	}
	after, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("out")))
	if err != nil {
		t.Fatal(err)
	}
	if after != "clicked 1" {
		t.Errorf("after the click #out = %q, want %q", after, "clicked 1")
	}

	dir := t.TempDir()
	t.Setenv(EnvArtifacts, dir)
	path := Screenshot(t, ctx, "after click")
	if got, want := filepath.Dir(path), dir; got != want {
		t.Errorf("screenshot written to %s, want in %s", got, want)
	}
	if !strings.HasSuffix(path, "TestNewClickAndScreenshot--after_click.png") {
		t.Errorf("screenshot path %s: want it to end in TestNewClickAndScreenshot--after_click.png", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if r := img.Bounds(); r.Dx() < 100 || r.Dy() < 100 {
		t.Errorf("screenshot is %dx%d, want a page-sized image", r.Dx(), r.Dy())
	}
}

func TestTabsShareOneBrowser(t *testing.T) {
	ctx := New(t)
	tab, cancel := chromedp.NewContext(ctx)
	defer cancel()
	sum, err := chromedp.Run(tab, chromedp.Evaluate[int](`20 + 22`))
	if err != nil {
		t.Fatal(err)
	}
	if sum != 42 {
		t.Errorf("20 + 22 = %d in a second tab", sum)
	}
}

func TestScreenshotDir(t *testing.T) {
	t.Setenv(EnvArtifacts, "")
	dir, err := ScreenshotDir()
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "test-output", "screenshots"); dir != want {
		t.Errorf("ScreenshotDir() = %s, want %s", dir, want)
	}

	t.Setenv(EnvArtifacts, "some/relative")
	dir, err = ScreenshotDir()
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(dir) || !strings.HasSuffix(dir, filepath.Join("some", "relative")) {
		t.Errorf("ScreenshotDir() with a relative %s = %s, want it made absolute", EnvArtifacts, dir)
	}
}

func TestFileName(t *testing.T) {
	for in, want := range map[string]string{
		"TestX/sub case#01": "TestX_sub_case_01",
		"list-view.v2":      "list-view.v2",
		"":                  "_",
		"../escape":         ".._escape",
	} {
		if got := fileName(in); got != want {
			t.Errorf("fileName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFindChromiumOverride(t *testing.T) {
	t.Setenv(EnvChromium, filepath.Join(t.TempDir(), "no-such-chromium"))
	if _, err := findChromium(); err == nil {
		t.Error("findChromium with a missing PATCHCTL_CHROMIUM: want an error")
	}
}
