"""Prometheus metrics: what an operator watches and alerts on (``/metrics`` on the server,
and on a worker's ``--metrics-port``).

Counters and histograms are fed in-process as things happen (attempts ended, dial
lateness, webhook tries, HTTP requests); the gauges that describe the database (due
backlog, calls in flight, each connection's load against its limit, webhook backlog and
its oldest entry's age) are read when scraped, by queries bounded in rows whatever the
number of contacts (``db.sql.calls.backlog``). The names are a contract for dashboards
(``deploy/grafana/ringcast.json``): all start ``ringcast_``, beside the client library's
``process_*`` and ``python_*``.

No label names a tenant: a connection is labelled by a pseudonym (``connection_key``),
never by its organization or its own id, and an HTTP request by its route's template
(``/v1/campaigns/{campaign_id}``), never its path.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from ringcast.clock import Clock
from ringcast.ports import OperatorFigures

ATTEMPTS = "ringcast_attempts_total"


class Heartbeat:
    """When the dispatcher's loop last went round, for a worker's ``/healthz`` and the
    ``ringcast_dispatcher_pass_age_seconds`` gauge. A monotonic clock: this is about the
    process being alive, not about scheduling (which reads ``Clock``)."""

    def __init__(self) -> None:
        self._at = time.monotonic()  # a loop that never starts goes stale from here
        self.started = False

    def beat(self) -> None:
        self._at = time.monotonic()
        self.started = True

    def age_s(self) -> float:
        return time.monotonic() - self._at


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.attempts = Counter(
            ATTEMPTS, "Attempts ended, by outcome", ["outcome"], registry=self.registry
        )
        self.dial_lateness = Histogram(
            "ringcast_dial_lateness_seconds",
            "How long after its pacing slot a call was handed to the gateway",
            buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.webhooks = Counter(
            "ringcast_webhook_deliveries_total",
            "Webhook delivery attempts, by result",
            ["result"],
            registry=self.registry,
        )
        self.http_requests = Counter(
            "ringcast_http_requests_total",
            "HTTP requests answered, by method, route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "ringcast_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.heartbeat = Heartbeat()
        self.registry.register(_HeartbeatGauge(self.heartbeat))
        # the process (CPU, memory, open files) and the interpreter (version, GC)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)


class _HeartbeatGauge(Collector):
    def __init__(self, heartbeat: Heartbeat) -> None:
        self.heartbeat = heartbeat

    def collect(self) -> Iterator[Metric]:
        if self.heartbeat.started:  # a process without a dispatcher shows none
            yield GaugeMetricFamily(
                "ringcast_dispatcher_pass_age_seconds",
                "Seconds since this process's dispatcher loop last went round",
                value=self.heartbeat.age_s(),
            )


def connection_key(org_id: str, connection_id: str) -> str:
    """A connection's label on ``/metrics``: stable, unique in the deployment, and naming
    neither the organization nor the connection (the first 12 hex digits of a SHA-256)."""
    return hashlib.sha256(f"{org_id}/{connection_id}".encode()).hexdigest()[:12]


def token_accepted(wanted: str | None, authorization: str | None) -> bool:
    """Whether a request may read ``/metrics``: no token configured, or
    ``Authorization: Bearer <token>`` with it (compared in constant time)."""
    if not wanted:
        return True
    given = (authorization or "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), wanted.encode())


class StoreGauges(Collector):
    """Backlog figures read from the store at scrape time (one short read transaction's
    worth of bounded queries, ``OperatorFigures.backlog``)."""

    def __init__(self, store: OperatorFigures, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock.now()
        figures = self.store.backlog(now)
        capped = f" (counted up to {figures.cap:,})"
        yield GaugeMetricFamily(
            "ringcast_due_contacts",
            "Waiting contacts of dialling campaigns already due" + capped,
            value=figures.due_contacts,
        )
        yield GaugeMetricFamily(
            "ringcast_in_flight_calls", "Calls dialled and not ended", value=figures.in_flight_calls
        )
        yield GaugeMetricFamily(
            "ringcast_webhook_backlog",
            "Webhook deliveries waiting to be sent" + capped,
            value=figures.webhook_backlog,
        )
        oldest = figures.oldest_webhook_at
        yield GaugeMetricFamily(
            "ringcast_webhook_oldest_pending_age_seconds",
            "Age of the oldest webhook delivery not yet delivered (0: none waiting)",
            value=0.0 if oldest is None else max(0.0, (now - oldest).total_seconds()),
        )
        in_flight = GaugeMetricFamily(
            "ringcast_connection_in_flight_calls",
            "Calls in flight on each registered connection (label: connection_key)",
            labels=["connection"],
        )
        limit = GaugeMetricFamily(
            "ringcast_connection_max_concurrent",
            "Each registered connection's limit of concurrent calls (absent: unlimited)",
            labels=["connection"],
        )
        for load in figures.connections:
            key = connection_key(load.org_id, load.connection_id)
            in_flight.add_metric([key], load.in_flight)
            if load.max_concurrent is not None:
                limit.add_metric([key], load.max_concurrent)
        yield in_flight
        yield limit
