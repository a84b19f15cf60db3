"""Attempt outcomes: ringcast's own vocabulary and its two vendor mappings.

ringcast's ``Outcome`` is at least as fine as each vendor's vocabulary, so that every
vendor value maps to an outcome that maps back to that same value (the round trip is
lossless from either side). Each vendor has exactly one table here:

* ``VOLUBILE_STATUS``: outcome -> Volubile call ``status``.
* ``SARVAM_STATUS``: outcome -> Sarvam ``(connectivity_status, completion_status)``.

Retry conditions (Sarvam's ``busy``, ``no_answer``, ``failed``, ``provider_error``,
``internal_error``) are sets of outcomes, kept in ``SARVAM_RETRY_CONDITION``;
``short_duration`` is decided from the duration of a connected call, not the outcome.
A declined call (``REJECTED``) is in no Sarvam condition: it is retried only when a
campaign asks for it by name (Volubile's ``retryOn: ["REJECTED"]``, or the native API).
Qualifiers (labels an agent puts on a call, e.g. ``callback_requested``) travel beside the
outcome, never inside it.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    IN_PROGRESS = "in_progress"  #: dialled, not finished yet
    COMPLETED = "completed"  #: connected, the conversation ran to its end
    PARTIAL = "partial"  #: connected, the callee left before the conversation ended
    TRANSFERRED = "transferred"  #: connected, then handed to a human
    DROPPED = "dropped"  #: connected, then the call failed on our side or the carrier's
    VOICEMAIL = "voicemail"  #: an answering machine picked up
    NO_ANSWER = "no_answer"  #: rang, nobody picked up
    BUSY = "busy"  #: the line was busy
    REJECTED = "rejected"  #: the callee declined the call
    UNREACHABLE = "unreachable"  #: the number could not be reached (switched off, invalid)
    FAILED = "failed"  #: the call could not be set up, for a reason that is not ours
    PROVIDER_ERROR = "provider_error"  #: the telephony provider returned an error
    INTERNAL_ERROR = "internal_error"  #: ringcast or the agent runtime failed
    CANCELLED = "cancelled"  #: stopped by us before it connected (campaign cancelled)

    @property
    def connected(self) -> bool:
        """Whether a person or the agent was on the line: the contact was reached."""
        return self in CONNECTED

    @property
    def is_final(self) -> bool:
        return self is not Outcome.IN_PROGRESS


CONNECTED = frozenset({Outcome.COMPLETED, Outcome.PARTIAL, Outcome.TRANSFERRED, Outcome.DROPPED})

O = Outcome  # noqa: E741 - a one-letter alias keeps the tables below readable

#: Outcome -> Volubile call status. Volubile has no BUSY; a busy line reads NO_ANSWER,
#: which is what a Volubile client retrying on NO_ANSWER expects to be retried. Voicemail
#: has a status of its own, VOICE_BOX: ``retryOn: ["NO_ANSWER"]`` does not retry an
#: answering machine, ``retryOn: ["VOICE_BOX"]`` does (and nothing else).
VOLUBILE_STATUS: dict[Outcome, str] = {
    O.IN_PROGRESS: "IN_PROGRESS",
    O.COMPLETED: "COMPLETED",
    O.PARTIAL: "COMPLETED",
    O.TRANSFERRED: "TRANSFERRED",
    O.DROPPED: "FAILED",
    O.VOICEMAIL: "VOICE_BOX",
    O.NO_ANSWER: "NO_ANSWER",
    O.BUSY: "NO_ANSWER",
    O.REJECTED: "REJECTED",
    O.UNREACHABLE: "UNREACHABLE",
    O.FAILED: "FAILED",
    O.PROVIDER_ERROR: "FAILED",
    O.INTERNAL_ERROR: "FAILED",
    O.CANCELLED: "CANCELED",
}

#: The outcome each Volubile status stands for when it comes back to us.
FROM_VOLUBILE: dict[str, Outcome] = {
    "IN_PROGRESS": O.IN_PROGRESS,
    "COMPLETED": O.COMPLETED,
    "TRANSFERRED": O.TRANSFERRED,
    "VOICE_BOX": O.VOICEMAIL,
    "NO_ANSWER": O.NO_ANSWER,
    "REJECTED": O.REJECTED,
    "UNREACHABLE": O.UNREACHABLE,
    "FAILED": O.FAILED,
    "CANCELED": O.CANCELLED,
}

#: Outcome -> Sarvam (connectivity_status, completion_status). An attempt still in
#: progress has neither yet.
SARVAM_STATUS: dict[Outcome, tuple[str | None, str | None]] = {
    O.IN_PROGRESS: (None, None),
    O.COMPLETED: ("connected", "completed"),
    O.PARTIAL: ("connected", "partial"),
    O.TRANSFERRED: ("connected", "completed"),
    O.DROPPED: ("connected", "failed"),
    O.VOICEMAIL: ("no_answer", "failed"),
    O.NO_ANSWER: ("no_answer", "failed"),
    O.BUSY: ("busy", "failed"),
    O.REJECTED: ("busy", "failed"),
    O.UNREACHABLE: ("failed", "failed"),
    O.FAILED: ("failed", "failed"),
    O.PROVIDER_ERROR: (None, "failed"),
    O.INTERNAL_ERROR: (None, "failed"),
    O.CANCELLED: (None, "failed"),
}

#: The outcome each Sarvam status pair stands for when it comes back to us.
FROM_SARVAM: dict[tuple[str | None, str | None], Outcome] = {
    (None, None): O.IN_PROGRESS,
    ("connected", "completed"): O.COMPLETED,
    ("connected", "partial"): O.PARTIAL,
    ("connected", "failed"): O.DROPPED,
    ("no_answer", "failed"): O.NO_ANSWER,
    ("busy", "failed"): O.BUSY,
    ("failed", "failed"): O.FAILED,
    (None, "failed"): O.INTERNAL_ERROR,
}

#: Sarvam retry condition -> the outcomes that trigger it (``short_duration`` aside).
SARVAM_RETRY_CONDITION: dict[str, frozenset[Outcome]] = {
    # A declined call still reads ``busy`` in Sarvam's status (SARVAM_STATUS), but ``busy``
    # does not retry it: a callee who declined should not be rung again unless the
    # campaign asks for that explicitly, which Sarvam's body has no word for.
    "busy": frozenset({O.BUSY}),
    # Sarvam has no voicemail status: an answering machine reads ``no_answer`` (nobody
    # answered in person), so a Sarvam client enabling ``no_answer`` expects voicemail
    # to be retried too.
    "no_answer": frozenset({O.NO_ANSWER, O.VOICEMAIL}),
    "failed": frozenset({O.FAILED, O.UNREACHABLE, O.DROPPED}),
    "provider_error": frozenset({O.PROVIDER_ERROR}),
    "internal_error": frozenset({O.INTERNAL_ERROR}),
}


def outcomes_for_volubile_status(status: str) -> frozenset[Outcome]:
    """Every outcome that reads as this Volubile status (e.g. NO_ANSWER: no answer, busy)."""
    return frozenset(o for o, s in VOLUBILE_STATUS.items() if s == status)


VOLUBILE_STATUSES = frozenset(VOLUBILE_STATUS.values())
