#!/usr/bin/env bash
# demo.sh: start 3 memcached nodes and shepherd in front of them, talk
# memcached to shepherd, show its metrics, start the comment service
# (cmd/comments on 127.0.0.1:8080, reading through shepherd) and print its
# widget URL, then stop everything it started.
#
#   make demo                  # or: bash scripts/demo.sh
#
# Ports: memcached on 127.0.0.1:21211-21213, shepherd on 127.0.0.1:11211,
# admin (/metrics, /healthz) on 127.0.0.1:9150. On a terminal the demo waits
# for Enter or Ctrl-C before stopping, so you can try it yourself; otherwise
# it stops right after showing. Needs only bash (its /dev/tcp), Go and
# memcached; installs memcached with apt-get when missing and run as root.
set -euo pipefail

cd "$(dirname "$0")/.."
NODES=(21211 21212 21213)
LISTEN_PORT=11211
ADMIN_PORT=9150
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shepherd-demo.XXXXXX")
PIDS=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

cleanup() {
	trap - EXIT INT TERM
	if ((${#PIDS[@]})); then
		say "stopping what the demo started (pids ${PIDS[*]})"
		# shepherd is last in PIDS: stop it first so it drains, then the nodes.
		for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
			kill -TERM "${PIDS[i]}" 2>/dev/null || true
			wait "${PIDS[i]}" 2>/dev/null || true
		done
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- dependencies -----------------------------------------------------------
install_missing() {
	local missing=()
	command -v memcached >/dev/null || missing+=(memcached)
	command -v memccapable >/dev/null || missing+=(libmemcached-tools)
	command -v nutcracker >/dev/null || [[ -x /usr/sbin/nutcracker ]] || missing+=(nutcracker)
	((${#missing[@]})) || return 0
	if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
		say "installing ${missing[*]} with apt-get"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}"
	elif ! command -v memcached >/dev/null; then
		die "memcached is not installed. On Debian/Ubuntu: sudo apt-get install memcached libmemcached-tools nutcracker"
	else
		echo "note: ${missing[*]} not installed (optional for the demo; sudo apt-get install ${missing[*]})"
	fi
}
install_missing
if ! command -v go >/dev/null; then
	[[ -x /usr/local/go/bin/go ]] || die "Go is not installed (https://go.dev/dl/), or put it on PATH"
	PATH=/usr/local/go/bin:$PATH
fi

# --- helpers ------------------------------------------------------------------
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port pid name
	for _ in $(seq 100); do
		port_busy "$1" && return 0
		kill -0 "$2" 2>/dev/null || { cat "$WORK/$3.log" >&2; die "$3 exited before listening on $1"; }
		sleep 0.05
	done
	die "$3 not listening on 127.0.0.1:$1 after 5s; log: $WORK/$3.log"
}

# mc REQUEST: send a memcached request (printf %b escapes) to shepherd,
# print it and the reply up to its last line.
mc() {
	local line
	printf '  > %s\n' "$(printf '%b' "$1" | sed -n '1p')"
	exec 3<>"/dev/tcp/127.0.0.1/$LISTEN_PORT"
	printf '%b' "$1" >&3
	while IFS= read -r -t 3 line <&3; do
		line=${line%$'\r'}
		printf '  < %s\n' "$line"
		case $line in
		END | STORED | NOT_STORED | EXISTS | NOT_FOUND | DELETED | OK | ERROR* | CLIENT_ERROR* | SERVER_ERROR* | VERSION*) break ;;
		esac
	done
	exec 3<&- 3>&-
}

# http PATH: GET from the admin listener, with curl if present, else /dev/tcp.
http() {
	if command -v curl >/dev/null; then
		curl -fsS "http://127.0.0.1:$ADMIN_PORT$1"
		return
	fi
	exec 4<>"/dev/tcp/127.0.0.1/$ADMIN_PORT"
	printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&4
	sed '1,/^\r\{0,1\}$/d' <&4 # drop the status line and headers
	exec 4<&- 4>&-
}

# --- build and start --------------------------------------------------------------
for p in "${NODES[@]}" "$LISTEN_PORT" "$ADMIN_PORT"; do
	port_busy "$p" && die "127.0.0.1:$p is already in use (another memcached or shepherd?); stop it and retry"
done

say "building shepherd"
go build -o bin/shepherd ./cmd/shepherd
echo "  bin/shepherd: $(bin/shepherd --version)"

say "starting memcached on 127.0.0.1:${NODES[*]}"
user=()
[[ $EUID -eq 0 ]] && user=(-u nobody) # memcached refuses to run as root
for p in "${NODES[@]}"; do
	memcached -l 127.0.0.1 -p "$p" -U 0 -m 64 "${user[@]}" >"$WORK/memcached-$p.log" 2>&1 &
	PIDS+=($!)
	wait_port "$p" "$!" "memcached-$p"
done

# The README's quick start runs the same file; its ports are the ones above.
cp configs/quickstart.yaml "$WORK/shepherd.yaml"
export SHEPHERD_SPOOL_DIR="$WORK/spool" # the demo leaves nothing behind
say "starting shepherd with $WORK/shepherd.yaml"
sed 's/^/  | /' "$WORK/shepherd.yaml"
bin/shepherd --config "$WORK/shepherd.yaml" >"$WORK/shepherd.log" 2>&1 &
PIDS+=($!)
wait_port "$LISTEN_PORT" "$!" shepherd
sed 's/^/  | /' "$WORK/shepherd.log"

# --- show -----------------------------------------------------------------------
say "set, get and multi-get through shepherd (127.0.0.1:$LISTEN_PORT)"
mc 'set user:1 0 0 5\r\nalice\r\n'
mc 'set user:2 0 0 3\r\nbob\r\n'
mc 'set post:42 0 300 11\r\nhello world\r\n'
mc 'get user:1\r\n'
mc 'get user:1 user:2 post:42 no-such-key\r\n'

say "where the keys landed (straight to each memcached)"
for p in "${NODES[@]}"; do
	items=$( (exec 3<>"/dev/tcp/127.0.0.1/$p"; printf 'stats\r\nquit\r\n' >&3; tr -d '\r' <&3) | awk '$2 == "curr_items" {print $3}')
	echo "  127.0.0.1:$p holds ${items:-?} item(s)"
done

say "metrics: http://127.0.0.1:$ADMIN_PORT/metrics  (liveness: /healthz, readiness: /readyz)"
if out=$(http /metrics 2>/dev/null); then
	metrics=$(awk '/^shepherd_/ && !/_bucket/ && n++ < 20 { print "  " $0 }' <<<"$out")
	echo "${metrics:-  (no shepherd_ metrics yet)}"
else
	echo "  (admin listener not answering yet)"
fi
printf '  /healthz: %s\n' "$(http /healthz 2>/dev/null || echo 'not answering')"
printf '  /readyz: %s\n' "$(http /readyz 2>/dev/null || echo 'not answering')"

# --- comment service ----------------------------------------------------------
COMMENTS_PORT=8080
COMMENTS_DB="sqlite:$WORK/comments.db"
port_busy "$COMMENTS_PORT" && die "127.0.0.1:$COMMENTS_PORT is already in use; stop what listens there and retry"
say "the comment service (cmd/comments) reading through shepherd"
go build -o bin/comments ./cmd/comments
bin/comments seed --posts 2000 --db "$COMMENTS_DB" 2>/dev/null | sed 's/^/  /'
bin/comments serve --listen "127.0.0.1:$COMMENTS_PORT" --db "$COMMENTS_DB" --memcache "127.0.0.1:$LISTEN_PORT" >"$WORK/comments.log" 2>&1 &
PIDS+=($!)
wait_port "$COMMENTS_PORT" "$!" comments
thread=$(bin/comments top --n 1 --db "$COMMENTS_DB")
if command -v curl >/dev/null; then
	for read in cold warm; do
		printf '  %s read of a page: %s\n' "$read" "$(curl -fsS -D - -o /dev/null "http://127.0.0.1:$COMMENTS_PORT/api/threads/$thread/posts?page=1" | tr -d '\r' | grep -i '^server-timing' | cut -d' ' -f2-)"
	done
fi
echo "  widget: http://127.0.0.1:$COMMENTS_PORT/embed/$thread"
echo "  API:    http://127.0.0.1:$COMMENTS_PORT/api/threads/$thread/posts?page=1&order=newest"

if [[ -t 0 ]]; then
	say "shepherd is serving on 127.0.0.1:$LISTEN_PORT; try: memcat --servers=127.0.0.1:$LISTEN_PORT user:1"
	read -r -p "press Enter or Ctrl-C to stop " _ || true
fi
