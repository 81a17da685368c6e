package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser starts a headless Chromium for a browser test (Debian's
// /usr/bin/chromium, or $MIKROBILL_CHROMIUM) and returns its context,
// bounded by timeout; the browser's process ends at the test's cleanup.
// With CI set, a missing Chromium fails the test; otherwise it skips.
func Browser(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	path := os.Getenv("MIKROBILL_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no Chromium at %s: the browser tests need it in CI (apt-get install -y chromium; .ci/run installs it)", path)
		}
		t.Skipf("no Chromium at %s; install it (apt-get install -y chromium) to run the browser tests", path)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first call starts the browser, for as long as ctx lives; the
	// timeout goes on the context derived after it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium at %s: %v", path, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancel)
	return ctx
}

// BrowserDo runs one browser action, failing the test with what it was.
func BrowserDo(t testing.TB, ctx context.Context, what string, a chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, a); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// BrowserClick clicks the first element matching the CSS selector sel,
// failing the test with what it was.
//
// A click is two steps in the browser: find the node, then ask for its box
// and dispatch the mouse events by node id. When a page replaces that node
// in between (htmx swapping a polled region, a redirect finishing after
// the element appeared), Chromium answers "Could not find node with given
// id" and no mouse event was sent, so the click is tried again on the node
// that replaced it, for up to 10 seconds. Any other error fails at once.
func BrowserClick(t testing.TB, ctx context.Context, what, sel string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel)))
		if err == nil {
			return
		}
		if !nodeReplaced(err) || time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nodeReplaced reports whether err is Chromium saying that a node id it
// handed out no longer names a node in the document.
func nodeReplaced(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Could not find node with given id") || strings.Contains(msg, "No node with given id found")
}

// BrowserValue runs one browser action that returns a value, failing the
// test with what it was.
func BrowserValue[T any](t testing.TB, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// BrowserScreenshot saves the whole page as name.png in
// $MIKROBILL_TEST_SCREENSHOTS, or in the test's temporary folder when it
// is not set.
func BrowserScreenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("MIKROBILL_TEST_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png := BrowserValue(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
