#!/usr/bin/env bash
# bench.sh: warm thread-page read latency of the comment service through
# shepherd, on loopback. Starts 3 memcached, shepherd and `comments serve`
# over an existing database, warms the pages, runs wrk (bounded: -d), stops
# everything it started.
#
#   bash comments/bench.sh sqlite:/tmp/seed1m/comments.db [duration]
#
# Seed the database first: go run ./cmd/comments seed --posts 1000000 --db ...
# Ports: memcached 127.0.0.1:22211-22213, shepherd :22111, comments :18080.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${1:?usage: bench.sh DB [duration]}
DUR=${2:-10s}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/comments-bench.XXXXXX")
PIDS=()
cleanup() {
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM "${PIDS[i]}" 2>/dev/null || true
		wait "${PIDS[i]}" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
command -v wrk >/dev/null || { echo "bench: wrk not installed (apt-get install wrk)" >&2; exit 1; }

wait_port() {
	for _ in $(seq 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench: nothing listening on $1; logs in $WORK" >&2
	exit 1
}

go build -o "$WORK/shepherd" ./cmd/shepherd
go build -o "$WORK/comments" ./cmd/comments
user=()
[[ $EUID -eq 0 ]] && user=(-u nobody)
for p in 22211 22212 22213; do
	memcached -l 127.0.0.1 -p "$p" -U 0 -m 256 -t 1 "${user[@]}" &
	PIDS+=($!)
	wait_port "$p"
done
cat >"$WORK/shepherd.yaml" <<YAML
listen: 127.0.0.1:22111
admin: "off"
log_level: warn
pools:
  main:
    servers:
      - 127.0.0.1:22211:1 a
      - 127.0.0.1:22212:1 b
      - 127.0.0.1:22213:1 c
YAML
"$WORK/shepherd" --config "$WORK/shepherd.yaml" 2>"$WORK/shepherd.log" &
PIDS+=($!)
wait_port 22111
"$WORK/comments" serve --listen 127.0.0.1:18080 --db "$DB" --memcache 127.0.0.1:22111 >/dev/null 2>"$WORK/comments.log" &
PIDS+=($!)
wait_port 18080

# The 100 most popular threads' first pages.
ids=$("$WORK/comments" top --db "$DB" --n 100)
hot=${ids%% *}
for id in $ids; do curl -fsS -o /dev/null "http://127.0.0.1:18080/api/threads/$id/posts?page=1"; done
echo "== warm headers of the hottest thread's page 1 (thread $hot)"
curl -fsS -D - -o /dev/null "http://127.0.0.1:18080/api/threads/$hot/posts?page=1" | grep -iE 'x-db|x-cache|server-timing'

cat >"$WORK/pages.lua" <<LUA
local ids = { $(echo "$ids" | sed 's/ /, /g') }
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/api/threads/" .. ids[(i % #ids) + 1] .. "/posts?page=1")
end
LUA
hot_url="http://127.0.0.1:18080/api/threads/$hot/posts?page=1"
echo "== wrk: one hot page, 4 connections, $DUR"
wrk -t1 -c4 -d"$DUR" --latency "$hot_url"
echo "== wrk: page 1 of the 100 most popular threads, round robin, 4 connections, $DUR"
wrk -t1 -c4 -d"$DUR" --latency -s "$WORK/pages.lua" "http://127.0.0.1:18080"
echo "== wrk: one hot page, 16 connections (saturation), $DUR"
wrk -t2 -c16 -d"$DUR" --latency "$hot_url"
