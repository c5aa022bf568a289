package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/shepherd-proxy/shepherd/proxy"
)

// k8sContainer is the part of a container spec the manifest test reads.
type k8sContainer struct {
	Name            string
	Env             []struct{ Name, Value string }
	ReadinessProbe  *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe   *k8sProbe `yaml:"livenessProbe"`
	StartupProbe    *k8sProbe `yaml:"startupProbe"`
	SecurityContext struct {
		ReadOnlyRootFilesystem bool `yaml:"readOnlyRootFilesystem"`
	} `yaml:"securityContext"`
	Resources struct {
		Requests map[string]string
		Limits   map[string]string
	}
	VolumeMounts []struct {
		Name      string
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type k8sProbe struct {
	HTTPGet struct{ Path string } `yaml:"httpGet"`
}

// TestExampleK8sReadOnlyRoot: the sidecar runs with a read-only root, so
// the spool shepherd picks by default (under $STATE_DIRECTORY as the Pod
// sets it) must lie on a writable emptyDir; readiness is /readyz,
// liveness and startup /healthz; requests and a memory limit are set.
func TestExampleK8sReadOnlyRoot(t *testing.T) { // not parallel: it sets STATE_DIRECTORY
	data, err := os.ReadFile(filepath.Join("..", "..", "configs", "k8s-sidecar.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var side *k8sContainer
	emptyDirs := map[string]bool{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc struct {
			Kind string
			Spec struct {
				InitContainers []k8sContainer `yaml:"initContainers"`
				Volumes        []struct {
					Name     string
					EmptyDir *struct{} `yaml:"emptyDir"`
				}
			}
		}
		if err := dec.Decode(&doc); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("k8s-sidecar.yaml: %v", err)
		}
		for i, c := range doc.Spec.InitContainers {
			if c.Name == "shepherd" {
				side = &doc.Spec.InitContainers[i]
			}
		}
		for _, v := range doc.Spec.Volumes {
			if v.EmptyDir != nil {
				emptyDirs[v.Name] = true
			}
		}
	}
	if side == nil {
		t.Fatal("no shepherd init container (native sidecar) in the Pod")
	}
	if !side.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem: got false; want true")
	}
	for what, got := range map[string]*k8sProbe{"readinessProbe": side.ReadinessProbe, "livenessProbe": side.LivenessProbe, "startupProbe": side.StartupProbe} {
		want := "/healthz"
		if what == "readinessProbe" {
			want = "/readyz"
		}
		if got == nil || got.HTTPGet.Path != want {
			t.Errorf("%s: got %+v; want httpGet %s", what, got, want)
		}
	}
	state := ""
	for _, e := range side.Env {
		if e.Name == "STATE_DIRECTORY" {
			state = e.Value
		}
	}
	if state == "" {
		t.Fatal("env STATE_DIRECTORY: not set; want the spool volume's path")
	}
	t.Setenv("STATE_DIRECTORY", state)
	spool := proxy.DefaultSpoolDir("127.0.0.1:11211")
	writable := false
	for _, m := range side.VolumeMounts {
		if strings.HasPrefix(spool, m.MountPath+"/") && emptyDirs[m.Name] && !m.ReadOnly {
			writable = true
		}
	}
	if !writable {
		t.Errorf("default spool %s: not on a writable emptyDir mount (%+v)", spool, side.VolumeMounts)
	}
	if side.Resources.Requests["cpu"] == "" || side.Resources.Requests["memory"] == "" || side.Resources.Limits["memory"] == "" {
		t.Errorf("resources: got %+v; want cpu and memory requests and a memory limit", side.Resources)
	}
}

// TestContainerfile: the image is built in two stages with make build (the
// static, CGO_ENABLED=0 binary), runs on a static base as a non-root user,
// and sets the STATE_DIRECTORY the manifest mounts its spool volume at.
// (Building it needs a container engine; this checks the file's shape.)
func TestContainerfile(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "..", "Containerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var froms, runs []string
	env := map[string]string{}
	user := ""
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "FROM":
			froms = append(froms, f[1])
		case "RUN":
			runs = append(runs, strings.Join(f[1:], " "))
		case "ENV":
			k, v, _ := strings.Cut(f[1], "=")
			env[k] = v
		case "USER":
			user = f[1]
		}
	}
	if len(froms) != 2 || !strings.Contains(froms[1], "static") {
		t.Errorf("FROM: got %v; want a build stage and a static final stage", froms)
	}
	if !strings.Contains(strings.Join(runs, "\n"), "make build") {
		t.Errorf("RUN: got %v; want make build (CGO_ENABLED=0)", runs)
	}
	if user == "" || strings.HasPrefix(user, "0") || user == "root" {
		t.Errorf("USER: got %q; want a non-root user", user)
	}
	if env["STATE_DIRECTORY"] != "/var/lib/shepherd" {
		t.Errorf("ENV STATE_DIRECTORY: got %q; want /var/lib/shepherd, where the manifest mounts the spool", env["STATE_DIRECTORY"])
	}
	mk, _ := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if !strings.Contains(string(mk), "CGO_ENABLED=0 $(GO) build") {
		t.Error("Makefile: make build does not build with CGO_ENABLED=0")
	}
}
