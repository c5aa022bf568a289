// Version: shepherd's one version string, set once at build time.
package proxy

import (
	"regexp"
	"runtime"
	"runtime/debug"
)

// Version is shepherd's version, "x.y.z" with an optional "-suffix", and at
// least 1.6.0, because clients read a VERSION reply as memcached's version
// and act on it: libmemcached (memcstat, php-memcached, pylibmc) treats a
// major number of 0 as a read failure, and its memccapable holds a server
// below 1.6 to older memcached's stricter command parsing. Shepherd's
// numbering therefore starts at 2.0.0, clear of memcached's own 1.x. It is
// set once, at build time (make build: -ldflags "-X
// github.com/shepherd-proxy/shepherd/proxy.Version=1.2.3"); a plain go
// build keeps this value. --version, the protocol's VERSION reply, `stats`
// and shepherd_build_info all read it.
var Version = "2.0.0"

// numericVersion matches the "x.y.z" that libmemcached and php-memcached
// parse out of a VERSION reply (they read three numbers and nothing else).
var numericVersion = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+`)

// ProtocolVersion is what the version command answers: Version's leading
// "x.y.z", or "0.0.0" when Version does not start with one.
func ProtocolVersion() string {
	if v := numericVersion.FindString(Version); v != "" {
		return v
	}
	return "0.0.0"
}

// Revision is the VCS revision the go tool stamped into the binary
// (12 hex digits, "+dirty" for a modified tree), or "" when it did not.
func Revision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}

// GoVersion is the Go release that built the binary.
func GoVersion() string { return runtime.Version() }
