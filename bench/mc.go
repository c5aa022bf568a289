// Client: herdbench's own memcached text-protocol client, raw TCP with
// pipelining, small enough that its cost is the same for every target.
package bench

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

type opKind uint8

const (
	opGet opKind = iota
	opSet
	opDelete
)

// op is one request. keys holds one key except for a multi-get.
type op struct {
	kind opKind
	keys [][]byte
	val  []byte // set
	ttl  int    // set, seconds
}

// reply is what came back for one op.
type reply struct {
	hits, misses int
	stored       bool      // set: STORED; delete: DELETED
	val          []byte    // get of one key, when the session keeps values
	err          error     // a replyError, or the transport's error
	done         time.Time // when the last byte arrived
}

// replyError is an error line from the server (ERROR, CLIENT_ERROR,
// SERVER_ERROR): the connection stays usable.
type replyError string

func (e replyError) Error() string { return string(e) }

// conn is one client connection. It is not safe for concurrent use.
type conn struct {
	nc  net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	num []byte // scratch for numbers
}

// dialConn connects to addr, over TLS with tc unless it is nil.
func dialConn(addr string, timeout time.Duration, tc *tls.Config) (*conn, error) {
	var nc net.Conn
	var err error
	if tc != nil {
		nc, err = tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", addr, tc)
	} else {
		nc, err = net.DialTimeout("tcp", addr, timeout)
	}
	if err != nil {
		return nil, err
	}
	return &conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10)}, nil
}

func (c *conn) close() { c.nc.Close() }

// write buffers o; flush sends what is buffered.
func (c *conn) write(o *op) {
	switch o.kind {
	case opGet:
		c.w.WriteString("get")
		for _, k := range o.keys {
			c.w.WriteByte(' ')
			c.w.Write(k)
		}
	case opSet:
		c.w.WriteString("set ")
		c.w.Write(o.keys[0])
		c.num = strconv.AppendInt(append(c.num[:0], " 0 "...), int64(o.ttl), 10)
		c.num = strconv.AppendInt(append(c.num, ' '), int64(len(o.val)), 10)
		c.w.Write(c.num)
		c.w.WriteString("\r\n")
		c.w.Write(o.val)
	case opDelete:
		c.w.WriteString("delete ")
		c.w.Write(o.keys[0])
	}
	c.w.WriteString("\r\n")
}

func (c *conn) flush() error { return c.w.Flush() }

// read reads the reply to o into rep. A returned error means the stream
// is in doubt; an error line is put in rep.err and returns nil.
func (c *conn) read(o *op, rep *reply, keep bool) error {
	if o.kind == opGet {
		return c.readGet(o, rep, keep)
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	switch {
	case bytes.Equal(line, []byte("STORED\r\n")), bytes.Equal(line, []byte("DELETED\r\n")):
		rep.stored = true
	case bytes.Equal(line, []byte("NOT_STORED\r\n")), bytes.Equal(line, []byte("NOT_FOUND\r\n")),
		bytes.Equal(line, []byte("EXISTS\r\n")):
	default:
		return lineError(line, rep)
	}
	return nil
}

// readGet reads VALUE blocks up to END.
func (c *conn) readGet(o *op, rep *reply, keep bool) error {
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if bytes.Equal(line, []byte("END\r\n")) {
			rep.misses += len(o.keys) - rep.hits
			return nil
		}
		if !bytes.HasPrefix(line, []byte("VALUE ")) {
			return lineError(line, rep)
		}
		n, err := valueLen(line)
		if err != nil {
			return err
		}
		if err := c.readValue(n, rep, keep && len(o.keys) == 1); err != nil {
			return err
		}
		rep.hits++
	}
}

// readValue consumes n bytes of data and the CRLF after them.
func (c *conn) readValue(n int, rep *reply, keep bool) error {
	if keep {
		rep.val = make([]byte, n+2)
		if _, err := io.ReadFull(c.r, rep.val); err != nil {
			return err
		}
		if !bytes.HasSuffix(rep.val, []byte("\r\n")) {
			return errors.New("bench: value not followed by CRLF")
		}
		rep.val = rep.val[:n]
		return nil
	}
	if _, err := c.r.Discard(n); err != nil {
		return err
	}
	crlf, err := c.r.ReadSlice('\n')
	if err != nil || !bytes.Equal(crlf, []byte("\r\n")) {
		return fmt.Errorf("bench: value not followed by CRLF (%v)", err)
	}
	return nil
}

// lineError files an ERROR, CLIENT_ERROR or SERVER_ERROR line in rep; any
// other line means the stream is out of step.
func lineError(line []byte, rep *reply) error {
	text := string(bytes.TrimRight(line, "\r\n"))
	for _, p := range []string{"ERROR", "CLIENT_ERROR", "SERVER_ERROR"} {
		if len(text) >= len(p) && text[:len(p)] == p {
			rep.err = replyError(text)
			return nil
		}
	}
	return fmt.Errorf("bench: unexpected reply %q", text)
}

// valueLen parses the byte count of "VALUE <key> <flags> <bytes> [<cas>]\r\n"
// without allocating.
func valueLen(line []byte) (int, error) {
	rest := bytes.TrimRight(line, "\r\n")
	for range 3 { // skip "VALUE", the key and the flags
		i := bytes.IndexByte(rest, ' ')
		if i < 0 {
			return 0, fmt.Errorf("bench: malformed %q", line)
		}
		rest = rest[i+1:]
	}
	if i := bytes.IndexByte(rest, ' '); i >= 0 {
		rest = rest[:i] // drop the cas
	}
	n := 0
	for _, b := range rest {
		if b < '0' || b > '9' || n > maxValueSize*2 {
			return 0, fmt.Errorf("bench: malformed %q", line)
		}
		n = n*10 + int(b-'0')
	}
	if len(rest) == 0 {
		return 0, fmt.Errorf("bench: malformed %q", line)
	}
	return n, nil
}
