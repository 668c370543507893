"""Time the memo-store admin pages and memo_gc on a million memo rows (PostgreSQL; run by hand, not in CI).

    createdb -h 127.0.0.1 -U postgres salsaweb_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salsaweb_bench python bench/memo_admin_bench.py [--rows N]

Migrates the database, fills it once (rows are generated in SQL, ~1 minute for a million;
rerun with --refill to regenerate), then prints, for each admin page, the median time of
three requests, the number of queries and the slowest query.  Everything it creates is in
namespaces named ``bench-*``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salsaweb.settings.local")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

from runtime.db.models import Memo, Namespace  # noqa: E402

NAMESPACES = 3
FUNCTIONS = 20


def fill(rows: int) -> None:
    """Generate ``rows`` memos over a few namespaces and functions, each with one derived edge."""
    Namespace.objects.filter(name__startswith="bench-").delete()
    with connection.cursor() as cursor:
        for i in range(NAMESPACES):
            cursor.execute(
                "INSERT INTO runtime_namespace (name, revision, epoch, created_at) VALUES (%s, 1000, 0, now())", [f"bench-{i}"]
            )
        cursor.execute(
            """
            INSERT INTO runtime_memo (namespace_id, function, args_key, label, key_digest, value, value_digest,
                                      preview, changed_at, executed_at, code_version, duration, written_at,
                                      deps, written_by, maintained, input_count)
            SELECT ns.id, 'bench.fn' || (g %% %(f)s), '(' || g || ',)', 'fn' || (g %% %(f)s) || '(rt, ' || g || ')',
                   md5(g::text) || substr(md5('x' || g), 1, 8), decode(md5(g::text) || md5('y' || g), 'hex'),
                   substr(md5(g::text), 1, 32), g::text, 1 + g %% 1000, 999, '0:v' || (g %% 3), random() / 100, now(),
                   decode('6d90', 'hex'), 'bench', false, 0
            FROM generate_series(1, %(rows)s) g
            JOIN runtime_namespace ns ON ns.name = 'bench-' || (g %% %(n)s)
            """ % {"rows": rows, "f": FUNCTIONS, "n": NAMESPACES}
        )
        cursor.execute(
            """
            INSERT INTO runtime_memodependency (memo_id, namespace_id, position, kind, function, args_key, key_digest)
            SELECT m.id, m.namespace_id, 0, 'derived', d.function, d.args_key, d.key_digest
            FROM runtime_memo m JOIN runtime_memo d ON d.id = m.id - %(n)s
            WHERE m.function LIKE 'bench.%%'
            """ % {"n": NAMESPACES}
        )
        cursor.execute(  # every other memo re-verified since its execution
            "INSERT INTO runtime_verification (memo_id, verified_at) "
            "SELECT id, 1000 FROM runtime_memo WHERE function LIKE 'bench.%' AND id % 2 = 0"
        )
        cursor.execute("ANALYZE")


def measure(client: Client, label: str, url: str) -> None:
    """Print the median of three requests, the query count and the slowest query."""
    times, captured = [], None
    reset_queries()  # a full query log (DEBUG keeps the last 9,000) would capture nothing
    for _ in range(3):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
    slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
    print(f"{label:<44} {statistics.median(times) * 1000:8.0f} ms  {len(captured):3d} queries  "
          f"slowest {float(slowest['time']) * 1000:6.0f} ms: {slowest['sql'][:90]}")


def main() -> None:
    """Fill if needed, then time the pages and the GC report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--refill", action="store_true")
    options = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("needs PostgreSQL: set DATABASE_URL=postgres://...")
    call_command("migrate", verbosity=0)
    if options.refill or not Namespace.objects.filter(name="bench-0").exists():
        start = time.perf_counter()
        fill(options.rows)
        print(f"filled {options.rows:,} memos in {time.perf_counter() - start:.0f} s")
    setup_test_environment()
    user, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    memos = reverse("admin:runtime_memo_changelist")
    ns = Namespace.objects.get(name="bench-1").pk
    memo = Memo.objects.filter(namespace_id=ns).only("id").order_by("-id").first()
    print(f"{Memo.objects.filter(function__startswith='bench.').count():,} bench memos")
    for label, url in [
        ("memo list", memos),
        ("memo list, page 90", memos + "?p=90"),
        ("memo list, namespace", memos + f"?namespace__id__exact={ns}"),
        ("memo list, function", memos + "?function=bench.fn7"),
        ("memo list, namespace + function + code", memos + f"?namespace__id__exact={ns}&function=bench.fn7"
         "&code_version=0:v1"),
        ("memo list, code version", memos + "?code_version=0:v2"),
        ("memo list, changed at current revision", memos + "?changed=current"),
        ("memo list, sorted by changed_at, namespace", memos + f"?namespace__id__exact={ns}&o=4"),
        ("memo list, search 'fn7(rt, 12'", memos + "?q=fn7(rt%2C+12"),
        ("memo page", reverse("admin:runtime_memo_change", args=[memo.pk])),
        ("namespace list", reverse("admin:runtime_namespace_changelist")),
    ]:
        measure(client, label, url)
    start = time.perf_counter()
    call_command("memo_gc", stdout=open(os.devnull, "w"))
    print(f"{'memo_gc report':<44} {(time.perf_counter() - start) * 1000:8.0f} ms")


if __name__ == "__main__":
    main()
