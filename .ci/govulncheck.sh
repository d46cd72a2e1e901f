#!/usr/bin/env bash
# Runs govulncheck against the Go vulnerability database, built locally from
# the golang.org/x/vulndb module (the Go module proxy serves it; vuln.go.dev
# itself is not reachable from CI). Fails when the code calls a vulnerable
# function of a third-party module. Standard-library findings are printed
# as a notice: they are fixed by a newer Go release, which is the
# toolchain's upgrade to make, not this repository's.
set -euo pipefail
cd "$(dirname "$0")/.."
vulndb_version=v0.0.0-20261105234957-e22db6528018
govulncheck_version=v1.9.0
db="${TMPDIR:-/tmp}/alter-vulndb-$vulndb_version"
if [ ! -f "$db/index/db.json" ]; then
  go mod download golang.org/x/vulndb@"$vulndb_version"
  src="$(go env GOMODCACHE)/golang.org/x/vulndb@$vulndb_version/data/osv"
  rm -rf "$db.tmp" && mkdir -p "$db.tmp"
  GOFLAGS=-mod=mod go run golang.org/x/vulndb/cmd/indexdb@"$vulndb_version" -vulns "$src" -out "$db.tmp"
  rm -rf "$db" && mv "$db.tmp" "$db"
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go run golang.org/x/vuln/cmd/govulncheck@"$govulncheck_version" -db "file://$db" -format json ./... >"$out"
python3 - "$out" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
dec, i, called = json.JSONDecoder(), 0, {}
while i < len(text):
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    obj, i = dec.raw_decode(text, i)
    f = obj.get("finding")
    if f and f.get("trace") and f["trace"][0].get("function"):
        t = f["trace"][0]
        called.setdefault(f["osv"], (t.get("module"), t.get("package"), f.get("fixed_version", "")))
third = {k: v for k, v in called.items() if v[0] != "stdlib"}
std = {k: v for k, v in called.items() if v[0] == "stdlib"}
for k, (m, p, fix) in sorted(std.items()):
    print(f"notice: {k} in the standard library ({p}), fixed in Go {fix or '(newer)'}: upgrade the toolchain")
for k, (m, p, fix) in sorted(third.items()):
    print(f"VULNERABLE: {k} in {m} ({p}), fixed in {fix or '(no fix yet)'}")
print(f"govulncheck: {len(third)} called vulnerabilities in dependencies, {len(std)} in the standard library")
sys.exit(1 if third else 0)
PY
