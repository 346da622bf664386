"""The receiver's counters: what it took in, refused, shed and dropped since it started.

`_receiver_conn._Server` keeps one `ReceiverStats` under its lock; `Receiver.stats`
hands out a copy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["ReceiverStats"]


@dataclass
class ReceiverStats:
    """What a receiver took in since it started."""

    requests: int = 0
    spans: int = 0
    rejected_spans: int = 0
    #: content records spooled from POST /v1/logs (one per span), and log records refused
    contents: int = 0
    rejected_log_records: int = 0
    failed_requests: int = 0
    #: requests answered 503 with Retry-After because the receiver was at its limits
    shed_requests: int = 0
    #: connections closed before their request head was in: too slow, too large, or
    #: pushed out by a newer connection when the limits were reached
    dropped_connections: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
