"""The embedded broker: kombu's filesystem transport with whole-file writes, for one machine and no server.

kombu's filesystem transport writes each message file in place, so a worker polling the
folder can take a file that is still empty and fail on it (kombu issue 1551), and it moves
taken files to the system's temporary folder, which may be another file system.  Here a
message is written under a temporary name and renamed into the queue folder, and a consumer
takes one by renaming it into a claim folder beside it, so each message is read whole by
exactly one consumer.  Every folder lives under the ``folder`` transport option, created on
first use.  Like kombu's, it keeps a taken message only in the consumer's memory until it
is acknowledged: a consumer killed with ``-9`` loses the messages it held (the training
sweep sends the work again from the database; see ``regression.leases``).
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from queue import Empty
from time import monotonic_ns
from typing import Any

from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property


class Channel(filesystem.Channel):
    """A filesystem channel whose message files appear whole and are taken by one consumer."""

    @cached_property
    def root(self) -> Path:
        """The broker's folder, with its ``queue``, ``staging``, ``claimed`` and ``control`` folders."""
        root = Path(self.transport_options.get("folder", "broker"))
        for name in ("queue", "staging", "claimed", "control"):
            (root / name).mkdir(parents=True, exist_ok=True)
        return root

    @cached_property
    def data_folder_in(self) -> str:  # type: ignore[override]
        return str(self.root / "queue")

    @cached_property
    def data_folder_out(self) -> str:  # type: ignore[override]
        return str(self.root / "queue")

    @property
    def control_folder(self) -> Path:  # type: ignore[override]
        return self.root / "control"

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        """Write the message under a temporary name, then rename it into the queue folder."""
        name = f"{monotonic_ns():020d}_{uuid.uuid4()}.{queue}.msg"  # names sort in sending order
        staging = self.root / "staging" / name
        staging.write_bytes(str_to_bytes(dumps(payload)))
        os.replace(staging, Path(self.data_folder_out) / name)

    def _get(self, queue: str) -> Any:
        """Take the oldest message of ``queue`` by renaming it into the claim folder; read it; delete it."""
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = self.root / "claimed" / name
            try:
                os.rename(Path(self.data_folder_in) / name, claimed)
            except FileNotFoundError:  # another consumer took it first
                continue
            payload = claimed.read_bytes()
            claimed.unlink()
            return loads(bytes_to_str(payload))
        raise Empty()


class Transport(filesystem.Transport):
    """Select with ``broker_transport = "salsaweb.broker:Transport"`` (Celery's ``CELERY_BROKER_TRANSPORT``)."""

    Channel = Channel
