// Parsing twemproxy's server syntax into a Node.

package ring

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ParseNode parses twemproxy's "host:port:weight [name]" server syntax.
// The weight is optional (default 1); IPv6 hosts are written in brackets,
// "[::1]:11211:2"; a unix socket is "/path/to.sock[:weight] [name]".
func ParseNode(s string) (Node, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 || len(fields) > 2 {
		return Node{}, fmt.Errorf("%w %q: want host:port[:weight] [name]", ErrSyntax, s)
	}
	n := Node{Weight: 1}
	if len(fields) == 2 {
		n.Name = fields[1]
	}
	var weight string
	var weighted bool
	var err error
	if isUnix(fields[0]) {
		n.Addr, weight, weighted = splitUnix(fields[0])
	} else if n.Addr, weight, weighted, err = splitHostPortWeight(fields[0]); err != nil {
		return Node{}, fmt.Errorf("%w %q: %v", ErrSyntax, s, err)
	}
	if weighted {
		if n.Weight, err = parseWeight(weight); err != nil {
			return Node{}, fmt.Errorf("%w in %q: %v", ErrWeight, s, err)
		}
	}
	return n, nil
}

// splitUnix splits "/path:weight"; without a ":" after the last "/" the
// whole string is the path.
func splitUnix(s string) (path, weight string, weighted bool) {
	i := strings.LastIndexByte(s, ':')
	if i < strings.LastIndexByte(s, '/') {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// splitHostPortWeight splits "host:port[:weight]" or "[v6]:port[:weight]"
// and returns the address as host:port.
func splitHostPortWeight(s string) (addr, weight string, weighted bool, err error) {
	host, rest, err := splitHost(s)
	if err != nil {
		return "", "", false, err
	}
	port, weight, weighted := strings.Cut(rest, ":")
	switch {
	case host == "":
		return "", "", false, fmt.Errorf("missing host")
	case strings.Contains(weight, ":"):
		return "", "", false, fmt.Errorf("too many colons (write IPv6 hosts in brackets)")
	}
	if _, err := parsePort(port); err != nil {
		return "", "", false, fmt.Errorf("port %q must be 1..65535", port)
	}
	return net.JoinHostPort(host, port), weight, weighted, nil
}

// splitHost returns the host and what follows its ":".
func splitHost(s string) (host, rest string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 || !strings.HasPrefix(s[end+1:], ":") {
			return "", "", fmt.Errorf("want [v6]:port")
		}
		return s[1:end], s[end+2:], nil
	}
	host, rest, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", fmt.Errorf("missing port")
	}
	return host, rest, nil
}

func parseWeight(s string) (int, error) {
	w, err := strconv.Atoi(s)
	if err != nil || !isDigits(s) || w <= 0 || w > maxTotalWeight {
		return 0, fmt.Errorf("weight %q must be an integer in 1..%d", s, maxTotalWeight)
	}
	return w, nil
}
