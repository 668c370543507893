"""What a newcomer's first timing chart shows: per-batch training time of the sample datasets, naive vs incremental.

Creates the samples as ``first_run`` does (``samples_seed``: every mode trained after each
batch) on a new SQLite file, or with ``--houses-rows`` / ``--houses-batches`` the houses
sample at other sizes, and prints each dataset's wall time per batch and mode, then the
ratios the dashboard's caption promises: naive grows (last batch / first batch) while
incremental stays flat (last / first), and naive / incremental at the last batch.

    python bench/bench_samples.py                                  # the samples as shipped
    python bench/bench_samples.py --houses-rows 200 --houses-batches 6   # another size
"""
from __future__ import annotations

import argparse
import os
import statistics as stats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--houses-rows", type=int, help="rows per houses batch (default: as shipped)")
    parser.add_argument("--houses-batches", type=int, help="houses batches (default: as shipped)")
    return parser.parse_args()


def setup_django() -> None:
    """A new SQLite file with the tables."""
    path = Path(tempfile.mkdtemp(prefix="bench-samples-")) / "bench.sqlite3"
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salsaweb.settings.test")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def main() -> None:
    args = parse_args()
    setup_django()
    from django.contrib.auth import get_user_model

    from salsaweb.dashboard import samples
    from salsaweb.regression.models import BatchRun

    owner = get_user_model().objects.create_user(username="newcomer")
    started = time.perf_counter()
    if args.houses_rows or args.houses_batches:
        batches = samples.house_batches(count=args.houses_batches or samples.HOUSE_BATCHES,
                                        rows=args.houses_rows or samples.HOUSE_ROWS)
        datasets = [samples.sample_create(owner=owner, name=samples.HOUSES_NAME, features=samples.HOUSE_FEATURES,
                                          target=samples.HOUSE_TARGET, modes=["incremental", "naive"],
                                          batches=batches, stem="houses")]
    else:
        datasets = samples.samples_seed(owner=owner)
    print(f"seeded in {time.perf_counter() - started:.1f} s")
    for dataset in datasets:
        runs = BatchRun.objects.filter(dataset=dataset).order_by("revision", "mode")
        table: dict[int, dict[str, float]] = {}
        rows: dict[int, int] = {}
        for run in runs:
            table.setdefault(run.revision, {})[run.mode] = run.wall_ms
            rows[run.revision] = run.rows_total
        modes = dataset.modes
        print(f"\n{dataset.name}")
        print(f"{'batch':>5} {'rows':>8} " + " ".join(f"{mode + ' ms':>15}" for mode in modes))
        for revision in sorted(table):
            print(f"{revision:>5} {rows[revision]:>8,} " + " ".join(f"{table[revision][m]:>15.1f}" for m in modes))
        first, last = sorted(table)[:2], sorted(table)[-2:]  # two batches each end, against one-off noise

        def at(revisions: list[int], mode: str) -> float:
            return stats.mean(table[r][mode] for r in revisions)

        for mode in modes:
            print(f"{mode}: last two batches / first two = {at(last, mode) / at(first, mode):.2f}")
        if "naive" in modes and "incremental" in modes:
            print(f"naive / incremental over the last two batches = {at(last, 'naive') / at(last, 'incremental'):.2f}")


if __name__ == "__main__":
    main()
