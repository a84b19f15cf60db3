"""The ``livekit`` gateway: LiveKit SIP dials the callee, a LiveKit agent does the talking.

``dial`` places the calls and answers reconciliation, ``reports`` reads what LiveKit and
the agent report, ``settings`` is the connection's ``livekit`` object. What the agent
learns and sends is the public ``ringcast.gateways.livekit_agent``.

Theory of operation
-------------------
Each attempt gets its own LiveKit room, ``rc-<attempt_id>``. ``place_call`` makes three
requests through the official SDK (``livekit-api``), with the SDK's retries turned off
(``failover=False``):

1. ``RoomService.CreateRoom{name, metadata}``. The room's metadata is ringcast's record of
   the attempt at the provider (the *room record*). Every ringcast process can read it:
   the worker that dialled, the API process that receives the webhooks, and
   reconciliation in any worker.
2. ``AgentDispatchService.CreateDispatch{agent_name, room, metadata}``. The dispatch
   metadata is what the agent learns about its call (``livekit_agent``).
3. ``SIP.CreateSIPParticipant{sip_trunk_id, sip_call_to, sip_number, room_name,
   participant_identity="callee", participant_attributes={"ringcast.attempt_id"},
   ringing_timeout, max_call_duration, wait_until_answered=true}``. LiveKit answers when
   the callee picks up. If the call fails, it answers with a Twirp error whose
   ``meta.sip_status_code`` says why (486, 480, 603, ...).

How an attempt ends, and who says so:

* **The call is never answered** (a SIP status at create): ``place_call`` raises
  ``DialEnded`` carrying the attempt's end (``busy``, ``no_answer``, ``rejected``,
  ``unreachable``, ``failed``; ``provider_code`` is the SIP status), which the dispatcher
  records as it is. The room is then deleted, which lets the dispatched agent go.
  LiveKit's webhooks about that room are progress only: ``DisconnectReason`` cannot tell
  486 from 603.
* **The call is answered**: the room record gains ``placed_at``, ``answered_at`` and
  ``call_id``. The final report is then one of:
  - the agent's own report (``livekit_agent``): outcome, ``answered_by``, qualifiers,
    transcript, extracted variables;
  - ``participant_left`` for the callee with a failure reason soon after the answer. This
    is the known "busy after answer": ``USER_REJECTED`` is ``busy``, ``USER_UNAVAILABLE``
    is ``no_answer``, ``SIP_TRUNK_FAILURE`` is ``failed``, ``MEDIA_FAILURE`` and
    ``CONNECTION_TIMEOUT`` are ``dropped``. ``provider_code`` is the reason's name;
  - ``room_finished``. The room record says how the call ended (``ended``), or else it
    was answered and the agent sent no report: ``completed``, code ``room_finished``.
  Anything after the first final report is a harmless duplicate (the store ignores a
  second end). Progress (``ringing``, ``answered``, ``in_progress``) never ends anything.
  So a ``ringing`` that arrives after ``completed`` undoes nothing.
* **The agent never joins**: ``agent_join_timeout_s`` after the dispatch, the worker
  that dialled lists the room's participants. If the callee is there and no agent is,
  the room record gets ``ended = provider_error / agent_never_joined`` and the room is
  deleted, which hangs up the SIP leg. LiveKit's ``room_finished`` then carries that end.
  Reconciliation repeats this check, in case the worker died.
* **A create whose answer was lost** (a timeout, a 5xx, a dropped connection): the
  callee is looked up in the attempt's room before anything else is decided. Found:
  ``Accepted`` with its ``sip.callID``. Not found: ``GatewayUnavailable``, and the room
  is deleted. If the lookup itself keeps failing, ringcast cannot tell whether a call is
  live. It then answers ``Accepted(room name)`` and leaves the attempt to reconciliation,
  because answering ``GatewayUnavailable`` could get the number dialled twice.

Reconciliation (``call_state``) reads the room, found by the attempt id alone. If the
room is gone, the call is over and LiveKit keeps no record of how: None. If the room
record holds an end: that end. If the callee is still on the line: None (live), unless
no agent ever joined. If the callee's leg is over and the call was answered:
``completed`` (code ``callee_left``); the room is deleted to let a stuck agent go.

Reports arrive at the connection's callback URL
(``{RINGCAST_PUBLIC_URL}/ringcast/v1/gateway/livekit/{connection_id}``, the project's
webhook URL in LiveKit), LiveKit's and the agent's alike, all signed with the project's
API key pair (see ``reports``).

Errors::

    GatewayError (ringcast.gateways.base)
    ├── GatewayRejected     a 4xx that names no SIP status (bad trunk, bad number, bad key)
    ├── GatewayUnavailable  429 without a SIP status, 5xx, unreachable; nothing was placed
    └── DialEnded           LiveKit dialled and the call ended unanswered: ``.result``
    SignatureInvalid        a report whose token or body hash does not check out (401)
    CallbackUnreadable      a signed report that cannot be read (400)
"""

from ringcast.gateways.livekit.dial import LiveKitGateway
from ringcast.gateways.livekit.reports import read_record, room_name
from ringcast.gateways.provider_settings import LiveKitSettings

__all__ = ["LiveKitGateway", "LiveKitSettings", "read_record", "room_name"]
