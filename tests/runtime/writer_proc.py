"""A second process that writes inputs: ``python -m tests.runtime.writer_proc``.

Reads one JSON document a line, ``{"namespace": ..., "edit": [...]}``, applies the edit
(tests/runtime/maintained_programs.py) to that namespace of the database store, and answers
``{"revision": ...}`` on a line of its own; exits at the end of its input.
"""
from __future__ import annotations

import json
import os
import sys


def main() -> None:
    """Apply the edits read from stdin, one namespace's runtime each, answering every one."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salsaweb.settings.test")
    import django

    django.setup()
    from runtime import Runtime
    from runtime.db.storage import DatabaseStorage

    from .maintained_programs import apply_edit

    runtimes: dict[str, Runtime] = {}
    for line in sys.stdin:
        request = json.loads(line)
        namespace = request["namespace"]
        rt = runtimes.get(namespace)
        if rt is None:
            rt = runtimes[namespace] = Runtime(DatabaseStorage(namespace))
        apply_edit(rt, request["edit"])
        print(json.dumps({"revision": rt.revision}), flush=True)


if __name__ == "__main__":
    main()
