"""The ``twilio`` gateway: calls placed through Twilio Programmable Voice.

``gateway`` places each call once through the official SDK and answers reconciliation;
``reports`` verifies and reads what Twilio reports on the call, to the connection's
callback URL (``{RINGCAST_PUBLIC_URL}/ringcast/v1/gateway/twilio/{connection_id}``) with
the attempt id in its query::

    {callback_url}?attempt_id=<id>        status callbacks (initiated, ringing, answered,
                                          completed / busy / no-answer / failed / canceled)
    {callback_url}/amd?attempt_id=<id>    the asynchronous answering-machine verdict
"""

from ringcast.gateways.provider_settings import TWILIO_API, TwilioSettings
from ringcast.gateways.twilio.gateway import TwilioGateway
from ringcast.gateways.twilio.reports import AMD_SUFFIX, answered_by, result_from_call

__all__ = [
    "AMD_SUFFIX",
    "TWILIO_API",
    "TwilioGateway",
    "TwilioSettings",
    "answered_by",
    "result_from_call",
]
