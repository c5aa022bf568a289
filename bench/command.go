// Command proxies: any proxy binary, started from a command line given on
// herdbench's command line (--proxy NAME=COMMAND), joins the throughput
// sweep as one more target beside shepherd and nutcracker. It is how
// prototypes of other designs are measured with the same load and the
// same /proc counters (bench/loopproto).
package bench

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// ProxyCommand is one extra throughput target: Args[0] is the binary;
// "{listen}" in an argument becomes the host:port it must listen on and
// "{nodes}" the comma-separated memcached addresses.
type ProxyCommand struct {
	Name string
	Args []string
}

var proxyName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,31}$`)

// ParseProxyCommand reads NAME=COMMAND; COMMAND is split on spaces and
// must say {listen}.
func ParseProxyCommand(s string) (ProxyCommand, error) {
	name, cmd, ok := strings.Cut(s, "=")
	if !ok || !proxyName.MatchString(name) {
		return ProxyCommand{}, fmt.Errorf("%q: want NAME=COMMAND, NAME of lower-case letters, digits, '.', '_' or '-'", s)
	}
	switch name {
	case TargetDirect, TargetShepherd, TargetNutcracker:
		return ProxyCommand{}, fmt.Errorf("%q: %s is a built-in target", s, name)
	}
	args := strings.Fields(cmd)
	if len(args) == 0 || !strings.Contains(cmd, "{listen}") {
		return ProxyCommand{}, fmt.Errorf("%q: the command must contain {listen}", s)
	}
	return ProxyCommand{Name: name, Args: args}, nil
}

// startCommandProxy starts p in front of nodes on a free loopback port
// and returns it as a target once it accepts connections.
func (e *Env) startCommandProxy(ctx context.Context, p ProxyCommand, nodes []*Node) (*Target, error) {
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	r := strings.NewReplacer("{listen}", listen, "{nodes}", strings.Join(addrsOf(nodes), ","))
	args := make([]string, len(p.Args))
	for i, a := range p.Args {
		args[i] = r.Replace(a)
	}
	proc, err := e.Procs.Start(p.Name+" "+listen, args[0], args[1:]...)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, proc, readyTimeout, func() error { return accepts(listen) }); err != nil {
		proc.Kill()
		return nil, fmt.Errorf("%s: %w", p.Name, err)
	}
	tg := proxyTarget(p.Name, listen)
	tg.pids = func() []int { return []int{proc.Pid()} }
	return tg, nil
}
