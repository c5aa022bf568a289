package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadListenerAccess: client_tls, the socket keys and
// allow_unauthenticated_remote reach proxy.Config as written; the socket
// mode is octal however it is written.
func TestLoadListenerAccess(t *testing.T) {
	t.Parallel()
	s := mustLoad(t, `
listen: 0.0.0.0:11211
admin: 0.0.0.0:9150
client_tls: {cert: /etc/shepherd/server.pem, key: /etc/shepherd/server-key.pem, client_ca: /etc/shepherd/clients.pem, min_version: "1.3"}
pools:
  main:
    servers: [127.0.0.1:21211:1]
`)
	tc := s.Config.ClientTLS
	if tc == nil || tc.Cert != "/etc/shepherd/server.pem" || tc.Key != "/etc/shepherd/server-key.pem" || tc.ClientCA != "/etc/shepherd/clients.pem" || tc.MinVersion != "1.3" {
		t.Errorf("client_tls: got %+v; want every key as written", tc)
	}
	for _, mode := range []string{"0660", `"0660"`, "660", "0o660"} {
		s := mustLoad(t, "listen: unix:/run/s.sock\nsocket_mode: "+mode+"\nsocket_group: \"0\"\npools:\n  main:\n    servers: [127.0.0.1:21211:1]\n")
		if got := s.Config.Socket.Mode; got != 0o660 {
			t.Errorf("socket_mode: %s: got %#o; want 0660", mode, got)
		}
		if s.Config.Socket.Group != "0" {
			t.Errorf("socket_group: got %q; want \"0\"", s.Config.Socket.Group)
		}
	}
	s = mustLoad(t, "listen: 0.0.0.0:11211\nallow_unauthenticated_remote: true\npools:\n  main:\n    servers: [127.0.0.1:21211:1]\n")
	if !s.Config.AllowUnauthenticatedRemote {
		t.Errorf("allow_unauthenticated_remote: true: got false")
	}
}

// TestLoadListenerAccessErrors: each rule's refusal names its key.
func TestLoadListenerAccessErrors(t *testing.T) {
	t.Parallel()
	const pools = "pools:\n  main:\n    servers: [127.0.0.1:21211:1]\n"
	for _, tt := range []struct{ name, yaml, want string }{
		{"remote listener", "listen: 0.0.0.0:11211\n", "listen 0.0.0.0:11211 listens on every interface; set client_tls"},
		{"remote admin", "admin: :9150\n", "admin :9150 listens on every interface"},
		{"mode not octal", "listen: unix:/s\nsocket_mode: \"0698\"\n", `socket_mode: "0698" is not octal`},
		{"mode zero", "listen: unix:/s\nsocket_mode: \"0\"\n", "would let no one connect"},
		{"mode without a socket", "socket_mode: \"0660\"\n", "no listener is one"},
		{"unknown group", "listen: unix:/s\nsocket_group: no-such-group-shepherd\n", `socket_group "no-such-group-shepherd": group: unknown group`},
		{"allow not a bool", "listen: 0.0.0.0:1\nallow_unauthenticated_remote: yes please\n", `"yes please" is not true or false`},
		{"client_tls unknown key", "client_tls: {cert: c, key: k, client_ca: ca, verify: false}\n", `client_tls: unknown key "verify"`},
		{"client_tls without client_ca", "client_tls: {cert: c, key: k}\n", "client_tls: client_ca is required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := load(t, tt.yaml+pools); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v; want one containing %q", err, tt.want)
			}
		})
	}
}

// TestLoadAllowRemoteFromEnv: a twemproxy file, which has no top-level
// keys of shepherd's, listens off loopback once the environment allows it.
func TestLoadAllowRemoteFromEnv(t *testing.T) {
	const nutcracker = "alpha:\n  listen: 0.0.0.0:22121\n  servers:\n    - 127.0.0.1:11211:1\n"
	if _, err := load(t, nutcracker); err == nil || !strings.Contains(err.Error(), "allow_unauthenticated_remote") {
		t.Fatalf("twemproxy listen 0.0.0.0: got %v; want the access rule's error", err)
	}
	t.Setenv("SHEPHERD_ALLOW_UNAUTHENTICATED_REMOTE", "true")
	if s, err := load(t, nutcracker); err != nil || !s.Config.AllowUnauthenticatedRemote {
		t.Errorf("with SHEPHERD_ALLOW_UNAUTHENTICATED_REMOTE=true: got %v; want it allowed", err)
	}
}

// TestTestConfigListenerAccess: --test-config prints the access settings
// and the printout loads back the same.
func TestTestConfigListenerAccess(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "access.yaml")
	yaml := "listen: unix:/run/shepherd.sock\nsocket_mode: \"0660\"\nsocket_owner: \"0\"\nsocket_group: \"0\"\n" +
		"admin: 0.0.0.0:9150\nclient_tls: {cert: /etc/s.pem, key: /etc/k.pem, client_ca: /etc/ca.pem}\n" +
		"pools:\n  main:\n    servers: [127.0.0.1:21211:1]\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	testConfigRoundTrip(t, file)
}
