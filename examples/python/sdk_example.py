"""Call an API through the alter sidecar with the Python SDK.

    pip install ./sdk/python          (from the alter repository)

The SDK talks plain HTTP to the sidecar (ALTER_PROXY, default
http://127.0.0.1:8080), so there is no CA or proxy setting to make:
  ALTER_GRANT   the grant id `alter secret add` printed
  TARGET_URL    what to call

The application never sees the API credential: the sidecar injects it. A
refusal by the sidecar raises the error of its code; the API's own 4xx and
5xx come back as ordinary responses.
"""
import os
import sys

import alter_vault


def main():
    grant = os.environ.get("ALTER_GRANT")
    url = os.environ.get("TARGET_URL")
    if not grant or not url:
        sys.exit("set ALTER_GRANT and TARGET_URL")
    try:
        resp = alter_vault.Vault().request("GET", url, grant_id=grant, reason="examples/python (sdk)",
                                           context={"tool": "sdk_example"})
    except alter_vault.ProxyError as e:
        sys.exit(f"alter refused the request: {e}")
    if not resp.ok:
        print(f"the API answered {resp.status_code}", file=sys.stderr)
    sys.stdout.write(resp.text)
    sys.exit(0 if resp.ok else 1)


if __name__ == "__main__":
    main()
