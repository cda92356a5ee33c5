"""Container health check: GET /healthz on this container, standard library only.

Django answers only Host headers in ALLOWED_HOSTS, so the probe sends the first one (a
leading-dot wildcard becomes its bare domain; `*` becomes localhost). /healthz is exempt
from the SSL redirect, so plain HTTP is fine. Exit 0 when healthy, 1 otherwise.
"""

import os
import sys
import urllib.request

PORT = os.environ.get("PORT", "8000")


def probe_host() -> str:
    first = os.environ.get("ALLOWED_HOSTS", "localhost").split(",")[0].strip()
    if not first or first == "*":
        return "localhost"
    return first.lstrip(".")


def main() -> int:
    request = urllib.request.Request(  # noqa: S310 - a fixed http:// URL on loopback
        f"http://127.0.0.1:{PORT}/healthz", headers={"Host": probe_host()}
    )
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310  # nosec B310
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
