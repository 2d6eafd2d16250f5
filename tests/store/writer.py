"""A separate process that writes into a store, for the concurrency tests.

``python writer.py URL PREFIX N GO_FILE [shared]``: opens the store, waits until GO_FILE
exists (so that the writers start together), records N outcomes, one transaction each, and
prints ``[[key, outcome_id, created], ...]`` as JSON. With ``shared`` the keys do not carry
the prefix: every writer sends the same outcomes (a phone retrying through two servers).
``python writer.py URL open`` only opens (and so migrates) the store.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from storehelp import outcome

from optimizer.store.db import Store
from optimizer.store.events import record_outcome

CODES = [("not_home", {}), ("promise_to_pay", {"amount": 500, "promise_date": "2026-12-09"}),
         ("partial_payment", {"amount": 100}), ("refused", {}), ("no_attempt", {}),
         ("instalment_agreed", {"instalment_count": 3, "instalment_first_date": "2026-12-10",
                                "instalment_amount": 300})]


def main(argv: list[str]) -> int:
    url = argv[0]
    if argv[1] == "open":
        Store.open(url).close()
        return 0
    prefix, n, go = argv[1], int(argv[2]), Path(argv[3])
    shared = len(argv) > 4 and argv[4] == "shared"
    store = Store.open(url)
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.002)
    out = []
    for i in range(n):
        code, fields = CODES[i % len(CODES)]
        key = f"shared-{i}" if shared else f"{prefix}-{i}"
        o = outcome(key, f"W{i % 20:02d}", code, f"2026-12-01 {9 + i % 10:02d}:{i % 60:02d}",
                    **fields)
        with store.session() as s:
            r = record_outcome(s, o, actor=f"writer:{prefix}")
        out.append([key, r.outcome_id, r.created])
    store.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
