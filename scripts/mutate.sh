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
((${#pkgs[@]})) || pkgs=(protocol ring health herd proxy/backend proxy/placement internal/uring)

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

# gremlins tries a mutant only on a line its coverage run marks as run, and
# Go's coverage profile puts a switch's case expressions and constant
# declarations in no block: their mutants were never tried, "not covered"
# whatever the tests did. This go, first on gremlins' PATH, passes every
# command to the real one and, after the coverage run, adds those lines to
# the profile, so their mutants are run like the rest: one the tests kill
# counts as killed, one no test reaches lives and must be killed by a test
# or listed as equivalent. The coverage run is never a cached result:
# gremlins times each mutant out at a multiple of how long it took.
realgo=$(command -v go)
mkdir -p out/mutate/bin
cat >out/mutate/bin/go <<EOF
#!/usr/bin/env bash
prof= prev=
for a in "\$@"; do [[ \$prev == -coverprofile ]] && prof=\$a; prev=\$a; done
[[ -n \$prof ]] || exec "$realgo" "\$@"
GOFLAGS="\$GOFLAGS -count=1" "$realgo" "\$@" || exit
"$realgo" list -f '{{\$d := .Dir}}{{\$p := .ImportPath}}{{range .GoFiles}}{{\$d}}/{{.}} {{\$p}}/{{.}}{{"\\n"}}{{end}}' "\${@: -1}" |
	while read -r file name; do
		awk -v n="\$name" '
			/^[ \t]*const \(\$/ { c = 1; next }
			c && /^[ \t]*\)/ { c = 0; next }
			c || /^[ \t]*(case|const) / { printf "%s:%d.1,%d.1000 1 1\n", n, NR, NR }' "\$file"
	done >>"\$prof"
EOF
chmod +x out/mutate/bin/go

for p in "${pkgs[@]}"; do
	echo "mutate: $p ($(date +%T))"
	# gremlins times a mutant out at this multiple of the package's coverage
	# run; herd's is long (it starts memcached), so 20x would let a mutant
	# that blocks cost ~4 min, where 5x is still ten times a passing run.
	coef=20
	[[ $p == herd || $p == proxy/backend ]] && coef=5
	mkdir -p "out/mutate/$(dirname "$p")"
	PATH=$PWD/out/mutate/bin:$PATH "$gremlins" unleash --workers 1 --timeout-coefficient "$coef" \
		--exclude-files 'testdata/' -o "out/mutate/$p.json" "./$p" >"out/mutate/$p.log" 2>&1 ||
		{ tail -20 "out/mutate/$p.log"; exit 1; }
	tail -3 "out/mutate/$p.log" | sed "s|^|mutate: $p: |"
done
files=()
for p in "${pkgs[@]}"; do files+=("out/mutate/$p.json"); done
go run ./scripts/mutants -equivalent scripts/mutants/equivalent.txt "${files[@]}"
