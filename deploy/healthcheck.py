"""Container HEALTHCHECK: exit 0 when this container's gunicorn answers GET /healthz with 200.

It asks with a Host header from DJANGO_ALLOWED_HOSTS, since Django answers 400 to a host it
does not serve, and 127.0.0.1 need not be one of them in production.
"""

import http.client
import os
import sys


def probe_host() -> str:
    """The first allowed host that names one machine; `localhost` for patterns like `*`."""
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(","):
        host = host.strip().lstrip(".")
        if host and "*" not in host:
            return host
    return "localhost"


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz", headers={"Host": probe_host()})
        status = connection.getresponse().status
    except OSError as error:
        print(f"healthcheck: no answer on port {port}: {error}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if status != 200:
        print(f"healthcheck: /healthz answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
