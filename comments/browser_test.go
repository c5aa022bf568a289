// Browser test: the widget page in headless Chromium shows the posts, and a
// reply typed into its form appears after submit.

package comments

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds the browser or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("chromium not installed: apt-get install chromium chromium-driver (CI installs it)")
	return ""
}

// browser starts a headless Chromium with a fresh profile, stopped at cleanup.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(720, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

func TestWidgetInChromium(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := browser(t)
		c := e.serve(t)
		th := e.thread(t, "widget")
		for i, who := range []string{"ada", "grace", "linus"} {
			e.svc.CreatePost(context.Background(), th.ID, NewPost{Author: who, Message: fmt.Sprintf("Comment number %d from %s.", i+1, who)})
		}
		url := fmt.Sprintf("%s/embed/%d", c.base, th.ID)
		if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#posts .post"))); err != nil {
			t.Fatalf("load widget: %v", err)
		}
		shown := evalInt(t, ctx, `document.querySelectorAll("#posts .post").length`)
		first := text(t, ctx, "#posts .post .message")
		if shown != 3 || first != "Comment number 3 from linus." {
			t.Fatalf("widget shows %d posts, newest %q; want 3, linus's", shown, first)
		}
		const msg = "Typed in Chromium, line one.\nAnd line two."
		err := chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.CSS("#author"), "zoe"),
			chromedp.SendKeys(chromedp.CSS("#message"), msg),
			chromedp.Click(chromedp.CSS("#submit")),
		)
		if err != nil {
			t.Fatalf("submit reply: %v", err)
		}
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll("#posts .post").length === 4`,
			chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil {
			t.Fatalf("reply did not appear: %v; status line %q", err, text(t, ctx, "#status"))
		}
		if now := text(t, ctx, "#posts .post .message"); strings.TrimSpace(now) != msg {
			t.Errorf("newest post after submit: got %q; want %q", now, msg)
		}
		screenshot(t, ctx)
	})
}

// screenshot saves the page to $SHEPHERD_SCREENSHOT_DIR when it is set.
func screenshot(t *testing.T, ctx context.Context) {
	dir := os.Getenv("SHEPHERD_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", path)
}

func evalInt(t *testing.T, ctx context.Context, expr string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return n
}

func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("text of %s: %v", css, err)
	}
	return s
}
