#!/usr/bin/env bash
# Measures the data-path prototypes (bench/loopproto) against shepherd and
# nutcracker with herdbench: 3 memcached nodes, 1/8/64 connections and a
# 10-key multi-get, 3 alternating rounds, 3,000 idle connections each.
# Designs: goroutine (per connection), epoll and gnet (a loop per core),
# epoll-1 (one loop, as twemproxy has one thread), uring-1 (epoll-1 with
# each turn's writes and the next wait in one io_uring_enter). About 4 minutes on 2
# cores. Extra arguments go to herdbench (e.g.
# --duration 3s, --rounds 5, --targets direct,nutcracker).
# Output: the table on stdout, out/loopproto.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bin out
CGO_ENABLED=0 go build -o bin/ ./cmd/shepherd ./cmd/herdbench ./bench/loopproto
lp="$PWD/bin/loopproto"
exec bin/herdbench run bench/loopproto/throughput.yaml --shepherd bin/shepherd \
	--proxy "goroutine=$lp -design goroutine -listen {listen} -nodes {nodes}" \
	--proxy "epoll=$lp -design epoll -listen {listen} -nodes {nodes}" \
	--proxy "gnet=$lp -design gnet -listen {listen} -nodes {nodes}" \
	--proxy "epoll-1=$lp -design epoll -loops 1 -listen {listen} -nodes {nodes}" \
	--proxy "uring-1=$lp -design uring -loops 1 -listen {listen} -nodes {nodes}" \
	--json out/loopproto.json "$@"
