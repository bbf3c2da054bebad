"""Wait until the configured database accepts connections; exit 1 after DB_WAIT_TIMEOUT seconds.

Run by deploy/entrypoint.sh before anything that needs the database, so that a web container
started next to a database that is still booting waits instead of crashing in a loop.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exnaton.settings")


def main() -> int:
    import django

    django.setup()
    from django.db import OperationalError, connection

    timeout = float(os.environ.get("DB_WAIT_TIMEOUT", "60"))
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            connection.ensure_connection()
        except OperationalError as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            if time.monotonic() >= deadline:
                print(
                    f"wait-for-db: database unreachable after {timeout:g}s "
                    f"({attempt} attempts): {reason}",
                    file=sys.stderr,
                )
                return 1
            print(f"wait-for-db: database not ready yet ({reason}); retrying", file=sys.stderr)
            time.sleep(1)
        else:
            connection.close()
            print(f"wait-for-db: database is up after {attempt} attempt(s)", file=sys.stderr)
            return 0


if __name__ == "__main__":
    sys.exit(main())
