"""Database setup shared by the benchmarks: Django on a fresh SQLite file, and PostgreSQL when it answers.

    from databases import setup_databases   # a bench script's own folder is first on sys.path
    aliases = setup_databases("postgres://postgres@127.0.0.1:5432/salsaweb_bench")

SQLite is the ``default`` alias (a new temporary file, WAL mode as the default settings use);
PostgreSQL, when a URL is given and the server answers, is the ``postgres`` alias, on a
database of the URL's name that is dropped and created again here.  Both are migrated.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Seconds to wait for PostgreSQL to answer before benchmarking without it.
CONNECT_TIMEOUT = 3


def setup_databases(postgres: str | None, *, require_postgres: bool = False) -> list[str]:
    """Configure Django on a temporary SQLite file (and PostgreSQL); return the aliases to bench.

    An unreachable PostgreSQL is skipped with a printed note, or is an error (SystemExit)
    when ``require_postgres``.
    """
    sqlite_path = Path(tempfile.mkdtemp()) / "bench.sqlite3"
    os.environ["DATABASE_URL"] = f"sqlite:///{sqlite_path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salsaweb.settings.base")
    import django
    from django.conf import settings

    from salsaweb.env import database_config

    aliases = ["default"]
    if postgres:
        import psycopg

        server, name = postgres.rsplit("/", 1)
        try:
            with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
            settings.DATABASES["postgres"] = database_config(postgres, conn_max_age=0)
            aliases.append("postgres")
        except psycopg.Error as exc:
            message = f"PostgreSQL not benchmarked: {exc}".strip()
            if require_postgres:
                raise SystemExit(message) from exc
            print(message)
    django.setup()
    from django.core.management import call_command

    for alias in aliases:
        call_command("migrate", database=alias, verbosity=0)
    return aliases
