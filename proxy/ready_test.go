package proxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

// TestReadyz: /readyz is 200 while the pool has a healthy node and 503
// while every node is out, then 200 again after the node returns;
// /healthz (liveness) stays 200 throughout.
func TestReadyz(t *testing.T) {
	t.Parallel()
	f := startShepherd(t, mctest.StartN(t, 1), staleConfig(""))
	admin := httptest.NewServer(f.srv.AdminHandler())
	t.Cleanup(admin.Close)
	check := func(path string, want int, wantBody string) {
		t.Helper()
		resp, err := http.Get(admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want || !strings.Contains(string(body), wantBody) {
			t.Errorf("%s: got %d %q; want %d with %q", path, resp.StatusCode, body, want, wantBody)
		}
	}
	check("/readyz", http.StatusOK, "main 1/1 nodes healthy: serving")
	c := dial(t, f.addr)
	ejectByTraffic(t, f, c, 0, "k")
	check("/readyz", http.StatusServiceUnavailable, "main 0/1 nodes healthy: cannot serve")
	check("/healthz", http.StatusOK, "ok")
	f.nodes[0].Resume()
	waitState(t, f.srv, f.nodes[0].Addr, "healthy")
	check("/readyz", http.StatusOK, "main 1/1 nodes healthy: serving")
}
