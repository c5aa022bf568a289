package proxy_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

// benchTargets starts 3 memcached nodes and returns, by name, an address
// to benchmark: one node directly, shepherd over the three, nutcracker
// over the three.
func benchTargets(b *testing.B) map[string]string {
	nodes := mctest.StartN(b, 3)
	f := startShepherd(b, nodes, nil)
	t := map[string]string{"direct": nodes[0].Addr, "shepherd": f.addr}
	t["nutcracker"] = mctest.Nutcracker(b, mctest.NutcrackerPool(nodes, "ketama", "md5"))
	return t
}

var benchSink int

// BenchmarkGet: one client, one outstanding get of a 100-byte value at a
// time, against memcached direct, shepherd and nutcracker: the added
// round-trip cost of the proxy.
func BenchmarkGet(b *testing.B) {
	for _, name := range []string{"direct", "shepherd", "nutcracker"} {
		addr := benchTargets(b)[name]
		b.Run(name, func(b *testing.B) {
			c := benchConn(b, addr)
			c.roundTrip(b, fmt.Sprintf("set bk 0 0 100\r\n%s\r\n", strings.Repeat("v", 100)), "STORED\r\n")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.roundTrip(b, "get bk\r\n", "END\r\n")
			}
		})
	}
}

// BenchmarkPipelinedGet: 100 gets written at once per round trip.
func BenchmarkPipelinedGet(b *testing.B) {
	for _, name := range []string{"direct", "shepherd", "nutcracker"} {
		addr := benchTargets(b)[name]
		b.Run(name, func(b *testing.B) {
			c := benchConn(b, addr)
			c.roundTrip(b, "set bk 0 0 10\r\n0123456789\r\n", "STORED\r\n")
			batch := strings.Repeat("get bk\r\n", 100)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += 100 {
				c.send(batch)
				for j := 0; j < 100; j++ {
					c.until(b, "END\r\n")
				}
			}
		})
	}
}

// BenchmarkMultiGet100: one get of 100 keys spread over the nodes.
func BenchmarkMultiGet100(b *testing.B) {
	for _, name := range []string{"direct", "shepherd", "nutcracker"} {
		addr := benchTargets(b)[name]
		b.Run(name, func(b *testing.B) {
			c := benchConn(b, addr)
			var keys []string
			for i := 0; i < 100; i++ {
				k := fmt.Sprintf("mk:%d", i)
				keys = append(keys, k)
				c.roundTrip(b, "set "+k+" 0 0 10\r\n0123456789\r\n", "STORED\r\n")
			}
			req := "get " + strings.Join(keys, " ") + "\r\n"
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.roundTrip(b, req, "END\r\n")
			}
		})
	}
}

type bconn struct {
	nc net.Conn
	br *bufio.Reader
}

func benchConn(b *testing.B, addr string) *bconn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	return &bconn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}
}

func (c *bconn) send(s string) { c.nc.Write([]byte(s)) }

func (c *bconn) roundTrip(b *testing.B, req, last string) {
	c.send(req)
	c.until(b, last)
}

// until reads lines until one equals last.
func (c *bconn) until(b *testing.B, last string) {
	for {
		l, err := c.br.ReadSlice('\n')
		if err != nil {
			b.Fatalf("read: %v", err)
		}
		benchSink += len(l)
		if string(l) == last {
			return
		}
	}
}

// BenchmarkGetParallel: 32 clients, one outstanding get each, as a busy
// application host would: the proxy's CPU cost per request.
func BenchmarkGetParallel(b *testing.B) {
	for _, name := range []string{"direct", "shepherd", "nutcracker"} {
		addr := benchTargets(b)[name]
		b.Run(name, func(b *testing.B) {
			c := benchConn(b, addr)
			c.roundTrip(b, fmt.Sprintf("set bk 0 0 100\r\n%s\r\n", strings.Repeat("v", 100)), "STORED\r\n")
			b.SetParallelism(16) // 32 clients on 2 cores
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := benchConn(b, addr)
				for pb.Next() {
					c.roundTrip(b, "get bk\r\n", "END\r\n")
				}
			})
		})
	}
}
