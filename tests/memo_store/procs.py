"""Entry point of the worker processes that memo-store tests start: ``python -m tests.memo_store.procs``.

Each command prints one JSON document on stdout; the test reads and checks it.
"""
from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> None:
    """Run one command against the namespace named in ``argv``."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salsaweb.settings.test")
    import django

    django.setup()
    from runtime import Runtime
    from runtime.db.storage import DatabaseStorage
    from tests.execution_log import log

    from . import programs

    command, namespace, *rest = argv
    rt = Runtime(storage=DatabaseStorage(namespace))
    if command == "total":
        out = {"total": programs.total(rt), "revision": rt.revision, "runs": len(log.take())}
    elif command == "read":
        seconds = float(rest[0])
        seen = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with rt.unit_of_work():
                total = programs.slow_total(rt)
                seen.append([rt.storage.revision, total])  # after: a restart moves the revision on
        out = {"seen": seen}
    elif command == "write":
        count, cells = int(rest[0]), int(rest[1])
        log = []
        for j in range(count):
            i = (j * 7) % cells
            programs.value.set(rt, i, float(j))
            log.append([rt.revision, i, float(j)])
            time.sleep(0.01)
        out = {"log": log}
    elif command == "running_total":
        total = programs.running_total(rt)
        out = {"total": list(total), "revision": rt.revision, "log": _plain(log.take())}
    elif command == "set_items":
        # JSON {"k": value or null (delete)}; "count" sets the count; all in one transaction.
        with rt.transaction():
            for k, v in json.loads(rest[0]).items():
                if k == "count":
                    programs.count.set(rt, v)
                elif v is None:
                    programs.item.delete(rt, int(k))
                else:
                    programs.item.set(rt, int(k), v)
        out = {"revision": rt.revision}
    elif command == "watch_items":
        n, seconds = int(rest[0]), float(rest[1])
        seen = [[rt.revision, list(programs.items(rt, n))]]
        print("ready", flush=True)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with rt.unit_of_work():
                values = list(programs.items(rt, n))
                seen.append([rt.storage.revision, values])  # after: a restart moves the revision on
            time.sleep(0.005)
        out = {"seen": seen}
    elif command == "chain":
        for n in range(int(rest[0]) + 1):
            programs.chain(rt, n)
            print(n, flush=True)
        out = {"done": True}
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(out), flush=True)


def _plain(entries: list) -> list:
    """Log entries as JSON-able lists (a MISSING value as the string "MISSING")."""
    from runtime import MISSING

    def plain(value):
        if value is MISSING:
            return "MISSING"
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return value

    return plain(entries)


if __name__ == "__main__":
    main(sys.argv[1:])
