"""Prometheus metrics: what this process counted, and the outbox as the database holds it.

Counters and histograms are per process. ``baohan serve --workers N`` runs N processes behind one port,
and a scrape reaches one of them, so they run in prometheus-client's multiprocess mode: each process
writes its counts to files in ``$PROMETHEUS_MULTIPROC_DIR`` (the server makes a fresh directory at
start) and whichever process answers the scrape sums them all. The outbox gauges are not counted at all:
they are read from the database when scraped (:class:`OutboxCollector`), because the outbox is shared by
every worker, every ``baohan dispatch`` process and every host on that database; a per-process gauge
would see only its own part of it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# prometheus-client picks its value store when imported: files when this is set, memory otherwise.
MULTIPROCESS = bool(os.environ.get(MULTIPROC_ENV))
CONTENT_TYPE = CONTENT_TYPE_LATEST

_OWN = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "baohan_requests",
    "Protocol requests answered, by interface (transcode) and answer code.",
    ["protocol", "role", "interface", "code"],
    registry=_OWN,
)
LATENCY = Histogram(
    "baohan_request_duration_seconds",
    "Time from a protocol request's last byte to its answer.",
    ["protocol", "role", "interface"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=_OWN,
)
ADMIN_REQUESTS = Counter(
    "baohan_admin_requests", "Admin API requests, by HTTP status.", ["status"], registry=_OWN
)
DELIVERIES = Counter(
    "baohan_delivery_attempts",
    "Outbox delivery attempts, by message kind and outcome (delivered, retry, dead).",
    ["kind", "outcome"],
    registry=_OWN,
)
DELIVERY_LATENCY = Histogram(
    "baohan_delivery_duration_seconds",
    "Time one delivery attempt took, whatever its outcome.",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0),
    registry=_OWN,
)


class OutboxCollector(Collector):
    """The outbox's backlog, read from the database at each scrape through ``read``.

    ``read`` gives (pending, dead, age in seconds of the oldest due message), e.g.
    :meth:`baohan.services.runtime.Runtime.backlog`.
    """

    def __init__(self, read: Callable[[], tuple[int, int, float]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        pending, dead, oldest = self._read()
        yield GaugeMetricFamily(
            "baohan_outbox_pending", "Messages not yet delivered (pending or in delivery).", value=pending
        )
        yield GaugeMetricFamily("baohan_outbox_dead", "Messages given up on (dead letters).", value=dead)
        yield GaugeMetricFamily(
            "baohan_outbox_oldest_pending_age_seconds",
            "Age of the oldest message that is due and not yet delivered (0 when none).",
            value=oldest,
        )


def exposition(collectors: Iterable[Collector] = ()) -> bytes:
    """The text exposition of this process's (or, in multiprocess mode, every worker's) metrics and ``collectors``."""
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROCESS:
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Forward(_OWN))
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)


def serve_metrics(host: str, port: int, collectors: Iterable[Collector] = ()) -> None:
    """Serve this process's metrics and ``collectors`` at ``http://host:port/metrics`` from a daemon thread
    (for processes without a web app, such as ``baohan dispatch``); OSError when the port is taken."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Forward(_OWN))
    for collector in collectors:
        registry.register(collector)
    start_http_server(port, addr=host, registry=registry)


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        return iter(self._registry.collect())
