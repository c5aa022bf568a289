// Package bench is herdbench's engine: it starts real memcached, shepherd and
// nutcracker processes on loopback, drives them with its own small
// memcached text-protocol load client, and reports what it saw as a terminal
// table, JSON and a self-contained HTML page.
//
// A scenario is a YAML file (see scenarios/ and README.md) of one kind:
// throughput, herd, failover, rebalance or comments. Run executes a list of
// them and returns a Report; every process it started is stopped before it
// returns, also when its context is cancelled.
package bench
