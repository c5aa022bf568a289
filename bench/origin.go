// Origin: the counting "database" the herd scenario serves over HTTP on
// loopback; clients that miss refill from it, and so may shepherd itself.
package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// origin answers GET /fill?key=K&by=client|shepherd with a fresh value
// after delay, and remembers when each fill arrived. Safe for concurrent use.
type origin struct {
	Addr  string
	delay time.Duration
	srv   *http.Server

	mu    sync.Mutex // guards start, fills, n
	start time.Time
	fills []fill
	n     int64
}

type fill struct {
	at       time.Duration // since start, when the request arrived
	cause    time.Duration // when the miss that asked for it was served (client fills), else at
	byClient bool
}

// startOrigin serves on a free loopback port until close.
func startOrigin(delay time.Duration) (*origin, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	o := &origin{Addr: l.Addr().String(), delay: delay, start: time.Now()}
	o.srv = &http.Server{Handler: http.HandlerFunc(o.serveFill), ReadHeaderTimeout: 5 * time.Second}
	go o.srv.Serve(l)
	return o, nil
}

func (o *origin) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	o.srv.Shutdown(ctx)
}

// url is the template shepherd fills from ({key} is its placeholder).
func (o *origin) url() string { return "http://" + o.Addr + "/fill?key={key}&by=shepherd" }

// reset forgets past fills; times count from start.
func (o *origin) reset(start time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.start, o.fills = start, nil
}

func (o *origin) serveFill(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/fill" || r.URL.Query().Get("key") == "" {
		http.NotFound(w, r)
		return
	}
	f := o.arrived(r.URL.Query())
	select {
	case <-time.After(o.delay):
	case <-r.Context().Done():
		return
	}
	o.mu.Lock()
	o.n++
	n := o.n
	o.fills = append(o.fills, f)
	o.mu.Unlock()
	fmt.Fprintf(w, "value-%d", n)
}

// arrived describes a fill request arriving now with query q.
func (o *origin) arrived(q url.Values) fill {
	o.mu.Lock()
	at := time.Since(o.start)
	o.mu.Unlock()
	f := fill{at: at, cause: at, byClient: q.Get("by") != "shepherd"}
	if ns, err := strconv.ParseInt(q.Get("miss_ns"), 10, 64); err == nil && ns >= 0 && ns <= int64(at) {
		f.cause = time.Duration(ns)
	}
	return f
}

// taken returns a copy of the fills so far.
func (o *origin) taken() []fill {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]fill(nil), o.fills...)
}
