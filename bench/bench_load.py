"""Upload load on a real server: uploads/s and p50/p99 latency at 4, 8 and 16 concurrent clients.

For each database (a fresh SQLite file; PostgreSQL at ``--postgres``/``--db``, dropped and
created again) and each ``CONN_MAX_AGE`` given, this migrates, starts ``gunicorn
salsaweb.wsgi:application --workers 2`` on production settings (the default cache, a
table in the same database; the write limit raised out of the way), and has N client
threads each POST CSV batches (``--rows`` rows, new numbers each time) to a dataset of its
own as fast as the server answers, for ``--seconds`` after a warm-up. No Celery worker runs:
the training messages wait in an embedded broker folder, so this measures the web tier
(parse, store, queue) alone. Uploads/s counts the answers that arrived within the measured
seconds, p50/p99 their latencies. At the end it checks that every dataset holds exactly
the batches that were answered 201/202.

    python bench/bench_load.py                                       # SQLite and PostgreSQL, 4/8/16 clients
    python bench/bench_load.py --databases postgres --conn-max-age 0 60 --seconds 5

Wall-clock figures on a shared 2-core machine (clients and server share the cores): run it on a quiet one.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-load-password-1"
#: Seconds a started server may take to answer /healthz.
START_TIMEOUT = 90


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    parser.add_argument("--clients", nargs="+", type=int, default=[4, 8, 16])
    parser.add_argument("--conn-max-age", nargs="+", type=int, default=[60, 0],
                        help="CONN_MAX_AGE values to run (60 is production's default)")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per client count")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring")
    parser.add_argument("--rows", type=int, default=100, help="rows per uploaded CSV batch")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db", default="salsaweb_bench_load", help="PostgreSQL database to (re)create")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(database_url: str, conn_max_age: int, broker: Path) -> dict[str, str]:
    """Production settings on this database, plain HTTP on 127.0.0.1, writes unthrottled, quiet log."""
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "salsaweb.settings.production",
            "DJANGO_SECRET_KEY": "bench-only-" + "k" * 50, "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECURE_SSL_REDIRECT": "false", "DJANGO_LOG_LEVEL": "WARNING", "DATABASE_URL": database_url,
            "CONN_MAX_AGE": str(conn_max_age), "SALSAWEB_WRITE_RATE": "100000000/min",
            "CELERY_BROKER_URL": "filesystem://localhost/", "CELERY_BROKER_FOLDER": str(broker)}


def prepare_database(name: str, args: argparse.Namespace, workdir: Path) -> str:
    """A new, migrated database with the bench user; its URL."""
    if name == "sqlite":
        url = f"sqlite:///{workdir / 'load.sqlite3'}"
    else:
        import psycopg

        with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{args.db}"')
        url = f"{args.postgres}/{args.db}"
    env = {**server_env(url, 0, workdir / "broker"), "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    for command in (["migrate", "-v0"], ["createsuperuser", "--noinput", "--username", "bench", "--email", ""]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
    return url


class Server:
    """``gunicorn --workers 2`` on production settings, stopped on exit."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "salsaweb.wsgi:application", "--workers", "2",
                 "--bind", f"127.0.0.1:{self.port}"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.proc.returncode}:\n{log.read_text()}")
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit(f"gunicorn did not answer within {START_TIMEOUT} s:\n{log.read_text()}")

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """One request on a new connection (gunicorn's sync workers close each one): status and body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, payload: Any, token: str | None = None) -> Any:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Token {token}"} if token else {})}
        status, body = self.request(method, path, json.dumps(payload).encode() if payload is not None else None,
                                    headers)
        if status >= 300:
            raise SystemExit(f"{method} {path}: {status} {body[:300]!r}")
        return json.loads(body)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def multipart(csv_text: str, name: str) -> tuple[bytes, str]:
    """A multipart/form-data body with one ``file`` field, and its content type."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: text/csv\r\n\r\n{csv_text}\r\n--{boundary}--\r\n").encode()
    return body, f"multipart/form-data; boundary={boundary}"


def batches(rng: np.random.Generator, count: int, rows: int) -> list[tuple[bytes, str]]:
    """``count`` distinct CSV bodies of ``rows`` rows of y = 2 x0 - x1 + 3 + noise, built before timing."""
    out = []
    for i in range(count):
        X = rng.normal(0.0, 1.0, (rows, 2))
        y = X @ [2.0, -1.0] + 3.0 + rng.normal(0.0, 0.1, rows)
        lines = (f"{a!r},{b!r},{c!r}" for a, b, c in zip(X[:, 0].tolist(), X[:, 1].tolist(), y.tolist()))
        text = "x0,x1,y\n" + "\n".join(lines) + "\n"
        out.append(multipart(text, f"b{i}.csv"))
    return out


def run_level(server: Server, token: str, clients: int, args: argparse.Namespace, tag: str) -> dict[str, Any]:
    """N clients uploading for warm-up + measured seconds: uploads/s and latencies of the measured part."""
    datasets = [server.json("POST", "/api/datasets/", {"name": f"{tag}-{clients}-{i}", "features": ["x0", "x1"],
                                                       "target": "y", "modes": ["incremental"]}, token)["id"]
                for i in range(clients)]
    rng = np.random.default_rng(clients)
    # Enough bodies for a generous upper bound of uploads per client.
    bodies = [batches(rng, int(400 * (args.seconds + args.warmup) / clients) + 20, args.rows) for _ in datasets]
    start = time.monotonic() + 0.2
    measure_from, stop_at = start + args.warmup, start + args.warmup + args.seconds
    results: list[list[tuple[float, float, int]]] = [[] for _ in datasets]

    def client(k: int) -> None:
        while time.monotonic() < start:
            time.sleep(0.001)
        for body, content_type in bodies[k]:
            began = time.monotonic()
            if began >= stop_at:  # the last request may end after the window: it counts only if it ended in it
                return
            status, _ = server.request("POST", f"/api/datasets/{datasets[k]}/batches/", body,
                                       {"Content-Type": content_type, "Authorization": f"Token {token}"})
            results[k].append((began, time.monotonic() - began, status))
        raise SystemExit("ran out of prepared bodies: raise the bound in run_level")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = [sum(1 for _, _, status in rows if status in (201, 202)) for rows in results]
    listed = {d["id"]: d["batches"] for d in server.json("GET", "/api/datasets/", None, token)["results"]}
    for dataset, count in zip(datasets, accepted):
        if listed.get(dataset) != count:
            raise SystemExit(f"dataset {dataset}: {count} uploads accepted but {listed.get(dataset)} batches stored")
    # The answers that arrived in the measured window, however long ago their request began.
    measured = [(latency, status) for rows in results for began, latency, status in rows
                if measure_from <= began + latency <= stop_at]
    ok = sorted(latency for latency, status in measured if status in (201, 202))
    cuts = statistics.quantiles(ok, n=100, method="inclusive") if len(ok) >= 2 else [float("nan")] * 99
    return {"clients": clients, "rate": len(ok) / args.seconds, "p50": cuts[49] * 1000, "p99": cuts[98] * 1000,
            "errors": len(measured) - len(ok)}


def main() -> None:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    rows: list[tuple[str, int, dict[str, Any]]] = []
    for name in args.databases:
        url = prepare_database(name, args, workdir)
        for conn_max_age in args.conn_max_age:
            server = Server(server_env(url, conn_max_age, workdir / "broker"), workdir / f"gunicorn-{name}.log")
            try:
                token = server.json("POST", "/api/auth/token/", {"username": "bench", "password": PASSWORD})["token"]
                for clients in args.clients:
                    result = run_level(server, token, clients, args, f"{name}-{conn_max_age}")
                    rows.append((name, conn_max_age, result))
                    print(f"  {name} CONN_MAX_AGE={conn_max_age} {clients} clients: {result['rate']:.1f} uploads/s",
                          flush=True)
            finally:
                server.stop()
    print(f"\ngunicorn --workers 2, production settings; {args.rows}-row CSV uploads, {args.seconds:g} s per row "
          f"after {args.warmup:g} s warm-up\n")
    print(f"{'database':<9} {'CONN_MAX_AGE':>12} {'clients':>7} {'uploads/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6}")
    for name, conn_max_age, r in rows:
        print(f"{name:<9} {conn_max_age:>12} {r['clients']:>7} {r['rate']:>10.1f} {r['p50']:>8.1f} {r['p99']:>8.1f} "
              f"{r['errors']:>6}")
    by_key = {(name, age, r["clients"]): r for name, age, r in rows}
    ratios = [(name, clients, r["rate"] / by_key[(name, 0, clients)]["rate"])
              for (name, age, clients), r in by_key.items() if age == 60 and (name, 0, clients) in by_key]
    if ratios:
        print("\nuploads/s with CONN_MAX_AGE=60 over 0:")
        for name, clients, ratio in ratios:
            print(f"  {name:<9} {clients:>2} clients: {ratio:.2f}x")


if __name__ == "__main__":
    main()
