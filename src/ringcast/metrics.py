"""Prometheus metrics: what an operator watches (/metrics on the server).

Counters and histograms are fed by the dispatcher as things happen; gauges that describe
the database (due backlog, in-flight calls, webhook backlog) are read when scraped.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ringcast.clock import Clock
from ringcast.ports import OperatorFigures

ATTEMPTS = "ringcast_attempts_total"


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


class StoreGauges(Collector):
    """Backlog figures read from the store at scrape time."""

    def __init__(self, store: OperatorFigures, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = self.store.backlog(self.clock.now())
        for name, help_text in (
            ("due_contacts", "Waiting contacts already due"),
            ("in_flight_calls", "Calls dialled and not ended"),
            ("webhook_backlog", "Webhook deliveries waiting to be sent"),
        ):
            yield GaugeMetricFamily(f"ringcast_{name}", help_text, value=figures[name])
