// Reload: on SIGHUP and when the config file changes, shepherd reads its
// config again (file, environment and flags, as at start) and applies it
// to the running server. An invalid config is logged and the running one
// kept.

package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/shepherd-proxy/shepherd/proxy"
)

// reloadDebounce is how long the config file must stay quiet before a
// change to it is applied: editors save a file in several steps.
const reloadDebounce = 200 * time.Millisecond

// reloader applies config changes to a running server.
type reloader struct {
	load  func() (*settings, error) // reads the config as at start
	level *slog.LevelVar            // the logger's level, which log_level sets
	log   *slog.Logger
	hup   <-chan os.Signal
}

// start runs r for srv until the returned stop is called; stop waits for
// a reload in progress. A nil r does nothing.
func (r *reloader) start(ctx context.Context, srv *proxy.Server, file string) (stop func()) {
	if r == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.run(ctx, srv, file)
	}()
	return func() { cancel(); <-done }
}

// run reloads srv on SIGHUP and, a moment after the last change, when file
// changes, until ctx is done.
func (r *reloader) run(ctx context.Context, srv *proxy.Server, file string) {
	fw, err := watchFile(file)
	if err != nil {
		r.log.Warn("not watching the config file for changes; reload with SIGHUP", "file", file, "err", err)
	}
	defer fw.close()
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.hup:
			r.reload(srv, "SIGHUP")
		case <-fw.changes():
			quiet.Reset(reloadDebounce)
		case <-quiet.C:
			r.reload(srv, "file changed")
		}
	}
}

// reload reads the config and applies it, or logs why it cannot.
func (r *reloader) reload(srv *proxy.Server, trigger string) {
	r.log.Info("reloading config", "trigger", trigger)
	s, err := r.load()
	if err == nil {
		s.Config.Logger = r.log
		err = srv.Reload(s.Config)
	}
	srv.CountReload(err)
	switch {
	case errors.Is(err, proxy.ErrClosed): // shutting down
	case err != nil:
		r.log.Error("config reload failed; the running config stays in force", "trigger", trigger, "err", err)
	default:
		r.level.Set(s.LogLevel)
	}
}

// fileWatch reports changes to one file. It watches the file's directory,
// not the file, so that it sees the file replaced (editors save by
// renaming a new file over the old) and, through a symlink, swapped
// (Kubernetes updates a mounted ConfigMap so).
type fileWatch struct {
	w      *fsnotify.Watcher
	file   string // absolute
	target string // file with symlinks resolved, when last looked at
	ch     chan struct{}
}

func watchFile(file string) (*fileWatch, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := w.Add(filepath.Dir(abs)); err != nil {
		w.Close()
		return nil, err
	}
	fw := &fileWatch{w: w, file: abs, ch: make(chan struct{}, 1)}
	fw.target, _ = filepath.EvalSymlinks(abs)
	go fw.filter()
	return fw, nil
}

// changes returns a channel that receives after the file changed; nil (a
// channel that never receives) when nothing is watched.
func (fw *fileWatch) changes() <-chan struct{} {
	if fw == nil {
		return nil
	}
	return fw.ch
}

func (fw *fileWatch) close() {
	if fw != nil {
		fw.w.Close()
	}
}

// filter turns the directory's events into changes of the file. It ends
// when the watcher is closed.
func (fw *fileWatch) filter() {
	for {
		select {
		case ev, ok := <-fw.w.Events:
			if !ok {
				return
			}
			if fw.touches(ev) {
				fw.signal()
			}
		case _, ok := <-fw.w.Errors:
			if !ok {
				return
			}
			fw.signal() // events were lost (a queue overflow): look again
		}
	}
}

func (fw *fileWatch) signal() {
	select {
	case fw.ch <- struct{}{}:
	default: // one pending change says it all
	}
}

// touches reports whether ev may have changed the file's contents.
func (fw *fileWatch) touches(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	if filepath.Clean(ev.Name) == fw.file {
		return true
	}
	target, _ := filepath.EvalSymlinks(fw.file)
	if target == fw.target {
		return false
	}
	fw.target = target
	return true
}
