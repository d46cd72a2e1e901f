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
  # On a loaded machine go test can run out of -fuzztime before the seed
  # corpus's baseline coverage is done and fail with "context deadline
  # exceeded" and no finding; that run is repeated once with more time.
  # A real finding ("Failing input written") fails at once.
  if ! out=$(go test -run "^${name}\$" -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" 2>&1); then
    echo "$out"
    if grep -q "context deadline exceeded" <<<"$out" && ! grep -q "Failing input written" <<<"$out"; then
      echo "fuzz.sh: $name ran out of time before fuzzing started; once more with 30s"
      go test -run "^${name}\$" -fuzz "^${name}\$" -fuzztime 30s "$pkg"
    else
      exit 1
    fi
  else
    echo "$out"
  fi
  count=$((count + 1))
done <<<"$targets"
echo "fuzz.sh: $count targets, no findings"
