// TLS: the throughput scenario's TLS targets. Nodes that serve them
// listen twice, in the clear (the other targets, prefill) and over TLS
// (memcached -Z, a certificate herdbench makes for 127.0.0.1); the
// direct-tls target is herdbench's own client over crypto/tls, and
// shepherd-tls is a shepherd whose pool verifies the nodes against
// herdbench's CA. Clients reach shepherd-tls in the clear, as
// applications on the host would.
package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// TLS targets of the throughput scenario.
const (
	TargetDirectTLS   = "direct-tls"   // memcached over TLS, keys placed by herdbench's ketama ring
	TargetShepherdTLS = "shepherd-tls" // shepherd with TLS to the nodes
)

// nodeTLS is the certificate the nodes serve and a client config that
// verifies it.
type nodeTLS struct {
	CA, Cert, Key string // PEM files
	client        *tls.Config
}

// wantsTLS reports whether any of targets needs TLS on the nodes.
func wantsTLS(targets []string) bool {
	return slices.Contains(targets, TargetDirectTLS) || slices.Contains(targets, TargetShepherdTLS)
}

// newNodeTLS makes a CA and a server certificate for 127.0.0.1 in dir.
func newNodeTLS(dir string) (*nodeTLS, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "herdbench CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	nt := &nodeTLS{CA: filepath.Join(dir, "tls-ca.pem"), Cert: filepath.Join(dir, "tls-node.pem"), Key: filepath.Join(dir, "tls-node-key.pem")}
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{nt.CA, "CERTIFICATE", caDER}, {nt.Cert, "CERTIFICATE", der}, {nt.Key, "EC PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return nil, err
		}
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	nt.client = &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", ClientSessionCache: tls.NewLRUClientSessionCache(64)}
	return nt, nil
}

// StartMemcachedsTLS starts n nodes that serve in the clear on Addr and
// over TLS on TLSAddr.
func (ps *Procs) StartMemcachedsTLS(ctx context.Context, path string, n int, nt *nodeTLS) ([]*Node, error) {
	nodes := make([]*Node, 0, n)
	for range n {
		node, err := ps.startMemcached(ctx, path, func(port int) (*Node, error) {
			tlsAddr, err := freeAddr()
			if err != nil {
				return nil, err
			}
			args := tlsArgs(memcachedArgs(port), port, tlsAddr, nt)
			return &Node{TLSAddr: tlsAddr, args: args}, nil
		})
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, node)
	}
	return nodes, nil
}

// tlsArgs turns a node's command line into one with TLS: its port stays
// in the clear ("notls:"), tlsAddr serves TLS.
func tlsArgs(args []string, port int, tlsAddr string, nt *nodeTLS) []string {
	out := make([]string, 0, len(args)+6)
	for i := 0; i < len(args); i++ {
		if args[i] == "-l" || args[i] == "-p" {
			i++ // replaced below
			continue
		}
		out = append(out, args[i])
	}
	return append(out,
		"-Z", "-o", "ssl_chain_cert="+nt.Cert+",ssl_key="+nt.Key,
		"-l", "notls:127.0.0.1:"+strconv.Itoa(port), "-l", tlsAddr)
}

// tlsAddrsOf lists the nodes' TLS addresses.
func tlsAddrsOf(nodes []*Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.TLSAddr
	}
	return out
}

// tlsTargets adds the TLS targets the scenario names to targets.
func (e *Env) tlsTargets(ctx context.Context, s *Scenario, nodes []*Node, nt *nodeTLS, res *Result, targets []*Target) ([]*Target, error) {
	wanted := s.Throughput.Targets
	if slices.Contains(wanted, TargetDirectTLS) {
		tg, err := directTarget(nodes)
		if err != nil {
			return nil, err
		}
		tg.Name, tg.Addrs, tg.tls = TargetDirectTLS, tlsAddrsOf(nodes), nt.client
		tg.pids = func() []int { return pidsOf(nodes) }
		targets = append(targets, tg)
	}
	if slices.Contains(wanted, TargetShepherdTLS) {
		health := res.Features != nil && res.Features.HealthConfig
		sh, err := e.startShepherd(ctx, shepherdConfig{Nodes: tlsAddrsOf(nodes), Pool: s.Pool, health: health, TLSCA: nt.CA})
		if err != nil {
			return nil, fmt.Errorf("shepherd-tls: %w", err)
		}
		tg := proxyTarget(TargetShepherdTLS, sh.Addr)
		tg.pids = func() []int { return []int{sh.proc.Pid()} }
		targets = append(targets, tg)
	}
	res.note("TLS targets: the nodes serve TLS 1.3 (memcached -Z, OpenSSL, an ECDSA P-256 certificate) on a second port; direct-tls is herdbench's client over Go's crypto/tls, shepherd-tls verifies the nodes against herdbench's CA and its clients connect in the clear; connections are opened once per worker, so handshakes are not in the measured window")
	return targets, nil
}
