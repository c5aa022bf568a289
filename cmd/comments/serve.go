// serve: the HTTP service, its cache client, graceful shutdown.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/shepherd-proxy/shepherd/comments"
)

// shutdownTimeout bounds how long serve waits for in-flight requests.
const shutdownTimeout = 5 * time.Second

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "HTTP listen address")
	dsn := fs.String("db", defaultDB, "database: sqlite:PATH or postgres://...")
	mc := fs.String("memcache", "127.0.0.1:11211", `memcached or shepherd address; "off" for no cache`)
	pageSize := fs.Int("page-size", comments.DefaultPageSize, "posts per thread page")
	herdFills := fs.Bool("herd-fills", false, "shepherd has herd rules for thread: keys; let it guard fills (no client-side leases)")
	ssoFile := fs.String("sso-secrets", "", `file of "forum-slug secret" lines: each site's single sign-on secret (also $COMMENTS_SSO_SECRETS)`)
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	keys, err := loadKeys(*ssoFile)
	if err != nil {
		return err
	}
	log := newLogger(stderr)
	st, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	cache := newCache(log, *mc)
	defer cache.Close()
	svc, err := comments.New(comments.Options{Store: st, Cache: cache, PageSize: *pageSize, HerdFills: *herdFills, Logger: log, Keys: keys})
	if err != nil {
		return err
	}
	defer svc.Close()
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("comments serving", "http", l.Addr().String(), "db", st.String(), "memcache", *mc, "sso_sites", len(keys.Sites))
	fmt.Fprintf(stdout, "comments: listening on http://%s (widget: /embed/{thread})\n", l.Addr())
	return serveHTTP(ctx, l, svc.Handler())
}

// loadKeys reads the sites' single sign-on secrets from file (if named)
// and $COMMENTS_SSO_SECRETS, and the session key from
// $COMMENTS_SESSION_KEY (unset: random, so sessions end with the process
// and are not shared between instances).
func loadKeys(file string) (*comments.Keys, error) {
	text := os.Getenv("COMMENTS_SSO_SECRETS")
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("sso secrets: %w", err)
		}
		text += "\n" + string(b)
	}
	sites, err := comments.ParseSiteSecrets(text)
	if err != nil {
		return nil, err
	}
	keys := &comments.Keys{Sites: sites}
	if k := os.Getenv("COMMENTS_SESSION_KEY"); k != "" {
		keys.Session = []byte(k)
	}
	return keys, nil
}

// newCache is the client for addr; nil (no cache) for "off" or "".
func newCache(log *slog.Logger, addr string) *comments.Cache {
	if addr == "off" || addr == "" {
		return nil
	}
	return comments.NewCache(log, addr)
}

// serveHTTP serves until ctx ends, then drains for up to shutdownTimeout.
func serveHTTP(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
