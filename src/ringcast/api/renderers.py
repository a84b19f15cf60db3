"""How each surface's webhook bodies are rendered, handed down to the deliverer.

The deliverer (``webhooks.deliver``) sits below the API and must not import a vendor's
wire format; the composition roots (the app and ``ringcast worker``) give it these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ringcast.api.volubile.translate import call_view
from ringcast.records import CallRecord
from ringcast.webhooks.deliver import Renderer
from ringcast.webhooks.outbox import VOLUBILE_CALL


def _volubile_call(call: CallRecord) -> Mapping[str, Any]:
    """Volubile's call object, as ``GET /v1/calls/{id}`` shows it."""
    return call_view(call).model_dump(mode="json")


WEBHOOK_RENDERERS: Mapping[str, Renderer] = {VOLUBILE_CALL: _volubile_call}
