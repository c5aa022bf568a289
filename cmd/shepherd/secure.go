// Secure transport keys: a pool's tls: {ca, cert, key, server_name,
// min_version} and auth: {username, password_file, password_env}, and the
// listeners' client_tls: {cert, key, client_ca, min_version} and socket_mode.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/shepherd-proxy/shepherd/proxy"
)

// errPasswordInConfig refuses a password written into the config itself.
var errPasswordInConfig = errors.New("a password is never read from the config; use password_file or password_env")

// tlsSettings decodes a pool's tls mapping.
func tlsSettings(dst **proxy.TLSConfig) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		t := &proxy.TLSConfig{}
		f := fields{
			"ca":          str(&t.CA),
			"cert":        str(&t.Cert),
			"key":         str(&t.Key),
			"server_name": str(&t.ServerName),
			"min_version": oneOf(&t.MinVersion, "1.2", "1.3"),
		}
		if err := f.decode(n, "tls"); err != nil {
			return err
		}
		*dst = t
		return nil
	}
}

// clientTLSSettings decodes the top-level client_tls mapping.
func clientTLSSettings(dst **proxy.ClientTLSConfig) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		t := &proxy.ClientTLSConfig{}
		f := fields{
			"cert":        str(&t.Cert),
			"key":         str(&t.Key),
			"client_ca":   str(&t.ClientCA),
			"min_version": oneOf(&t.MinVersion, "1.2", "1.3"),
		}
		if err := f.decode(n, "client_tls"); err != nil {
			return err
		}
		*dst = t
		return nil
	}
}

// parseMode reads socket_mode: octal permission bits such as 0660 (the
// leading 0 or 0o is optional: the digits are always octal).
func parseMode(s string) (os.FileMode, error) {
	if s == "" {
		return 0, nil
	}
	digits := strings.TrimPrefix(s, "0o")
	m, err := strconv.ParseUint(digits, 8, 32)
	if digits == "" || err != nil || m > 0o777 {
		return 0, fmt.Errorf("socket_mode: %q is not octal permission bits such as 0660 (at most 0777)", s)
	}
	if m == 0 {
		return 0, fmt.Errorf("socket_mode: %q would let no one connect, shepherd's user included", s)
	}
	return os.FileMode(m), nil
}

// authSettings decodes a pool's auth mapping. Without password_file the
// password is read from password_env, by default SHEPHERD_<POOL>_PASSWORD.
func authSettings(dst **proxy.AuthConfig, pool string) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		a := &proxy.AuthConfig{}
		f := fields{
			"username":      str(&a.Username),
			"password_file": str(&a.PasswordFile),
			"password_env":  str(&a.PasswordEnv),
			"password":      func(*yaml.Node) error { return errPasswordInConfig },
		}
		if err := f.decode(n, "auth"); err != nil {
			return err
		}
		if a.PasswordFile == "" && a.PasswordEnv == "" {
			a.PasswordEnv = passwordEnv(pool)
		}
		*dst = a
		return nil
	}
}

// passwordEnv is the default environment variable of a pool's password.
func passwordEnv(pool string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, pool)
	return "SHEPHERD_" + name + "_PASSWORD"
}

// printSecure prints a pool's tls and auth settings for --test-config
// (the password's source, never the password).
func printSecure(w io.Writer, p *proxy.PoolConfig) {
	if t := p.TLS; t != nil {
		fmt.Fprintf(w, "    tls: {ca: %q, cert: %q, key: %q, server_name: %q, min_version: %q}\n", t.CA, t.Cert, t.Key, t.ServerName, t.MinVersion)
	}
	if a := p.Auth; a != nil {
		src := fmt.Sprintf("password_env: %s", a.PasswordEnv)
		if a.PasswordFile != "" {
			src = fmt.Sprintf("password_file: %q", a.PasswordFile)
		}
		fmt.Fprintf(w, "    auth: {username: %s, %s}\n", a.Username, src)
	}
}

// printListenAccess prints the listeners' access settings for --test-config.
func printListenAccess(w io.Writer, cfg *proxy.Config) {
	fmt.Fprintf(w, "allow_unauthenticated_remote: %v\n", cfg.AllowUnauthenticatedRemote)
	if sc := cfg.Socket; sc.Mode != 0 {
		fmt.Fprintf(w, "socket_mode: \"%#o\"\n", uint32(sc.Mode))
	}
	if sc := cfg.Socket; sc.Owner != "" {
		fmt.Fprintf(w, "socket_owner: %q\n", sc.Owner)
	}
	if sc := cfg.Socket; sc.Group != "" {
		fmt.Fprintf(w, "socket_group: %q\n", sc.Group)
	}
	if t := cfg.ClientTLS; t != nil {
		fmt.Fprintf(w, "client_tls: {cert: %q, key: %q, client_ca: %q, min_version: %q}\n", t.Cert, t.Key, t.ClientCA, t.MinVersion)
	}
}
