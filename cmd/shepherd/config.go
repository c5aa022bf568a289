// Config: flags, SHEPHERD_* environment and a config file (shepherd's YAML or
// a twemproxy nutcracker.yml) become one validated proxy.Config.
//
// Precedence, highest first: flags, environment, file, defaults. The
// overridable settings are the file's top-level scalars:
//
//	key              flag          environment
//	listen           --listen      SHEPHERD_LISTEN
//	admin            --admin       SHEPHERD_ADMIN ("" or "off" disables)
//	log_level        --log-level   SHEPHERD_LOG_LEVEL
//	max_connections                SHEPHERD_MAX_CONNECTIONS
//	max_item_size                  SHEPHERD_MAX_ITEM_SIZE
//	default_pool                   SHEPHERD_DEFAULT_POOL
//	spool_dir                      SHEPHERD_SPOOL_DIR
//	spool_limit                    SHEPHERD_SPOOL_LIMIT
//	client_idle_timeout            SHEPHERD_CLIENT_IDLE_TIMEOUT (0: off)
//	event_loops                    SHEPHERD_EVENT_LOOPS (1 to 64; -1: none)
//	event_loop_io_uring            SHEPHERD_EVENT_LOOP_IO_URING (true, false)
//	socket_mode                    SHEPHERD_SOCKET_MODE (octal, 0660)
//	socket_owner                   SHEPHERD_SOCKET_OWNER
//	socket_group                   SHEPHERD_SOCKET_GROUP
//	allow_unauthenticated_remote   SHEPHERD_ALLOW_UNAUTHENTICATED_REMOTE
//	(the file)       --config, -c  SHEPHERD_CONFIG
//
// Pools, routes, herd rules and client_tls come from the file only.

package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cast"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/shepherd-proxy/shepherd/proxy"
)

// DefaultAdmin is where /metrics and /healthz listen unless told otherwise.
const DefaultAdmin = "127.0.0.1:9150"

// settings is everything main needs to run.
type settings struct {
	Config   *proxy.Config // validated
	LogLevel slog.Level
	File     string   // the config file read
	Format   string   // "shepherd" or "twemproxy"
	Order    []string // pool names in file order
	Notes    []string // keys accepted but not acted on, to log once at start
}

// newFlagSet defines shepherd's command line; usage goes to w.
func newFlagSet(w io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet("shepherd", pflag.ContinueOnError)
	fs.SetOutput(w)
	fs.StringP("config", "c", "", "config `file`: shepherd YAML or a twemproxy nutcracker.yml (env SHEPHERD_CONFIG)")
	fs.String("listen", "", "client listener, host:port or unix:/path (env SHEPHERD_LISTEN; default 127.0.0.1:11211)")
	fs.String("admin", "", "admin listener for /metrics and /healthz, \"off\" disables (env SHEPHERD_ADMIN; default "+DefaultAdmin+")")
	fs.String("log-level", "", "debug, info, warn or error (env SHEPHERD_LOG_LEVEL; default info)")
	fs.Bool("version", false, "print the version and exit")
	fs.BoolP("test-config", "t", false, "check the config, print it with its defaults and each node's share of the ring, and exit (non-zero when invalid)")
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: shepherd --config FILE [flags]\n\nshepherd is a memcached sidecar proxy.\n\n%s", fs.FlagUsages())
	}
	return fs
}

// loadSettings reads the file named by --config or SHEPHERD_CONFIG, layers
// environment and flags over it, and validates the result once.
func loadSettings(fs *pflag.FlagSet) (*settings, error) {
	v := newViper(fs)
	path := v.GetString("config")
	if path == "" {
		return nil, fmt.Errorf("no config file: pass --config FILE or set SHEPHERD_CONFIG")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	fc, err := parseFile(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := v.MergeConfigMap(fc.scalars); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	s, err := build(v, fc)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	s.File = path
	return s, nil
}

// newViper binds the overridable settings to SHEPHERD_* and to the flags.
func newViper(fs *pflag.FlagSet) *viper.Viper {
	v := viper.New()
	v.SetEnvPrefix("SHEPHERD")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AllowEmptyEnv(true) // SHEPHERD_ADMIN= disables the admin listener
	v.AutomaticEnv()
	v.SetDefault("admin", DefaultAdmin)
	v.SetDefault("log_level", "info")
	for key, flag := range map[string]string{"config": "config", "listen": "listen", "admin": "admin", "log_level": "log-level"} {
		if f := fs.Lookup(flag); f != nil {
			v.BindPFlag(key, f) // only errors on a nil flag
		}
	}
	return v
}

// build assembles and validates the proxy config.
func build(v *viper.Viper, fc *fileConfig) (*settings, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(v.GetString("log_level"))); err != nil {
		return nil, fmt.Errorf("log_level: %q is not debug, info, warn or error", v.GetString("log_level"))
	}
	maxConns, err := intSetting(v, "max_connections")
	if err != nil {
		return nil, err
	}
	maxItem, err := intSetting(v, "max_item_size")
	if err != nil {
		return nil, err
	}
	spoolLimit, err := intSetting(v, "spool_limit")
	if err != nil {
		return nil, err
	}
	admin := v.GetString("admin")
	if admin == "off" {
		admin = ""
	}
	cfg := &proxy.Config{
		Listen:         v.GetString("listen"),
		Admin:          admin,
		MaxConnections: maxConns,
		MaxItemSize:    maxItem,
		Pools:          fc.pools,
		Routes:         fc.routes,
		DefaultPool:    v.GetString("default_pool"),
		SpoolDir:       v.GetString("spool_dir"),
		SpoolLimit:     spoolLimit,
		Herd:           fc.herd,
		ClientTLS:      fc.clientTLS,
	}
	if cfg.ClientIdleTimeout, err = durationSetting(v, "client_idle_timeout"); err != nil {
		return nil, err
	}
	if cfg.EventLoops, err = loopsSetting(v); err != nil {
		return nil, err
	}
	if err := listenSettings(v, cfg); err != nil {
		return nil, err
	}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := distinctListeners(cfg); err != nil {
		return nil, err
	}
	return &settings{Config: cfg, LogLevel: level, Format: fc.format, Order: fc.order, Notes: fc.notes}, nil
}

// intSetting reads a whole number ≥ 1 that may come from the environment
// as text; 0 (unset) means the default. The file's own zeros were refused,
// with their line, when it was parsed.
func intSetting(v *viper.Viper, key string) (int, error) {
	raw := v.Get(key)
	if raw == nil {
		return 0, nil
	}
	n, err := cast.ToIntE(raw)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s: %q is not a whole number ≥ 1 (env SHEPHERD_%s; leave it unset for the default)", key, fmt.Sprint(raw), strings.ToUpper(key))
	}
	return n, nil
}

// durationSetting reads a duration ≥ 0 ("30s") that may come from the
// environment as text.
func durationSetting(v *viper.Viper, key string) (time.Duration, error) {
	raw := v.Get(key)
	if raw == nil {
		return 0, nil
	}
	d, err := cast.ToDurationE(raw)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s: %q is not a duration ≥ 0 such as 30s (env SHEPHERD_%s)", key, fmt.Sprint(raw), strings.ToUpper(key))
	}
	return d, nil
}

// loopsSetting reads event_loops, which may come from the environment as
// text; 0 (unset) means the default.
func loopsSetting(v *viper.Viper) (int, error) {
	raw := v.Get("event_loops")
	if raw == nil {
		return 0, nil
	}
	n, err := cast.ToIntE(raw)
	if err != nil || !validLoops(n) {
		return 0, fmt.Errorf("event_loops: %q: want 1 to 64 event loops, or -1 for none (env SHEPHERD_EVENT_LOOPS)", fmt.Sprint(raw))
	}
	return n, nil
}

// listenSettings reads the unix socket settings, event_loop_io_uring and
// allow_unauthenticated_remote, which may come from the environment as text.
func listenSettings(v *viper.Viper, cfg *proxy.Config) error {
	mode, err := parseMode(v.GetString("socket_mode"))
	if err != nil {
		return err
	}
	cfg.Socket = proxy.SocketConfig{Mode: mode, Owner: v.GetString("socket_owner"), Group: v.GetString("socket_group")}
	if raw := v.Get("event_loop_io_uring"); raw != nil {
		on, err := cast.ToBoolE(raw)
		if err != nil {
			return fmt.Errorf("event_loop_io_uring: %q is not true or false (env SHEPHERD_EVENT_LOOP_IO_URING)", fmt.Sprint(raw))
		}
		cfg.NoLoopIOURing = !on
	}
	if raw := v.Get("allow_unauthenticated_remote"); raw != nil {
		allow, err := cast.ToBoolE(raw)
		if err != nil {
			return fmt.Errorf("allow_unauthenticated_remote: %q is not true or false (env SHEPHERD_ALLOW_UNAUTHENTICATED_REMOTE)", fmt.Sprint(raw))
		}
		cfg.AllowUnauthenticatedRemote = allow
	}
	return nil
}

// distinctListeners rejects two listeners on one address, which would fail
// only later, at bind time, with a less helpful error.
func distinctListeners(cfg *proxy.Config) error {
	owner := map[string]string{cfg.Listen: "listen"}
	if cfg.Admin != "" {
		if other, dup := owner[cfg.Admin]; dup {
			return fmt.Errorf("admin %s is also %s", cfg.Admin, other)
		}
		owner[cfg.Admin] = "admin"
	}
	for name, p := range cfg.Pools {
		if p.Listen == "" {
			continue
		}
		if other, dup := owner[p.Listen]; dup {
			return fmt.Errorf("pool %q: listen %s is also %s", name, p.Listen, other)
		}
		owner[p.Listen] = fmt.Sprintf("pool %q's listen", name)
	}
	return nil
}
