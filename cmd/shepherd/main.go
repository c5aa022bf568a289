// Command shepherd is a memcached sidecar proxy: applications talk memcached to
// it on 127.0.0.1:11211 and it spreads their keys over pools of memcached nodes.
//
// Usage:
//
//	shepherd --config /etc/shepherd/shepherd.yaml
//	shepherd -c nutcracker.yml --listen 127.0.0.1:11211 --admin off
//	shepherd --test-config -c shepherd.yaml   # check, print resolved, exit
//
// SIGINT and SIGTERM drain: shepherd stops accepting, finishes in-flight
// requests and exits. SIGHUP, and any change to the config file, reloads
// the config (see reload.go); an invalid one is logged and the running one
// kept. See config.go for the settings and their precedence.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/shepherd-proxy/shepherd/proxy"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit: 0 on a clean stop, 2 on bad usage or
// config, 1 when serving fails.
func run(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "shepherd: %v\n", err)
		return 2
	}
	if v, _ := fs.GetBool("version"); v {
		fmt.Fprintln(stdout, versionLine())
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "shepherd: unexpected arguments %q; the config file goes after --config\n", fs.Args())
		return 2
	}
	s, err := loadSettings(fs)
	if err != nil {
		fmt.Fprintf(stderr, "shepherd: %v\n", err)
		return 2
	}
	if t, _ := fs.GetBool("test-config"); t {
		printConfig(stdout, s)
		for _, note := range s.Notes {
			fmt.Fprintf(stderr, "shepherd: note: %s\n", note)
		}
		return 0
	}
	level := new(slog.LevelVar)
	level.Set(s.LogLevel)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	r := &reloader{load: func() (*settings, error) { return loadSettings(fs) }, level: level, log: logger, hup: hup}
	if err := serve(ctx, s, logger, r); err != nil {
		logger.Error("shepherd stopped", "err", err)
		return 1
	}
	return 0
}

// serve runs the proxy until ctx is done and it has drained; r, unless
// nil, reloads its config meanwhile.
func serve(ctx context.Context, s *settings, logger *slog.Logger, r *reloader) error {
	s.Config.Logger = logger
	srv, err := proxy.New(s.Config)
	if err != nil {
		return err
	}
	logStart(logger, s)
	stopReloads := r.start(ctx, srv, s.File)
	defer stopReloads()
	if err := srv.ListenAndServe(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	logger.Info("shepherd stopped", "reason", context.Cause(ctx))
	return nil
}

// logStart writes one line for the daemon and one per pool.
func logStart(logger *slog.Logger, s *settings) {
	cfg := s.Config
	nodes := 0
	for _, p := range cfg.Pools {
		nodes += len(p.Servers)
	}
	admin := cfg.Admin
	if admin == "" {
		admin = "off"
	}
	logger.Info("shepherd starting",
		"version", proxy.Version, "revision", proxy.Revision(), "config", s.File, "format", s.Format,
		"listen", cfg.Listen, "admin", admin,
		"pools", len(cfg.Pools), "nodes", nodes, "default_pool", cfg.DefaultPool)
	for _, name := range s.Order {
		p := cfg.Pools[name]
		logger.Info("pool",
			"name", name, "nodes", len(p.Servers), "listen", orDefault(p.Listen, "(main listener)"),
			"distribution", p.Ring.Distribution, "hash", p.Ring.Hash,
			"timeout", p.Timeout, "connect_timeout", p.ConnectTimeout, "connections", p.Connections,
			"on_eject", p.OnEject)
	}
	for _, r := range cfg.Routes {
		logger.Info("route", "prefix", r.Prefix, "pool", r.Pool)
	}
	if h := cfg.Herd; h != nil {
		logger.Info("herd", "rules", len(h.Rules), "default_rule", h.Default != nil)
	}
	for _, note := range s.Notes {
		logger.Warn(note)
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// versionLine is what --version prints: shepherd's version (set once at
// build time, see proxy.Version), the Go release and the VCS revision.
func versionLine() string {
	line := "shepherd " + proxy.Version + " " + proxy.GoVersion()
	if rev := proxy.Revision(); rev != "" {
		line += " " + rev
	}
	return line
}
