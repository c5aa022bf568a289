package proxy_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
	"github.com/shepherd-proxy/shepherd/proxy"
)

// BenchmarkGetTLS: the cost of backend TLS per request in steady state.
// 32 clients (one outstanding 100-byte get each) against memcached
// direct and through shepherd over 3 nodes, each plain and TLS (shepherd's
// clients speak plain to it; its backend connections speak TLS). Beside
// ns/op it reports, per request: cpu-us/op of this process (the clients,
// plus shepherd when it is in the path: it runs in-process), mc-cpu-us/op
// of the memcached processes (nc-cpu-us/op: nutcracker's), ctxsw/op (this process's context switches)
// and rw-syscalls/op (its read and write system calls, /proc/self/io).
// nutcracker (plain: twemproxy has no TLS) is run for reference.
func BenchmarkGetTLS(b *testing.B) {
	p := newPKI(b)
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(p.a.CA)
	pool.AppendCertsFromPEM(pem)
	clientTLS := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	plain := mctest.StartN(b, 3)
	var secure []*mctest.Server
	for range 3 {
		secure = append(secure, startTLSNode(b, p.server, p.serverKey, ""))
	}
	targets := []struct {
		name string
		addr string
		tc   *tls.Config
	}{
		{"direct-plain", plain[0].Addr, nil},
		{"direct-tls", secure[0].Addr, clientTLS},
		{"shepherd-plain", startShepherd(b, plain, nil).addr, nil},
		{"shepherd-tls", startShepherd(b, secure, withTLS(&proxy.TLSConfig{CA: p.a.CA})).addr, nil},
		{"nutcracker-plain", mctest.Nutcracker(b, mctest.NutcrackerPool(plain, "ketama", "md5")), nil},
	}
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			c := dialBench(b, tg.addr, tg.tc)
			c.roundTrip(b, fmt.Sprintf("set bk 0 0 100\r\n%s\r\n", strings.Repeat("v", 100)), "STORED\r\n")
			b.SetParallelism(16) // 32 clients on 2 cores
			before := sampleCost()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := dialBench(b, tg.addr, tg.tc)
				for pb.Next() {
					c.roundTrip(b, "get bk\r\n", "END\r\n")
				}
			})
			b.StopTimer()
			sampleCost().since(before).report(b)
		})
	}
}

// BenchmarkTLSConnect: what a new backend connection costs: TCP connect,
// TLS handshake and one version round trip, with a full handshake each
// time and with the session resumed (tls.ClientSessionCache, as shepherd
// keeps one per pool), against memcached with ssl_session_cache.
func BenchmarkTLSConnect(b *testing.B) {
	p := newPKI(b)
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(p.a.CA)
	pool.AppendCertsFromPEM(pem)
	node := startTLSNode(b, p.server, p.serverKey, "", "-o", "ssl_session_cache")
	plainNode := mctest.Start(b)
	for _, mode := range []string{"plain", "full", "resumed"} {
		b.Run(mode, func(b *testing.B) {
			tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
			if mode == "resumed" {
				tc.ClientSessionCache = tls.NewLRUClientSessionCache(8)
			}
			addr := node.Addr
			if mode == "plain" {
				addr, tc = plainNode.Addr, nil
			}
			resumed := 0
			before := sampleCost()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c := dialBench(b, addr, tc)
				c.send("version\r\n")
				if _, err := c.br.ReadSlice('\n'); err != nil {
					b.Fatal(err)
				}
				if t, ok := c.nc.(*tls.Conn); ok && t.ConnectionState().DidResume {
					resumed++
				}
				c.nc.Close()
			}
			b.StopTimer()
			sampleCost().since(before).report(b)
			b.ReportMetric(float64(resumed)/float64(b.N), "resumed/op")
		})
	}
}

// dialBench opens a benchmark connection, TLS when tc is set.
func dialBench(b *testing.B, addr string, tc *tls.Config) *bconn {
	b.Helper()
	var nc net.Conn
	var err error
	if tc != nil {
		nc, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, tc)
	} else {
		nc, err = net.DialTimeout("tcp", addr, 5*time.Second)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	return &bconn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}
}

// cost is a sample of this process's and its children's resource use.
type cost struct {
	at       time.Time
	cpu      time.Duration // this process, user + system
	mcCPU    time.Duration // memcached children, user + system
	ncCPU    time.Duration // nutcracker children
	ctxsw    int64
	syscalls int64 // read and write family
}

func sampleCost() cost {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return cost{
		at:       time.Now(),
		cpu:      time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		mcCPU:    childrenCPU("memcached"),
		ncCPU:    childrenCPU("nutcracker"),
		ctxsw:    ru.Nvcsw + ru.Nivcsw,
		syscalls: procIO("syscr") + procIO("syscw"),
	}
}

func (c cost) since(o cost) cost {
	return cost{cpu: c.cpu - o.cpu, mcCPU: c.mcCPU - o.mcCPU, ncCPU: c.ncCPU - o.ncCPU, ctxsw: c.ctxsw - o.ctxsw, syscalls: c.syscalls - o.syscalls}
}

func (c cost) report(b *testing.B) {
	n := float64(b.N)
	b.ReportMetric(float64(c.cpu.Microseconds())/n, "cpu-us/op")
	b.ReportMetric(float64(c.mcCPU.Microseconds())/n, "mc-cpu-us/op")
	if c.ncCPU > 0 {
		b.ReportMetric(float64(c.ncCPU.Microseconds())/n, "nc-cpu-us/op")
	}
	b.ReportMetric(float64(c.ctxsw)/n, "ctxsw/op")
	b.ReportMetric(float64(c.syscalls)/n, "rw-syscalls/op")
}

// procIO reads one counter of /proc/self/io (0 where there is none).
func procIO(field string) int64 {
	data, _ := os.ReadFile("/proc/self/io")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+": "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// childrenCPU sums user + system time of this process's children named
// comm (/proc/<pid>/stat, in clock ticks of 10 ms).
func childrenCPU(comm string) time.Duration {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	var total time.Duration
	for _, f := range tasks {
		data, _ := os.ReadFile(f)
		for _, pid := range strings.Fields(string(data)) {
			stat, err := os.ReadFile("/proc/" + pid + "/stat")
			if err != nil || !strings.Contains(string(stat), "("+comm+")") {
				continue
			}
			fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
			utime, _ := strconv.ParseInt(fields[11], 10, 64) // field 14 of stat
			stime, _ := strconv.ParseInt(fields[12], 10, 64)
			total += time.Duration(utime+stime) * 10 * time.Millisecond
		}
	}
	return total
}
