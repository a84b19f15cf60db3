"""OpenTelemetry traces, sent only when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

Spans: each HTTP request (``HTTP`` middleware in ``api.observe``, named by the method and
the route's path template), and the dispatcher's work on a call: ``ringcast.plan`` (one
planning transaction of a campaign; the attempts it wrote in ``ringcast.attempt_ids``),
``ringcast.dial`` (handing one attempt to its gateway), ``ringcast.end`` (recording its
end) and ``ringcast.webhook`` (one delivery try). Every one of them that concerns an
attempt carries ``ringcast.attempt_id``, and ``ringcast.campaign_id`` where it is known:
a trace back-end finds a call's whole story by that attribute, whichever process (API,
worker) wrote each part. No span carries a phone number or a body.

``configure`` sets the SDK up with the OTLP/HTTP exporter, which reads the standard
variables itself (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``..._HEADERS``, ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``...). Without the endpoint nothing is configured and ``span``
hands back one shared do-nothing object: the cost is a function call. The packages are
the optional ``otel`` extra and are imported only by ``configure`` and ``use``, so
ringcast runs without them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Protocol

import structlog

ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
#: the instrumentation scope of every ringcast span
SCOPE = "ringcast"

# span names and the attributes that link them
PLAN, DIAL, END, WEBHOOK = "ringcast.plan", "ringcast.dial", "ringcast.end", "ringcast.webhook"
ATTEMPT_ID = "ringcast.attempt_id"
ATTEMPT_IDS = "ringcast.attempt_ids"  #: a plan's: the attempts it wrote
CAMPAIGN_ID = "ringcast.campaign_id"

log = structlog.get_logger("ringcast.telemetry")

AttributeValue = str | int | float | bool | Sequence[str]


class Span(Protocol):
    """The little of an OpenTelemetry span ringcast uses."""

    def set_attribute(self, key: str, value: AttributeValue) -> None: ...

    def update_name(self, name: str) -> None: ...


class _NoSpan:
    """The span, and its context manager, when tracing is off: does nothing, shared."""

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def set_attribute(self, key: str, value: AttributeValue) -> None:  # noqa: ARG002 (a no-op)
        return None

    def update_name(self, name: str) -> None:  # noqa: ARG002 (a no-op)
        return None


_NO_SPAN = _NoSpan()
#: the ``opentelemetry`` tracer spans start from; None while tracing is off
_tracer: Any = None
_configured = False


def span(
    name: str,
    attributes: Mapping[str, AttributeValue | None] | None = None,
    *,
    server: bool = False,
    headers: Iterable[tuple[bytes, bytes]] | None = None,
) -> AbstractContextManager[Span]:
    """A span around the ``with`` block, the current one inside it (children nest under
    it, tasks created inside inherit it); a no-op when tracing is off. Attributes whose
    value is None are left out. ``server`` marks an incoming request, whose ``headers``
    may carry the caller's trace context (W3C ``traceparent``)."""
    tracer = _tracer
    if tracer is None:
        return _NO_SPAN
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    given = {k: v for k, v in (attributes or {}).items() if v is not None}
    context = None
    if headers is not None:
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}
        context = propagate.extract(carrier)
    span_cm: AbstractContextManager[Span] = tracer.start_as_current_span(
        name,
        context=context,
        kind=SpanKind.SERVER if server else SpanKind.INTERNAL,
        attributes=given,
    )
    return span_cm


def enabled() -> bool:
    """Whether spans are being recorded."""
    return _tracer is not None


def use(provider: Any) -> None:
    """Record spans with this ``TracerProvider`` (tests: one with an in-memory exporter);
    None turns tracing off again."""
    global _tracer
    if provider is None:
        _tracer = None
        return
    import ringcast

    _tracer = provider.get_tracer(SCOPE, ringcast.__version__)


def configure(environ: Mapping[str, str] | None = None) -> bool:
    """Set tracing up from the standard variables when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is
    set (once per process); True when spans will be exported. With the variable set but
    the ``otel`` extra missing, a warning says so and nothing is traced."""
    global _configured
    env = os.environ if environ is None else environ
    if not env.get(ENDPOINT):
        return False
    if _configured:
        return True
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        log.warning(
            f"{ENDPOINT} is set but OpenTelemetry is not installed "
            "(pip install 'ringcast[otel]'); no traces are sent",
            missing=exc.name,
        )
        return False
    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, but what it is
    # given wins over them: name the service only when neither does
    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    resource = Resource.create({} if named else {SERVICE_NAME: "ringcast"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    use(provider)
    _configured = True
    log.info("sending traces over OTLP/HTTP", endpoint=env[ENDPOINT])
    return True
