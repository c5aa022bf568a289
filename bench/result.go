// Results: what a run found, in the shape written by --json (documented in
// README.md) and read by the HTML report.
package bench

import (
	"encoding/json"
	"os"
	"time"
)

// SchemaVersion names the JSON shape; it changes when a field changes meaning.
const SchemaVersion = "herdbench/1"

// Report is a whole run.
type Report struct {
	Schema  string    `json:"schema"`
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	Env     EnvInfo   `json:"env"`
	Notes   []string  `json:"notes,omitempty"`
	Results []*Result `json:"results"`
}

// EnvInfo describes the machine and the binaries.
type EnvInfo struct {
	CPUs       int    `json:"cpus"`
	Go         string `json:"go"`
	OS         string `json:"os"`
	Memcached  string `json:"memcached"`
	Nutcracker string `json:"nutcracker"`
	Shepherd   string `json:"shepherd"`
}

// Result is one scenario. Exactly the section of its kind is set, unless
// Error or Skipped says why not.
type Result struct {
	Name        string    `json:"name"`
	Kind        string    `json:"kind"`
	File        string    `json:"file,omitempty"`
	Description string    `json:"description,omitempty"`
	Started     time.Time `json:"started"`
	Seconds     float64   `json:"seconds"`
	Error       string    `json:"error,omitempty"`
	Skipped     string    `json:"skipped,omitempty"`
	Notes       []string  `json:"notes,omitempty"`
	Features    *Features `json:"shepherd_features,omitempty"`

	Throughput *ThroughputResult `json:"throughput,omitempty"`
	Herd       *HerdResult       `json:"herd,omitempty"`
	Failover   *FailoverResult   `json:"failover,omitempty"`
	Rebalance  *RebalanceResult  `json:"rebalance,omitempty"`
	Comments   *CommentsResult   `json:"comments,omitempty"`
}

func (r *Result) note(s string) { r.Notes = append(r.Notes, s) }

// Event marks a moment on a timeline, in seconds since its series began.
type Event struct {
	T      float64 `json:"t"`
	Target string  `json:"target,omitempty"`
	Label  string  `json:"label"`
}

// ThroughputResult is every measured point, per target.
type ThroughputResult struct {
	Targets []string   `json:"targets"`
	Points  []Point    `json:"points"`
	Idle    []IdleCost `json:"idle,omitempty"` // RSS per idle client connection, per proxy
}

// Point is one load against one target.
type Point struct {
	Label       string    `json:"label"` // e.g. "c=8", "mget=100 c=4", "rate=20000 c=8"
	Target      string    `json:"target"`
	Mode        string    `json:"mode"` // closed or rate
	Rate        float64   `json:"rate,omitempty"`
	Connections int       `json:"connections"`
	Pipeline    int       `json:"pipeline"`
	MultiGet    int       `json:"multiget"`
	Start       float64   `json:"start"` // seconds since the scenario began
	Seconds     float64   `json:"seconds"`
	Ops         int64     `json:"ops"`
	Errors      int64     `json:"errors"`
	Hits        int64     `json:"hits"`
	Misses      int64     `json:"misses"`
	OpsPerSec   float64   `json:"ops_per_s"`
	KeysPerSec  float64   `json:"keys_per_s"`
	Latency     Summary   `json:"latency"`
	Ratio       float64   `json:"ratio_to_direct,omitempty"`     // ops/s ÷ direct's at the same label
	P99Ratio    float64   `json:"p99_ratio_to_direct,omitempty"` // p99 ÷ direct's
	Cost        *ProcCost `json:"cost,omitempty"`                // the target's processes over the window; nil if unreadable
	ClientCost  *ProcCost `json:"client_cost,omitempty"`         // herdbench itself (the load generator) over the window
	NodesCost   *ProcCost `json:"nodes_cost,omitempty"`          // the memcached nodes over the window
	RoundOps    []float64 `json:"round_ops_per_s,omitempty"`     // ops/s of each round; the fields above are medians
	Series      []Sample  `json:"series"`
}

// HerdResult compares herd protection modes on one hot key.
type HerdResult struct {
	Key       string     `json:"key"`
	Clients   int        `json:"clients"`
	Shepherds int        `json:"shepherds"`
	Modes     []HerdMode `json:"modes"`
}

// HerdMode is one mode's run.
type HerdMode struct {
	Mode                  string      `json:"mode"`   // off, on, origin
	Active                bool        `json:"active"` // the herd rule was in shepherd's config
	Describe              string      `json:"describe"`
	Invalidations         int         `json:"invalidations"`
	Reads                 int64       `json:"reads"`
	Errors                int64       `json:"errors"`
	Misses                int64       `json:"misses"` // misses handed to clients
	MissesPerInvalidation float64     `json:"misses_per_invalidation"`
	Fills                 int64       `json:"fills"` // requests reaching the origin
	FillsByClients        int64       `json:"fills_by_clients"`
	FillsByShepherd       int64       `json:"fills_by_shepherd"`
	FillsPerInvalidation  float64     `json:"fills_per_invalidation"`
	Storms                []HerdStorm `json:"storms"`
	StormLatency          Summary     `json:"storm_latency"` // reads inside storm windows
	Latency               Summary     `json:"latency"`
	Series                []Sample    `json:"series"`
	FillSeries            []FillRate  `json:"fill_series"`
	Events                []Event     `json:"events"`
}

// HerdStorm is what followed one invalidation.
type HerdStorm struct {
	At      float64 `json:"at"`
	Misses  int64   `json:"misses"`
	Fills   int64   `json:"fills"`
	P99     float64 `json:"p99_us"`
	Max     float64 `json:"max_us"`
	Settled float64 `json:"settled_s"` // until the last miss of the storm
}

// FillRate is origin requests per second in one time bucket.
type FillRate struct {
	T        float64 `json:"t"`
	Clients  float64 `json:"clients_per_s"`
	Shepherd float64 `json:"shepherd_per_s"`
}

// FailoverResult is one run per fault variant.
type FailoverResult struct {
	Runs []FailoverRun `json:"runs"`
}

// FailoverRun is one fault, injected into every target's nodes at once.
type FailoverRun struct {
	Variant  string           `json:"variant"` // stop, kill, slow
	FaultAt  float64          `json:"fault_at"`
	ReturnAt float64          `json:"return_at"`
	Targets  []FailoverTarget `json:"targets"`
}

// FailoverTarget is what clients of one target saw.
type FailoverTarget struct {
	Target          string       `json:"target"`
	Node            string       `json:"node"` // the faulted node
	Ops             int64        `json:"ops"`
	GetErrors       int64        `json:"get_errors"` // error lines and transport failures on gets
	SetErrors       int64        `json:"set_errors"`
	Slow            int64        `json:"slow"` // requests over the pool timeout + 50ms
	Latency         Summary      `json:"latency"`
	Ejected         float64      `json:"ejected_s"`    // after the fault; -1 unknown
	EjectedBy       string       `json:"ejected_by"`   // metrics, node or clients
	Readmitted      float64      `json:"readmitted_s"` // after the return; -1 unknown
	ReadmittedBy    string       `json:"readmitted_by"`
	NodeHitsInFault int64        `json:"node_requests_in_fault"` // requests the node counted between fault and return; -1 unknown
	StaleReads      int64        `json:"stale_reads"`            // gets after the return answering an overwritten value
	Series          []Sample     `json:"series"`
	NodeSeries      []NodeSample `json:"node_series"`
	Events          []Event      `json:"events"`
}

// NodeSample is the faulted node's own request rate, from its stats.
type NodeSample struct {
	T       float64 `json:"t"`
	Rate    float64 `json:"requests_per_s"` // -1 while it does not answer
	Ejected *bool   `json:"ejected,omitempty"`
}

// RebalanceResult is one run per membership change.
type RebalanceResult struct {
	Runs []RebalanceRun `json:"runs"`
}

// RebalanceRun is one change of the node list.
type RebalanceRun struct {
	Change        string   `json:"change"` // add or remove
	From          int      `json:"from_nodes"`
	To            int      `json:"to_nodes"`
	Method        string   `json:"method"` // sighup or restart
	Keys          int      `json:"keys"`
	ExpectedMoved float64  `json:"expected_moved"` // share of keys ketama moves
	FromAddrs     []string `json:"from_addrs"`     // the nodes before the change
	ToAddrs       []string `json:"to_addrs"`       // and after
	MeasuredMoved float64  `json:"measured_moved"` // share missing on the first read after
	HitBefore     float64  `json:"hit_rate_before"`
	HitFirst      float64  `json:"hit_rate_first_second"`
	HitEnd        float64  `json:"hit_rate_last_second"`
	ChangeAt      float64  `json:"change_at"`
	Series        []Sample `json:"series"`
}

// CommentsResult is the comment service's read/write mix through shepherd.
// Costs come from the X-DB-Queries and X-Cache-Ops headers of successful
// responses.
type CommentsResult struct {
	Posts          int            `json:"posts"`   // seeded
	Threads        int            `json:"threads"` // read: the busiest, by rank
	Clients        int            `json:"clients"`
	HerdRule       bool           `json:"herd_rule"` // shepherd had a thread: rule with /cache/fill as origin
	SeedSeconds    float64        `json:"seed_seconds"`
	Seconds        float64        `json:"seconds"` // measured load
	Requests       int64          `json:"requests"`
	Errors         int64          `json:"errors"`
	RequestsPerSec float64        `json:"requests_per_s"`
	DBQueries      int64          `json:"db_queries"`
	QueriesPerReq  float64        `json:"db_queries_per_request"`
	ZeroQueryReads float64        `json:"zero_query_reads"` // share of reads answered without a query
	CacheOps       int64          `json:"cache_ops"`
	CacheOpsPerReq float64        `json:"cache_ops_per_request"`
	Latency        Summary        `json:"latency"`
	Kinds          []CommentsKind `json:"kinds"` // read, reply, edit
	Herd           *CommentsHerd  `json:"herd,omitempty"`
	Series         []Sample       `json:"series"`
	CostSeries     []CostSample   `json:"cost_series"`
}

// CommentsKind is one kind of request of the comments mix.
type CommentsKind struct {
	Kind           string   `json:"kind"` // read, reply or edit
	Requests       int64    `json:"requests"`
	Errors         int64    `json:"errors"`
	RequestsPerSec float64  `json:"requests_per_s"`
	DBQueries      int64    `json:"db_queries"`
	QueriesPerReq  float64  `json:"db_queries_per_request"`
	ZeroQueryShare float64  `json:"zero_query_share"`
	CacheOpsPerReq float64  `json:"cache_ops_per_request"`
	Latency        Summary  `json:"latency"`
	Series         []Sample `json:"series"`
}

// CommentsHerd is what shepherd's herd rule did during the measured load
// (from "stats herd"). Origin fills are requests shepherd made to
// /cache/fill; their queries are not in any client response's headers.
type CommentsHerd struct {
	OriginFills      int64   `json:"origin_fills"`
	OriginFailures   int64   `json:"origin_failures"`
	StaleServed      int64   `json:"stale_served"`
	Holds            int64   `json:"holds"`
	HoldTimeouts     int64   `json:"hold_timeouts"`
	Invalidations    int64   `json:"invalidations"`
	QueriesWithFills float64 `json:"db_queries_with_fills_per_request"` // one query per fill added
}

// CostSample is the database and cache work of one time bucket.
type CostSample struct {
	T        float64 `json:"t"`
	Queries  float64 `json:"db_queries_per_s"`
	CacheOps float64 `json:"cache_ops_per_s"`
}

// WriteJSON writes r indented to path.
func (r *Report) WriteJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
