// Scenario: the YAML shape of a scenario file, its defaults and its limits.
package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// Kinds of scenario.
const (
	KindThroughput = "throughput"
	KindHerd       = "herd"
	KindFailover   = "failover"
	KindRebalance  = "rebalance"
	KindComments   = "comments"
)

// Kinds lists every scenario kind in the order a standard run uses.
var Kinds = []string{KindThroughput, KindHerd, KindFailover, KindRebalance, KindComments}

// Targets a load can be sent to.
const (
	TargetDirect     = "direct"     // memcached itself, keys placed by a client-side ketama ring
	TargetShepherd   = "shepherd"   // a shepherd process in front of the nodes
	TargetNutcracker = "nutcracker" // twemproxy in front of the same nodes
)

// ErrScenario marks a scenario file that is malformed or out of bounds.
var ErrScenario = errors.New("bench: bad scenario")

// Scenario is one parsed scenario file. Exactly the section named by Kind is
// set after Parse; a zero field there means its default.
type Scenario struct {
	Name        string        `yaml:"name"`
	Kind        string        `yaml:"scenario"`
	Description string        `yaml:"description"`
	Nodes       int           `yaml:"nodes"`  // memcached nodes per target; default 3
	Sample      time.Duration `yaml:"sample"` // width of one time-series bucket; default per kind
	Pool        Pool          `yaml:"pool"`   // shepherd and nutcracker pool settings

	Throughput *Throughput `yaml:"throughput"`
	Herd       *Herd       `yaml:"herd"`
	Failover   *Failover   `yaml:"failover"`
	Rebalance  *Rebalance  `yaml:"rebalance"`
	Comments   *Comments   `yaml:"comments"`

	File string `yaml:"-"` // where it was read from
}

// Pool is the pool configuration given to shepherd and, where twemproxy has
// an equivalent, to nutcracker.
type Pool struct {
	Timeout        time.Duration `yaml:"timeout"`         // default 250ms
	ConnectTimeout time.Duration `yaml:"connect_timeout"` // default 100ms
	FailureLimit   int           `yaml:"failure_limit"`   // default 2
	RetryTimeout   time.Duration `yaml:"retry_timeout"`   // default 1s
	OnEject        string        `yaml:"on_eject"`        // rehash (default), gutter or fail
	Connections    int           `yaml:"connections"`     // backend connections per node; 0: shepherd's default
}

// Load describes one client load. Zero fields take the defaults of the
// scenario kind.
type Load struct {
	Mode        string        `yaml:"mode"`        // closed (as fast as replies come) or rate (fixed ops/s)
	Rate        float64       `yaml:"rate"`        // ops/s over all connections, with mode rate
	Connections int           `yaml:"connections"` // client connections
	Pipeline    int           `yaml:"pipeline"`    // requests written before reading replies
	GetRatio    *float64      `yaml:"get_ratio"`   // share of gets; the rest are sets; nil: 0.9 (0 means sets only)
	ValueSize   int           `yaml:"value_size"`  // bytes; default 100
	Keys        int           `yaml:"keys"`        // distinct keys; default 10000
	Zipf        float64       `yaml:"zipf"`        // skew s > 1; 0 means uniform
	MultiGet    int           `yaml:"multiget"`    // keys per get; default 1
	Duration    time.Duration `yaml:"duration"`    // per measured point
	MaxOps      int64         `yaml:"max_ops"`     // hard cap on requests per point; default 50M
	Timeout     time.Duration `yaml:"timeout"`     // client-side per batch; default 1s
}

// Throughput compares direct, shepherd and nutcracker under the same load.
type Throughput struct {
	Targets             []string      `yaml:"targets"`              // default direct, shepherd, nutcracker
	Warmup              time.Duration `yaml:"warmup"`               // unmeasured load before each point; default 200ms
	Rounds              int           `yaml:"rounds"`               // the whole sweep this many times; points are medians; default 1
	Load                Load          `yaml:"load"`                 // the base load of every point
	Connections         []int         `yaml:"connections"`          // closed-loop points, one per count; default 1, 8, 32
	MultiGets           []int         `yaml:"multigets"`            // extra points with these get widths; default 100, 1000
	MultiGetConnections int           `yaml:"multiget_connections"` // default 4
	Rates               []float64     `yaml:"rates"`                // extra fixed-rate points (ops/s); default none
	RateConnections     int           `yaml:"rate_connections"`     // default 8
	IdleConnections     int           `yaml:"idle_connections"`     // after the sweep, RSS per idle connection of each proxy; 0: not measured
}

// Herd is a hot key read by many clients over several shepherds.
type Herd struct {
	Clients     int             `yaml:"clients"`      // readers; default 400
	Shepherds   int             `yaml:"shepherds"`    // default 4
	Duration    time.Duration   `yaml:"duration"`     // per mode; default 4s
	Invalidate  []time.Duration `yaml:"invalidate"`   // deletes, from the start of each mode; default 1s, 2.5s
	Storm       time.Duration   `yaml:"storm"`        // window after a delete counted as the storm; default 1s
	Think       time.Duration   `yaml:"think"`        // pause between one reader's gets; default 5ms
	OriginDelay time.Duration   `yaml:"origin_delay"` // how long the origin takes to answer; default 20ms
	Modes       []string        `yaml:"modes"`        // off, on, origin; default all three
	Key         string          `yaml:"key"`          // default hot:item
	StaleTTL    time.Duration   `yaml:"stale_ttl"`    // herd rule; default 30s
	Hold        time.Duration   `yaml:"hold"`         // default 1s
	LeaseTTL    time.Duration   `yaml:"lease_ttl"`    // default 10s
	TTL         time.Duration   `yaml:"ttl"`          // of origin fills; default 60s
	MaxOps      int64           `yaml:"max_ops"`      // per reader and mode; default 100000
}

// Failover injects a fault into one node while clients read and write.
type Failover struct {
	Targets  []string      `yaml:"targets"`   // default shepherd, nutcracker (run at once, each on its own nodes)
	Variants []string      `yaml:"variants"`  // stop, kill, slow; default all three
	Duration time.Duration `yaml:"duration"`  // default 10s
	FaultAt  time.Duration `yaml:"fault_at"`  // default 1s
	ReturnAt time.Duration `yaml:"return_at"` // default 6s
	Clients  int           `yaml:"clients"`   // per target; default 4
	Keys     int           `yaml:"keys"`      // default 300
	Timeout  time.Duration `yaml:"timeout"`   // client-side per request; default 2s
	Think    time.Duration `yaml:"think"`     // pause between requests; default 1ms
	SlowStop time.Duration `yaml:"slow_stop"` // slow variant: stopped this long ...
	SlowRun  time.Duration `yaml:"slow_run"`  // ... then running this long; default 150ms / 50ms
	MaxOps   int64         `yaml:"max_ops"`   // per client; default 1M
}

// Rebalance changes the node list of a running pool.
type Rebalance struct {
	Changes []string      `yaml:"changes"` // add, remove; default both
	Keys    int           `yaml:"keys"`    // default 20000
	Zipf    float64       `yaml:"zipf"`    // read skew; default 1.1
	Clients int           `yaml:"clients"` // default 8
	Before  time.Duration `yaml:"before"`  // load before the change; default 1s
	After   time.Duration `yaml:"after"`   // load after it; default 4s
	MaxOps  int64         `yaml:"max_ops"` // per client and phase; default 5M
}

// Comments drives the bundled comment service (cmd/comments) through
// shepherd: thread-page reads with some replies and edits over HTTP. The
// shares are pointers because 0 is a meaningful share; nil means the default.
type Comments struct {
	Posts    int           `yaml:"posts"`     // seeded posts (threads = posts/100, users = posts/20); default 20000
	Clients  int           `yaml:"clients"`   // concurrent HTTP clients, closed loop; default 8
	Duration time.Duration `yaml:"duration"`  // measured load; default 8s
	Warmup   time.Duration `yaml:"warmup"`    // unmeasured load first, same mix; default none
	Threads  int           `yaml:"threads"`   // the busiest threads read, by rank; default 200
	Zipf     float64       `yaml:"zipf"`      // skew of reads over those threads' ranks, > 1; default 1.1
	Pages    int           `yaml:"pages"`     // deepest page read (page p+1 half as often as p); default 3
	Oldest   *float64      `yaml:"oldest"`    // share of reads in oldest-first order; default 0.3
	Writes   *float64      `yaml:"writes"`    // share of requests that write; default 0.05
	Edits    *float64      `yaml:"edits"`     // share of writes that edit one of the client's replies; default 0.3
	PageSize int           `yaml:"page_size"` // posts per page (serve --page-size); default 50
	Plain    bool          `yaml:"plain"`     // no herd rule: the service takes its own fill leases
	Timeout  time.Duration `yaml:"timeout"`   // per request; default 5s
	MaxOps   int64         `yaml:"max_ops"`   // requests per client; default 1M
}

// ParseFile reads, defaults and checks one scenario file.
func ParseFile(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s.File = path
	return s, nil
}

// Parse decodes a scenario strictly (unknown keys are errors), fills the
// defaults and checks the limits.
func Parse(data []byte) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScenario, err)
	}
	if err := s.Normalize(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Normalize fills defaults and validates; Parse and the flag overrides call it.
func (s *Scenario) Normalize() error {
	if !slices.Contains(Kinds, s.Kind) {
		return fmt.Errorf("%w: scenario: %q is not one of %v", ErrScenario, s.Kind, Kinds)
	}
	if s.Name == "" {
		s.Name = s.Kind
	}
	if err := s.onlySection(); err != nil {
		return err
	}
	s.defaults()
	return s.validate()
}

// onlySection creates the section of s.Kind when absent and rejects others.
func (s *Scenario) onlySection() error {
	set := map[string]bool{
		KindThroughput: s.Throughput != nil, KindHerd: s.Herd != nil,
		KindFailover: s.Failover != nil, KindRebalance: s.Rebalance != nil, KindComments: s.Comments != nil,
	}
	for kind, present := range set {
		if present && kind != s.Kind {
			return fmt.Errorf("%w: a %s scenario has a %s: section", ErrScenario, s.Kind, kind)
		}
	}
	switch s.Kind {
	case KindThroughput:
		s.Throughput = orNew(s.Throughput)
	case KindHerd:
		s.Herd = orNew(s.Herd)
	case KindFailover:
		s.Failover = orNew(s.Failover)
	case KindRebalance:
		s.Rebalance = orNew(s.Rebalance)
	case KindComments:
		s.Comments = orNew(s.Comments)
	}
	return nil
}

func orNew[T any](p *T) *T {
	if p == nil {
		return new(T)
	}
	return p
}
