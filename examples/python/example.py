"""Call an API through the alter proxy with Python requests.

Only standard settings, which requests reads from the environment itself:
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY  where the proxy is
  REQUESTS_CA_BUNDLE                 the file `alter ca export` wrote; it replaces
                                     certifi's bundle, so for other HTTPS hosts
                                     reached directly, append the CA to a copy of
                                     that bundle instead
  ALTER_GRANT                        the grant id `alter secret add` printed
  TARGET_URL                         what to call

The application never sees the API credential: the proxy injects it.
"""
import os
import sys

import requests


def main():
    grant = os.environ.get("ALTER_GRANT")
    url = os.environ.get("TARGET_URL")
    if not grant or not url:
        sys.exit("set ALTER_GRANT and TARGET_URL")
    resp = requests.get(
        url,
        headers={"X-Alter-Grant": grant, "X-Alter-Reason": "examples/python"},
        timeout=30,
    )
    # X-Alter-Error marks an answer made by the proxy, never by the API.
    refusal = resp.headers.get("X-Alter-Error")
    if refusal:
        sys.exit(f"alter refused the request: {resp.status_code} {refusal}: {resp.text}")
    if not resp.ok:
        print(f"the API answered {resp.status_code}", file=sys.stderr)
    sys.stdout.write(resp.text)
    sys.exit(0 if resp.ok else 1)


if __name__ == "__main__":
    main()
