#!/usr/bin/env bash
# Runs every fuzz target in the module for a short fixed time on top of its
# seed corpus (f.Add seeds and testdata/fuzz), failing on the first finding.
# A finding is written by go test to the package's testdata/fuzz/<Target>/
# directory; check it in once fixed, so it stays a regression seed.
#
#   test/fuzz.sh            # 5s per target
#   FUZZTIME=30s test/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-5s}"

# `go test -list` prints each package's matching names, then "ok <pkg>".
# -fuzz takes one target in one package at a time, so pair them up.
targets=$(go test -list '^Fuzz' ./... | awk '
  /^Fuzz/ { names[n++] = $1; next }
  /^ok / { for (i = 0; i < n; i++) print $2, names[i]; n = 0 }')
if [ -z "$targets" ]; then
  echo "fuzz.sh: no fuzz targets found" >&2
  exit 1
fi

count=0
while read -r pkg name; do
  echo "== fuzz $pkg $name ($fuzztime)"
  # -run keeps the package's other tests out; the seed corpus runs first.
  go test -run "^${name}\$" -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
  count=$((count + 1))
done <<<"$targets"
echo "fuzz.sh: $count targets, no findings"
