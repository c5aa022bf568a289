package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

func TestLoadSecureTransport(t *testing.T) {
	t.Parallel()
	s := mustLoad(t, `
pools:
  main-cache:
    servers: [127.0.0.1:21211:1]
    tls: {ca: /etc/shepherd/ca.pem, cert: /etc/shepherd/client.pem, key: /etc/shepherd/client-key.pem, server_name: cache.internal, min_version: "1.3"}
    auth: {username: shepherd}
  other:
    servers: [127.0.0.1:21212:1]
    auth: {username: app, password_file: /run/secrets/memcached}
default_pool: main-cache
`)
	main := s.Config.Pools["main-cache"]
	if tc := main.TLS; tc == nil || tc.CA != "/etc/shepherd/ca.pem" || tc.Cert != "/etc/shepherd/client.pem" || tc.Key != "/etc/shepherd/client-key.pem" || tc.ServerName != "cache.internal" || tc.MinVersion != "1.3" {
		t.Errorf("tls: got %+v; want every key as written", main.TLS)
	}
	if a := main.Auth; a == nil || a.Username != "shepherd" || a.PasswordEnv != "SHEPHERD_MAIN_CACHE_PASSWORD" || a.PasswordFile != "" {
		t.Errorf("auth without a password source: got %+v; want password_env SHEPHERD_MAIN_CACHE_PASSWORD", main.Auth)
	}
	if a := s.Config.Pools["other"].Auth; a == nil || a.PasswordFile != "/run/secrets/memcached" || a.PasswordEnv != "" {
		t.Errorf("auth with password_file: got %+v", a)
	}
	if s.Config.Pools["other"].TLS != nil {
		t.Errorf("pool without tls: got %+v; want nil (plain)", s.Config.Pools["other"].TLS)
	}
}

func TestLoadSecureTransportErrors(t *testing.T) {
	t.Parallel()
	pool := func(lines ...string) string {
		return "pools:\n  main:\n    servers: [127.0.0.1:21211:1]\n    " + strings.Join(lines, "\n    ") + "\n"
	}
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"password in the config", pool("auth: {username: u, password: hunter2}"), "a password is never read from the config"},
		{"cert without key", pool("tls: {cert: c.pem}"), "cert and key go together"},
		{"tls version", pool(`tls: {min_version: "1.0"}`), `"1.0" is not supported`},
		{"unknown tls key", pool("tls: {insecure_skip_verify: true}"), `unknown key "insecure_skip_verify"`},
		{"no username", pool("auth: {password_file: f}"), "auth: username"},
		{"file and env", pool("auth: {username: u, password_file: f, password_env: E}"), "exactly one of password_file and password_env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, tt.yaml)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v; want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// TestTestConfigSecure: --test-config prints tls and auth (the password's
// source, not the password) and the printout loads back the same.
func TestTestConfigSecure(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "secure.yaml")
	yaml := "pools:\n  main:\n    servers: [127.0.0.1:21211:1]\n    tls: {ca: /etc/ca.pem, cert: /etc/c.pem, key: /etc/k.pem}\n    auth: {username: shepherd, password_file: /run/pw}\n" +
		"  other:\n    servers: [127.0.0.1:21212:1]\n    auth: {username: app}\ndefault_pool: main\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	testConfigRoundTrip(t, file)
}

// TestServeBackendAuthFromEnv: shepherd, configured from a file whose
// pool has auth: {username} only, logs in to a memcached started with -Y
// with the password from SHEPHERD_MAIN_PASSWORD.
func TestServeBackendAuthFromEnv(t *testing.T) {
	t.Setenv("SHEPHERD_MAIN_PASSWORD", "from-env")
	authFile := filepath.Join(t.TempDir(), "auth")
	os.WriteFile(authFile, []byte("shepherd:from-env\n"), 0o600)
	node := mctest.StartReady(t, func(addr string) error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}, "-Y", authFile)
	path, listen := shepherdConfig(t, []*mctest.Server{node})
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("    auth: {username: shepherd}\n")
	f.Close()
	fs := newFlagSet(io.Discard)
	fs.Parse([]string{"-c", path})
	s, err := loadSettings(fs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, s, slog.New(slog.NewTextHandler(io.Discard, nil)), nil) }()
	defer func() { cancel(); <-errc }()
	waitListening(t, listen, errc)
	c, err := net.DialTimeout("tcp", listen, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "set k 0 0 1\r\nv\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if line != "STORED\r\n" {
		t.Fatalf("set through shepherd to a -Y node: got %q (%v); want STORED", line, err)
	}
}
