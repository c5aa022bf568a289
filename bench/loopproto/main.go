// Command loopproto is a prototype memcached text-protocol proxy (get,
// gets, set, version; multi-gets split across nodes and merged) in three
// data-path designs, built to measure them against each other and against
// twemproxy before shepherd commits to one (issue #11):
//
//	goroutine  goroutine per connection, shepherd's design today (goroutine.go)
//	epoll      an epoll loop per core on golang.org/x/sys/unix (epoll.go)
//	uring      the epoll loop with each turn's writes and the next wait
//	           in one io_uring_enter (epoll.go, internal/uring)
//	uring-ew   uring waiting with IORING_OP_EPOLL_WAIT (Linux 6.15)
//	gnet       an event loop per core on github.com/panjf2000/gnet/v2 (gnet.go)
//
// Keys go to nodes by FNV-1a modulo the node count. It is a measuring
// tool, not a product: no timeouts, no failover, no noreply.
//
// Usage:
//
//	loopproto -design epoll -listen 127.0.0.1:22122 -nodes 127.0.0.1:11211,127.0.0.1:11212
//
// It runs until SIGINT or SIGTERM. bench/loopproto/run.sh (make loopproto)
// measures the designs with herdbench.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
)

// A loop blocked in epoll_wait holds its P in the syscall state. When no
// P is idle, the runtime's sysmon thread takes such Ps back after 20µs and
// keeps polling every 20µs, which shows as context switches of the proxy:
// with 2 loops on GOMAXPROCS 2, 1.36 per request at 8 connections and 2.05
// for a 10-key multi-get, against 1.16 and 1.46 with one P to spare
// (herdbench, same run; see README). So the loop designs run with
// GOMAXPROCS = loops+1 by default (-spare-p).

// server is one running design.
type server interface {
	Addr() string
	Close() error
}

// designs starts each design: listen address, nodes, and its parallelism
// (event loops, or backend connections per node for goroutine).
var designs = map[string]func(listen string, nodes []string, n int) (server, error){
	"goroutine": startGoroutine,
	"epoll":     startEpoll,
	"uring":     startUring,
	"uring-ew":  startUringEW,
	"gnet":      startGnet,
}

func main() {
	design := flag.String("design", "epoll", "goroutine, epoll, uring, uring-ew or gnet")
	listen := flag.String("listen", "127.0.0.1:22122", "`host:port` to listen on (port not 0)")
	nodes := flag.String("nodes", "", "comma-separated memcached `addresses`")
	loops := flag.Int("loops", runtime.NumCPU(), "epoll, gnet: event loops (each with one connection per node)")
	conns := flag.Int("conns", 2, "goroutine: connections per node (shepherd's default is 2)")
	spare := flag.Bool("spare-p", true, "epoll, gnet: GOMAXPROCS = loops+1 unless GOMAXPROCS is set (see sparePs)")
	flag.Parse()
	if *spare && *design != "goroutine" && os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(*loops + 1)
	}
	if err := run(*design, *listen, *nodes, *loops, *conns); err != nil {
		fmt.Fprintln(os.Stderr, "loopproto:", err)
		os.Exit(1)
	}
}

func run(design, listen, nodeList string, loops, conns int) error {
	start, ok := designs[design]
	if !ok {
		return fmt.Errorf("-design %q: want goroutine, epoll, uring, uring-ew or gnet", design)
	}
	nodes := strings.Split(nodeList, ",")
	if nodeList == "" || len(nodes) > 256 {
		return fmt.Errorf("-nodes: want 1 to 256 addresses")
	}
	n := loops
	if design == "goroutine" {
		n = conns
	}
	if n < 1 {
		return fmt.Errorf("-loops and -conns must be at least 1")
	}
	s, err := start(listen, nodes, n)
	if err != nil {
		return err
	}
	log.Printf("loopproto: %s design on %s, %d nodes", design, s.Addr(), len(nodes))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
	return s.Close()
}
