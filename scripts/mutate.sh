#!/usr/bin/env bash
# scripts/mutate.sh [pkg ...]: mutation testing with gremlins, one package
# at a time (default: the packages below), then a table of the results and
# a check of every survivor against scripts/mutants/equivalent.txt.
# Installs gremlins through the Go module proxy when it is missing; with
# MUTATE_OPTIONAL=1 (CI's quick run) a failed install skips the run, saying
# why, instead of failing it.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=("$@")
((${#pkgs[@]})) || pkgs=(protocol ring health herd proxy/backend proxy/placement)

gremlins=$(go env GOPATH)/bin/gremlins
if [[ ! -x $gremlins ]]; then
	echo "mutate: installing gremlins"
	if ! go install github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0; then
		[[ ${MUTATE_OPTIONAL:-} == 1 ]] || exit 1
		echo "mutate: SKIPPED: gremlins could not be installed (no module proxy?)"
		exit 0
	fi
fi

# A mutant that stops something from happening makes a test wait for it;
# the health tests wait SHEPHERD_TEST_WAIT instead of 10 s, so it fails
# in time to count as killed rather than timed out.
export SHEPHERD_TEST_WAIT=${SHEPHERD_TEST_WAIT:-1s}
mkdir -p out/mutate
for p in "${pkgs[@]}"; do
	echo "mutate: $p ($(date +%T))"
	# gremlins times a mutant out at this multiple of the package's coverage
	# run; herd's is long (it starts memcached), so 20x would let a mutant
	# that blocks cost ~4 min, where 5x is still ten times a passing run.
	coef=20
	[[ $p == herd || $p == proxy/backend ]] && coef=5
	mkdir -p "out/mutate/$(dirname "$p")"
	"$gremlins" unleash --workers 1 --timeout-coefficient "$coef" \
		--exclude-files 'testdata/' -o "out/mutate/$p.json" "./$p" >"out/mutate/$p.log" 2>&1 ||
		{ tail -20 "out/mutate/$p.log"; exit 1; }
	tail -3 "out/mutate/$p.log" | sed "s|^|mutate: $p: |"
done
files=()
for p in "${pkgs[@]}"; do files+=("out/mutate/$p.json"); done
go run ./scripts/mutants -equivalent scripts/mutants/equivalent.txt "${files[@]}"
