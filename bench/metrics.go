// Metrics: reading shepherd's Prometheus text from its admin listener.
package bench

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// metric is one sample line of the Prometheus text format.
type metric struct {
	Name   string
	Labels map[string]string
	Value  float64
}

type metricSet []metric

var scrapeClient = &http.Client{Timeout: time.Second}

// scrape fetches and parses http://admin/metrics.
func scrape(admin string) (metricSet, error) {
	resp, err := scrapeClient.Get("http://" + admin + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	var out metricSet
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if m, ok := parseMetric(sc.Text()); ok {
			out = append(out, m)
		}
	}
	return out, sc.Err()
}

// parseMetric reads `name{a="b",c="d"} value [timestamp]`.
func parseMetric(line string) (metric, bool) {
	if line == "" || line[0] == '#' {
		return metric{}, false
	}
	m := metric{Labels: map[string]string{}}
	rest := line
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return metric{}, false
		}
		m.Name, rest = line[:i], strings.TrimSpace(line[j+1:])
		parseLabels(line[i+1:j], m.Labels)
	} else {
		f := strings.Fields(line)
		if len(f) < 2 {
			return metric{}, false
		}
		m.Name, rest = f[0], f[1]
	}
	v, err := strconv.ParseFloat(strings.Fields(rest + " ")[0], 64)
	if err != nil {
		return metric{}, false
	}
	m.Value = v
	return m, true
}

// parseLabels reads a="b",c="d"; values here never hold quotes or commas.
func parseLabels(s string, into map[string]string) {
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			into[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
}

// find returns the samples whose name contains part.
func (ms metricSet) find(part string) metricSet {
	var out metricSet
	for _, m := range ms {
		if strings.Contains(m.Name, part) {
			out = append(out, m)
		}
	}
	return out
}
