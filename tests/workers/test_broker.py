"""The embedded broker: messages are taken in sending order, each by one consumer, and no file is left behind."""
from __future__ import annotations

from pathlib import Path

from kombu import Connection, Exchange, Queue

QUEUE = Queue("jobs", Exchange("jobs"), routing_key="jobs")


def _connection(folder: Path) -> Connection:
    return Connection("filesystem://localhost/", transport="salsaweb.broker:Transport",
                      transport_options={"folder": str(folder)})


def test_messages_round_trip_in_order_and_each_is_taken_once(tmp_path):
    with _connection(tmp_path) as producer_conn, _connection(tmp_path) as a, _connection(tmp_path) as b:
        producer = producer_conn.Producer()
        for i in range(6):
            producer.publish({"n": i}, exchange=QUEUE.exchange, routing_key="jobs", declare=[QUEUE])
        assert list((tmp_path / "staging").iterdir()) == []  # written whole, then renamed into the queue
        taken = []
        for consumer in (a, b, a, b, a, b):
            message = QUEUE(consumer.default_channel).get(no_ack=True)
            taken.append(message.payload["n"])
        assert taken == list(range(6))
        assert QUEUE(a.default_channel).get(no_ack=True) is None
        assert list((tmp_path / "claimed").iterdir()) == []

