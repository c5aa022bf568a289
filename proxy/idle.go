// Idle clients: with client_idle_timeout set, a client connection that
// sends nothing for that long, with none of its requests in flight, is
// closed, as memcached's idle_timeout closes idle connections.
package proxy

import (
	"errors"
	"os"
	"time"
)

// idleReader is what a client's protocol reader reads from: the
// connection, with a read deadline of client_idle_timeout (as in force at
// each read) when it is set.
type idleReader struct{ c *client }

// Read reads from the client. A deadline that passes while a request of
// the client is still in flight, or less than client_idle_timeout after
// its last reply, is not idleness: the read resumes.
func (r idleReader) Read(p []byte) (int, error) {
	c := r.c
	for {
		idle := c.s.cfg().ClientIdleTimeout
		if idle > 0 && !c.s.draining.Load() {
			c.nc.SetReadDeadline(time.Now().Add(idle))
		}
		n, err := c.nc.Read(p)
		if idle <= 0 || !errors.Is(err, os.ErrDeadlineExceeded) || c.s.draining.Load() {
			return n, err
		}
		if c.queued.Load() == 0 && time.Since(time.Unix(0, c.replied.Load())) >= idle {
			c.s.m.idleClosed.Add(1)
			return n, err // idle: the reader ends and the connection closes
		}
	}
}
