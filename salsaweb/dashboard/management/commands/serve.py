"""``python manage.py serve [addr:port]``: migrate, first run, then the web server and a Celery worker together.

The worker is a real ``celery -A salsaweb worker`` child process (in its own process group,
restarted if it dies); the web server is Django's ``runserver`` without the autoreloader.
SIGINT (Ctrl-C) and SIGTERM stop both, in a terminal or not: the handlers are installed
explicitly, because Python started in the background by a script inherits SIGINT ignored.
The worker gets a warm shutdown for up to ``--stop-timeout`` seconds (default 1.5, so both are
gone within 3 s; on a busy machine an idle Celery worker can take 8 s to exit by itself) and is then killed;
a training it was running resumes from its last checkpoint once its lease runs out.
"""
from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import threading
import time
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

    @property
    def pid(self) -> int | None:
        """The current worker process's id (None before it starts)."""
        return self.proc.pid if self.proc is not None else None

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
                self.write(f"Worker (pid {proc.pid}) stopped.")
            except subprocess.TimeoutExpired:
                self.write(f"Worker (pid {proc.pid}) not done after {timeout:g} s: killed it (a training it was "
                           "running resumes from its last checkpoint once its lease runs out).")
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and any pool process it left behind
        except ProcessLookupError:
            pass
        proc.wait()


class StopSignals:
    """SIGINT and SIGTERM handlers: the first says what stops and interrupts the main thread; later ones wait."""

    def __init__(self, write: Any) -> None:
        self.write = write
        self.worker: WorkerProcess | None = None
        self.received: float | None = None

    def install(self) -> None:
        """Handle both signals whatever this process inherited (a script's ``&`` leaves SIGINT ignored)."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.received is not None:
            self.write(f"{name}: already stopping (for {time.monotonic() - self.received:.1f} s)")
            return
        self.received = time.monotonic()
        pid = self.worker.pid if self.worker is not None else None
        worker = f" and the worker (pid {pid})" if pid is not None else ""
        self.write(f"{name}: stopping the web server (pid {os.getpid()}){worker}...")
        raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Migrate, then run the web server and a Celery worker together; Ctrl-C stops both."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="Address and port to serve on.")
        parser.add_argument("--concurrency", type=int, help="Worker processes (default: one per core).")
        parser.add_argument("--stop-timeout", type=float, default=1.5,
                            help="Seconds the worker may take to stop by itself before it is killed (default 1.5).")

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
        signals = StopSignals(self.stdout.write)
        signals.install()
        argv = [sys.executable, "-m", "celery", "-A", "salsaweb", "worker", "--loglevel=INFO"]
        if options["concurrency"]:
            argv.append(f"--concurrency={options['concurrency']}")
        try:
            call_command("migrate", interactive=False, verbosity=options["verbosity"])
            # A new installation gets an account to sign in with (its password printed once) and samples.
            call_command("first_run", url=f"http://{options['addrport']}/", verbosity=options["verbosity"])
            signals.worker = WorkerProcess(argv, self.stdout.write)
            signals.worker.start()
            call_command("runserver", options["addrport"], use_reloader=False)  # exits on KeyboardInterrupt
        except KeyboardInterrupt:
            pass  # stopped before the web server started
        finally:
            if signals.worker is not None:
                signals.worker.stop(options["stop_timeout"])
            if signals.received is not None:
                self.stdout.write(f"Stopped in {time.monotonic() - signals.received:.1f} s.")
            gc.freeze()  # exit without collecting the whole heap: seconds on a busy machine
