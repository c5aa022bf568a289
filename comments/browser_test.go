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

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
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

// text is the innerText of the first element css matches, read in one
// evaluation: the widget re-renders its list when posts arrive, and a
// query that holds a node id between finding the node and reading it
// fails with "No node with given id found" if the node was replaced in
// between (seen once in CI, right after a submit).
func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	expr := fmt.Sprintf(`(() => {
		const e = document.querySelector(%q);
		if (!e) throw new Error("nothing matches " + %q);
		return e.innerText;
	})()`, css, css)
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("text of %s: %v", css, err)
	}
	return s
}

// TestTwoReaders: two browsers have the widget open; one, signed in through
// the site's single sign-on, replies to a guest's comment; the other sees
// the reply appear without a reload, nested under the comment it answers,
// saying whom it answers, at a time shown in the reader's own zone.
func TestTwoReaders(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		writer, reader := browser(t), browser(t)
		c := e.serve(t)
		th := e.thread(t, "live")
		first, err := e.svc.CreatePost(context.Background(), th.ID, NewPost{Author: "ada", Message: "Anyone here?"})
		if err != nil {
			t.Fatal(err)
		}
		const zone = "Pacific/Auckland"
		if _, err := chromedp.Run(reader, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone})
			return err
		})); err != nil {
			t.Fatalf("timezone override: %v", err)
		}
		base := fmt.Sprintf("%s/embed/%d?poll=500", c.base, th.ID)
		sso := signLogin(Login{ID: "g-7", Name: "grace"}, siteSecret)
		for ctx, url := range map[context.Context]string{reader: base, writer: base + "&sso=" + sso} {
			if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#posts .post"))); err != nil {
				t.Fatalf("load widget: %v", err)
			}
		}
		if _, err := chromedp.Run(writer, chromedp.Poll[bool](`!document.getElementById("signed-in").hidden`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("writer not signed in: %v; status %q", err, text(t, writer, "#status"))
		}
		err = chromedp.Do(writer,
			chromedp.Click(chromedp.CSS(fmt.Sprintf("#post-%d .reply-link", first.ID))),
			chromedp.SendKeys(chromedp.CSS("#message"), "Yes, grace here."),
			chromedp.Click(chromedp.CSS("#submit")),
		)
		if err != nil {
			t.Fatalf("writer's reply: %v", err)
		}
		_, err = chromedp.Run(reader, chromedp.Poll[bool](`document.querySelectorAll("#posts .post").length === 2`,
			chromedp.WithPollingTimeout(30*time.Second)))
		if err != nil {
			t.Fatalf("the reader never saw the reply without a reload: %v", err)
		}
		got, err := chromedp.Run(reader, chromedp.Evaluate[map[string]any](`(function () {
			var li = document.querySelectorAll("#posts .post")[1], a = li.querySelector(".parent a"), tm = li.querySelector("time");
			return {author: li.dataset.author, depth: li.dataset.depth, parent: a.textContent, href: a.getAttribute("href"),
				datetime: tm.getAttribute("datetime"), shown: tm.textContent, guest: !!document.querySelector("#posts .post .guest")};
		})()`))
		if err != nil {
			t.Fatalf("read the reply: %v", err)
		}
		created, err := time.Parse(time.RFC3339, fmt.Sprint(got["datetime"]))
		loc, lerr := time.LoadLocation(zone)
		if err != nil || lerr != nil {
			t.Fatalf("datetime %v: %v %v", got["datetime"], err, lerr)
		}
		wantHref := fmt.Sprintf("#post-%d", first.ID)
		if got["author"] != "grace" || got["depth"] != "1" || got["parent"] != "ada" || got["href"] != wantHref || got["guest"] != true {
			t.Errorf("reply as the reader sees it: got %v; want grace's, depth 1, in reply to ada (%s), ada marked guest", got, wantHref)
		}
		if local := created.In(loc).Format("3:04"); !strings.Contains(fmt.Sprint(got["shown"]), local) {
			t.Errorf("time shown: got %q; want the %s time %s", got["shown"], zone, local)
		}
		screenshot(t, reader)
	})
}
