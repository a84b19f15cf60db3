"""OpenTelemetry spans: an HTTP request, a call's plan, dial and end, and a webhook
delivery, linked by ``ringcast.attempt_id``; nothing is configured without the endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from ringcast import telemetry
from ringcast.clock import EventClock, VirtualClock
from ringcast.db.sql import outbox as sql_outbox
from ringcast.dispatch.loop import Dispatcher
from ringcast.forecast.drive import drive
from ringcast.gateways.simulator import OutcomeModel, SimulatorGateway
from ringcast.runtime import Runtime
from ringcast.webhooks.deliver import Deliverer
from ringcast.webhooks.outbox import NewDelivery

from .conftest import Account
from .test_forecast_api import make_campaign


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans recorded in memory for this test (the process-wide tracer put back after)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use(provider)
    try:
        yield exporter
    finally:
        telemetry.use(None)
        provider.shutdown()


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def test_without_the_endpoint_nothing_is_configured() -> None:
    """With no OTEL_EXPORTER_OTLP_ENDPOINT, ``configure`` sets nothing up and a span is
    the shared no-op."""
    assert telemetry.configure({}) is False
    assert not telemetry.enabled()
    with telemetry.span("ringcast.plan", {"ringcast.campaign_id": "c"}) as span:
        span.set_attribute("ringcast.attempt_ids", ["a"])
    assert telemetry.span("x") is telemetry.span("y")


@pytest.mark.parametrize("runtime", ["sqlite"], indirect=True)  # the HTTP layer alone
def test_an_http_request_makes_a_server_span_named_by_its_route(
    client, account: Account, spans: InMemorySpanExporter
) -> None:
    """A request is one server span named by method and route template, with its status,
    continuing the caller's trace when it sends a ``traceparent``."""
    unknown = "0b7d3c55-4e0c-4bb0-9d7e-2a9c1e2f3a4b"
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    r = client.get(
        f"/v1/campaigns/{unknown}",
        headers={**account.headers, "traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"},
    )
    assert r.status_code == 404
    (span,) = named(spans, "GET /v1/campaigns/{id}")
    assert span.kind is SpanKind.SERVER
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/v1/campaigns/{id}"
    assert span.attributes["http.response.status_code"] == 404
    assert format(span.context.trace_id, "032x") == caller_trace


def test_a_simulated_call_leaves_plan_dial_end_and_webhook_spans_sharing_its_attempt(
    client, runtime: Runtime, clock: VirtualClock, account: Account, spans: InMemorySpanExporter
) -> None:
    """Dispatching a one-contact campaign through the simulator records a plan span
    listing the attempt, and a dial span and an end span carrying its id (the end
    reported inside the dial's trace); delivering the call's webhook is a span with the
    same attempt id."""
    campaign_id = make_campaign(client, account, people=1)
    events = EventClock(clock.now() + timedelta(hours=2))  # Monday 10:00 in Paris
    dispatcher = Dispatcher(runtime.store, events)
    model = OutcomeModel.parse("answered=1", mean_talk=timedelta(seconds=30), seed=1)
    dispatcher.gateway = SimulatorGateway(model, events, dispatcher.report)
    asyncio.run(drive(dispatcher, events, campaign_id))

    (attempt,) = runtime.store.campaign_attempts(campaign_id)
    plans = [
        p
        for p in named(spans, telemetry.PLAN)
        if p.attributes and attempt.id in (p.attributes.get(telemetry.ATTEMPT_IDS) or ())
    ]
    assert len(plans) == 1
    assert plans[0].attributes is not None
    assert plans[0].attributes[telemetry.CAMPAIGN_ID] == campaign_id
    (dial,) = named(spans, telemetry.DIAL)
    (end,) = named(spans, telemetry.END)
    assert dial.attributes is not None and end.attributes is not None
    assert dial.attributes[telemetry.ATTEMPT_ID] == end.attributes[telemetry.ATTEMPT_ID]
    assert dial.attributes[telemetry.ATTEMPT_ID] == attempt.id
    assert dial.attributes[telemetry.CAMPAIGN_ID] == campaign_id
    assert end.attributes["ringcast.outcome"] == "completed"
    assert end.context.trace_id == dial.context.trace_id

    queued = NewDelivery(
        account.org_id,
        campaign_id,
        attempt.id,
        "sarvam_attempt",
        "attempt.completed",
        "https://hooks.example.test/in",
        events.now(),
    )
    with runtime.engine.begin() as conn:
        sql_outbox.queue(conn, [queued])
    sent = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(204)))
    assert asyncio.run(Deliverer(runtime.store, events, client=sent).deliver_due()) == 1
    (webhook,) = named(spans, telemetry.WEBHOOK)
    assert webhook.attributes is not None
    assert webhook.attributes[telemetry.ATTEMPT_ID] == attempt.id
    assert webhook.attributes[telemetry.CAMPAIGN_ID] == campaign_id
    assert webhook.attributes["ringcast.webhook_kind"] == "sarvam_attempt"
    assert webhook.status.is_ok
