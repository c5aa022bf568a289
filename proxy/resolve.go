// Resolve: a node named by a host name that does not resolve is accepted
// (DNS may catch up, and the node is ejected meanwhile like any dead
// node), but shepherd says so at start and in the node's state.
package proxy

import (
	"context"
	"net"
	"strings"
	"time"
)

// resolveTimeout bounds the start-up check of one node's host name.
const resolveTimeout = 2 * time.Second

// checkResolve looks up the node's host once and records the outcome: a
// warning in the log and NodeStatus.Resolve when it fails. It runs on its
// own goroutine; IP addresses and unix sockets need no lookup.
func (n *node) checkResolve() {
	host, ok := n.hostName()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	if _, err := net.DefaultResolver.LookupHost(ctx, host); err != nil {
		// The log line first: whoever sees the status can find the line.
		n.pool.log.Warn("server name does not resolve; the node stays in the pool and is ejected until it does",
			"pool", n.pool.name, "node", n.addr, "err", err)
		msg := err.Error()
		n.resolveErr.Store(&msg)
		return
	}
	n.resolveErr.Store(nil)
}

// hostName returns the node's host when it is a name, not an address.
func (n *node) hostName() (string, bool) {
	if n.io.Network() != "tcp" {
		return "", false
	}
	host, _, err := net.SplitHostPort(n.addr)
	if err != nil {
		host = n.addr
	}
	host = strings.Trim(host, "[]")
	if host == "" || net.ParseIP(host) != nil {
		return "", false
	}
	return host, true
}

// resolveState is "ok", or "unresolved: <error>" after a failed lookup.
func (n *node) resolveState() string {
	if e := n.resolveErr.Load(); e != nil {
		return "unresolved: " + *e
	}
	return "ok"
}
