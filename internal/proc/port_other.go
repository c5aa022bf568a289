//go:build !unix

package proc

import "net"

// ClaimPort returns a loopback TCP port that was free a moment ago; only
// unix systems have the cross-process claim (port.go).
func ClaimPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
