"""Requests per second of N sequential GETs through one Vault; not a test
(unittest discover skips it). Against the sidecar of go test ./test/sdks,
or any sidecar and grant:

    python3 -m tests.bench_sequential URL GRANT_ID [N]

with ALTER_PROXY naming the sidecar. Prints one line: the count, the
seconds and the rate."""

import sys
import time

import alter_vault as av


def bench(vault, url, grant_id, n=2000):
    """(seconds, requests per second) of n sequential GETs of url."""
    start = time.perf_counter()
    for _ in range(n):
        resp = vault.request("GET", url, grant_id=grant_id)
        if resp.status_code != 200:
            raise SystemExit("status %d" % resp.status_code)
    took = time.perf_counter() - start
    return took, n / took


if __name__ == "__main__":
    url, grant = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    took, rate = bench(av.Vault(), url, grant, n)
    print("%d sequential GETs in %.2fs: %.0f requests/s" % (n, took, rate))
