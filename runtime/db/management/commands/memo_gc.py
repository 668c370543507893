"""``manage.py memo_gc``: report the memo store's size and remove what no longer serves (see ``runtime.db.gc``)."""
from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from runtime.db.gc import DEFAULT_BATCH_SIZE, GcResult, SizeRow, collect_garbage, store_report
from runtime.db.models import Namespace


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    """Align text columns left and number columns right."""
    cells = [headers] + [[f"{v:,}" if isinstance(v, int) else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [bool(rows) and isinstance(rows[0][i], int) for i in range(len(headers))]
    lines = [
        "  ".join(cell.rjust(w) if num else cell.ljust(w) for cell, w, num in zip(row, widths, numeric)).rstrip()
        for row in cells
    ]
    return "\n".join(lines)


class Command(BaseCommand):
    """Report rows, edges and value bytes per namespace and function; with --delete, remove garbage in batches."""

    help = (
        "Report the memo store's size per namespace and function and what garbage collection would remove: "
        "namespaces marked deleted, and with --stale-code / --unverified-before, memos of code that no longer "
        "exists or not verified since a revision, and old input values no maintained memo names. Only --delete "
        "removes anything, in batches that each hold the namespace's lock, so it is safe while workers run; "
        "removed memos re-execute on next use."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare the options."""
        parser.add_argument(
            "--delete", action="store_true", help="Remove what the report lists (default: report only)."
        )
        parser.add_argument("--namespace", metavar="NAME", help="Only this namespace.")
        parser.add_argument(
            "--unverified-before",
            type=int,
            metavar="REV",
            help="Memos whose verified_at is below REV (each namespace has its own revision counter).",
        )
        parser.add_argument(
            "--stale-code",
            action="store_true",
            help="Memos of functions that no longer exist (importing their modules to check) or whose code "
            "version is not the current one.",
        )
        parser.add_argument(
            "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N", help="Rows per transaction."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Print the size report, then run (or count) the removals."""
        name, batch_size = options["namespace"], options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if options["unverified_before"] is not None and options["unverified_before"] < 0:
            raise CommandError("--unverified-before must be a revision (0 or more)")
        if name is not None and not Namespace.objects.filter(name=name).exists():
            raise CommandError(f"no namespace named {name!r}")
        self._report(store_report(name))
        result = collect_garbage(
            namespace=name,
            unverified_before=options["unverified_before"],
            stale_code=options["stale_code"],
            delete=options["delete"],
            batch_size=batch_size,
        )
        self._removals(result, options["delete"])

    def _report(self, rows: list[SizeRow]) -> None:
        self.stdout.write("Store size")
        if not rows:
            self.stdout.write("  (empty)")
            return
        body = [
            [r.namespace + (" (deleted)" if r.deleted else ""), r.kind, r.function, r.rows, r.edges, r.value_bytes]
            for r in rows
        ]
        body.append(["total", "", "", *(sum(row[i] for row in body) for i in (3, 4, 5))])
        self.stdout.write(_table(["namespace", "kind", "function", "rows", "edges", "value bytes"], body))

    def _removals(self, result: GcResult, deleted: bool) -> None:
        self.stdout.write("")
        self.stdout.write("Removed" if deleted else "Would remove (dry run; pass --delete to remove)")
        if result.removals:
            body = [[r.namespace, r.rule, r.detail, r.memos, r.edges, r.inputs, r.log, r.versions]
                    for r in result.removals]
            self.stdout.write(
                _table(["namespace", "rule", "detail", "memos", "edges", "inputs", "log", "old values"], body)
            )
        else:
            self.stdout.write("  nothing")
        for skipped in result.skipped:
            self.stderr.write(f"skipped (cannot tell whether it exists; memos kept): {skipped}")
