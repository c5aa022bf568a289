// Pipeline tests: a batch with a refused set reports it and leaves the
// connection aligned for the next batch; through shepherd as to memcached.

package comments

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/shepherd-proxy/shepherd/internal/mctest"
)

func TestPipelineReportsRefusedSets(t *testing.T) {
	t.Parallel()
	node := mctest.Start(t)
	for name, addr := range map[string]string{"memcached": node.Addr, "shepherd": startShepherd(t, mctest.StartN(t, 2), nil)} {
		t.Run(name, func(t *testing.T) {
			p := &pipe{addr: addr, timeout: 2 * time.Second}
			defer p.close()
			big := []byte(strings.Repeat("x", 2<<20)) // over the 1 MiB item limit
			err := p.setQuiet(map[string][]byte{"ok:1": []byte("one"), "big": big, "ok:2": []byte("two")}, 60)
			if name == "memcached" && !errors.Is(err, ErrBatchFailed) {
				t.Errorf("batch with an oversized value: got %v; want ErrBatchFailed", err)
			}
			if err := p.setQuiet(map[string][]byte{"ok:3": []byte("three")}, 60); err != nil {
				t.Fatalf("next batch: %v", err)
			}
			mc := memcache.New(addr)
			for _, k := range []string{"ok:1", "ok:2", "ok:3"} {
				if it, err := mc.Get(k); err != nil || len(it.Value) == 0 {
					t.Errorf("get %s after the batches: %v", k, err)
				}
			}
		})
	}
}
