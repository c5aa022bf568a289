// Pipeline: a cold page's write-back as one round trip, quiet meta sets
// (ms ... q) followed by a no-op (mn), over a small pool of connections
// of our own. memcached (and shepherd) answer a quiet set only when it
// fails, so the reply to the whole batch is MN, preceded by any failures.

package comments

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// ErrBatchFailed: memcached refused some sets of a batch.
var ErrBatchFailed = errors.New("comments: some sets of a batch failed")

// pipeConns is at most this many idle connections kept for batches.
const pipeConns = 8

// pipe sends batches of quiet sets to one address.
type pipe struct {
	addr    string
	timeout time.Duration
	mu      sync.Mutex // guards idle
	idle    []*pipeConn
}

type pipeConn struct {
	net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func (p *pipe) get() (*pipeConn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	nc, err := net.DialTimeout("tcp", p.addr, p.timeout)
	if err != nil {
		return nil, err
	}
	return &pipeConn{Conn: nc, r: bufio.NewReader(nc), w: bufio.NewWriterSize(nc, 64<<10)}, nil
}

// put keeps c for the next batch, or closes it when the pool is full.
func (p *pipe) put(c *pipeConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) < pipeConns {
		p.idle = append(p.idle, c)
		return
	}
	c.Close()
}

func (p *pipe) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.idle {
		c.Close()
	}
	p.idle = nil
}

// setQuiet stores every value with ttl in one round trip. A connection
// whose reply stream is in doubt is closed, never reused.
func (p *pipe) setQuiet(values map[string][]byte, ttl int32) error {
	c, err := p.get()
	if err != nil {
		return err
	}
	failed, err := c.batch(values, ttl, p.timeout)
	if err != nil {
		c.Close()
		return err
	}
	p.put(c)
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d", ErrBatchFailed, failed, len(values))
	}
	return nil
}

// batch writes the quiet sets and mn, then reads up to MN, counting the
// failure lines before it.
func (c *pipeConn) batch(values map[string][]byte, ttl int32, timeout time.Duration) (failed int, err error) {
	c.SetDeadline(time.Now().Add(timeout))
	for k, v := range values {
		c.w.WriteString("ms " + k + " " + strconv.Itoa(len(v)) + " T" + strconv.Itoa(int(ttl)) + " q\r\n")
		c.w.Write(v)
		c.w.WriteString("\r\n")
	}
	c.w.WriteString("mn\r\n")
	if err := c.w.Flush(); err != nil {
		return 0, err
	}
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return failed, err
		}
		if string(line) == "MN\r\n" {
			return failed, nil
		}
		if failed++; failed > len(values) {
			return failed, fmt.Errorf("comments: unexpected reply %q to a batch of sets", line)
		}
	}
}

// setBatch writes values back in one pipelined request when the cache has
// one address (a shepherd sidecar), else one set each, concurrently.
func (c *Cache) setBatch(ctx context.Context, values map[string][]byte, ttl int32) {
	if c == nil || len(values) == 0 {
		return
	}
	if c.pipe == nil {
		c.setAll(ctx, values, ttl)
		return
	}
	c.do(ctx, fmt.Sprintf("ms×%d q + mn", len(values)), func() error { return c.pipe.setQuiet(values, ttl) })
}
