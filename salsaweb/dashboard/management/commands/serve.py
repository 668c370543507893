"""``python manage.py serve [addr:port]``: migrate, first run, then the web server and a Celery worker together.

The worker is a real ``celery -A salsaweb worker`` child process (in its own process group,
restarted if it dies); the web server is Django's ``runserver`` without the autoreloader.
Ctrl-C or SIGTERM stops both: the worker gets a warm shutdown (it finishes its task) for up
to ``--stop-timeout`` seconds and is then killed; its work resumes from the last stored
iteration when a worker starts again.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser


class WorkerProcess:
    """A ``celery worker`` child process, restarted when it exits by itself, stopped on request."""

    def __init__(self, argv: list[str], write: Any) -> None:
        self.argv, self.write = argv, write
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def start(self) -> None:
        """Start the worker and a thread that restarts it if it dies."""
        with self.lock:
            self.proc = subprocess.Popen(self.argv, start_new_session=True)
        self.write(f"Worker started (pid {self.proc.pid}): {' '.join(self.argv[1:])}")
        threading.Thread(target=self._watch, name="worker-watch", daemon=True).start()

    def _watch(self) -> None:
        while True:
            assert self.proc is not None
            code = self.proc.wait()
            if self.stopping.wait(1.0):
                return
            with self.lock:
                if self.stopping.is_set():
                    return
                self.write(f"Worker exited with code {code}; starting it again")
                self.proc = subprocess.Popen(self.argv, start_new_session=True)

    def stop(self, timeout: float) -> None:
        """Warm shutdown (SIGTERM) for up to ``timeout`` seconds, then kill the worker's process group."""
        with self.lock:
            self.stopping.set()
            proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.write(f"Worker still busy after {timeout:g} s: killing it (its work resumes on the next start)")
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and any pool process it left behind
        except ProcessLookupError:
            pass
        proc.wait()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Migrate, then run the web server and a Celery worker together; Ctrl-C stops both."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="Address and port to serve on.")
        parser.add_argument("--concurrency", type=int, help="Worker processes (default: one per core).")
        parser.add_argument("--stop-timeout", type=float, default=10.0,
                            help="Seconds the worker may take to finish its task when stopping (default 10).")

    def handle(self, *args: Any, **options: Any) -> None:
        host, _, port = options["addrport"].rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        if not port.isdigit():
            raise CommandError(f"{options['addrport']!r} is not addr:port")
        try:  # fail before starting anything if the web server could not listen
            with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, int(port)))
        except OSError as exc:
            raise CommandError(f"cannot listen on {options['addrport']}: {exc.strerror}") from None
        call_command("migrate", interactive=False, verbosity=options["verbosity"])
        # A new installation gets an account to sign in with (its password printed once) and samples.
        call_command("first_run", url=f"http://{options['addrport']}/", verbosity=options["verbosity"])
        argv = [sys.executable, "-m", "celery", "-A", "salsaweb", "worker", "--loglevel=INFO"]
        if options["concurrency"]:
            argv.append(f"--concurrency={options['concurrency']}")
        worker = WorkerProcess(argv, self.stdout.write)
        worker.start()
        signal.signal(signal.SIGTERM, _interrupt)  # stop like Ctrl-C
        try:
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            worker.stop(options["stop_timeout"])
