"""The store contract: the SQL store (SQLite, PostgreSQL) and the memory store agree."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ringcast.core import step as tick
from ringcast.core.contacts import NUMBER_IN_CALL, NUMBER_IN_CALL_WAIT, start_attempt
from ringcast.core.errors import Conflict, NotFound
from ringcast.core.model import ContactState
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.states import CampaignStatus
from ringcast.core.step import CallResult, Dial, TickWrites
from ringcast.records import HIDDEN_MARKER, ApiKey

from .factories import T0, campaign, contacts, new_id, seed_account

SEC = timedelta(seconds=1)


def test_accounts_are_created_once(store) -> None:
    """ensure_* returns the existing organization and workspace; the first workspace is default."""
    org = store.ensure_organization(new_id(), "acme", T0)
    assert store.ensure_organization(new_id(), "acme", T0) == org
    ws = store.ensure_workspace(new_id(), org.id, "main", T0)
    other = store.ensure_workspace(new_id(), org.id, "second", T0)
    assert ws.is_default
    assert not other.is_default
    assert store.ensure_workspace(new_id(), org.id, "main", T0) == ws
    assert store.default_workspace(org.id) == ws
    assert store.get_workspace(other.id) == other


def test_api_keys_are_found_by_prefix_and_revoked(store) -> None:
    """A key is found by its prefix, keeps only its hash, and can be revoked."""
    org_id, ws_id, _ = seed_account(store)
    key = ApiKey(new_id(), org_id, ws_id, "rc_abc123", "f" * 64, T0)
    store.add_api_key(key)
    assert store.find_api_key("rc_abc123") == key
    assert store.revoke_api_key("rc_abc123", T0 + SEC)
    assert store.find_api_key("rc_abc123").revoked_at == T0 + SEC
    assert not store.revoke_api_key("rc_nope", T0)
    with pytest.raises(Conflict):
        store.add_api_key(replace(key, id=new_id()))


def test_agents_round_trip_and_page(store) -> None:
    """Agents come back as stored, with their prompt variables, paged in creation order."""
    org_id, _, agent_id = seed_account(store)
    agent = store.get_agent(agent_id)
    assert agent.variables == ("name",)
    assert agent.prompt_template == "Hello {{ name }}"
    page, total = store.list_agents(org_id, 0, 10)
    assert total == 1
    assert page == [agent]
    assert store.list_agents(org_id, 1, 10) == ([], 1)


def test_campaign_round_trip(store) -> None:
    """A stored campaign reads back equal, config and all."""
    org_id, ws_id, agent_id = seed_account(store)
    c = campaign(org_id, ws_id, agent_id)
    store.create_campaign(c, contacts(c.id, 3))
    assert store.get_campaign(c.id) == c
    assert store.count_contacts(c.id) == {ContactState.WAITING: 3}
    store.set_campaign_status(c.id, CampaignStatus.PAUSED, T0 + SEC, by="rc_key1")
    got = store.get_campaign(c.id)
    assert got.config.status is CampaignStatus.PAUSED
    assert got.updated_by == "rc_key1"


def test_campaign_creation_is_all_or_nothing(store) -> None:
    """A campaign whose contacts cannot be stored is not stored either."""
    org_id, ws_id, agent_id = seed_account(store)
    c = campaign(org_id, ws_id, agent_id)
    people = contacts(c.id, 2)
    people[1] = replace(people[1], id=people[0].id)  # duplicate key
    with pytest.raises(Conflict):
        store.create_campaign(c, people)
    assert store.get_campaign(c.id) is None


def test_snapshot_returns_due_contacts_in_order(store) -> None:
    """Only waiting contacts due by now + horizon come back, earliest first, up to the limit."""
    org_id, ws_id, agent_id = seed_account(store)
    c = campaign(org_id, ws_id, agent_id)
    early = contacts(c.id, 3, due_at=T0 - timedelta(minutes=5))
    now_ = contacts(c.id, 2, due_at=T0)
    later = contacts(c.id, 2, due_at=T0 + timedelta(hours=1))
    store.create_campaign(c, [*later, *now_, *early])
    snap = store.load_snapshot(c.id, T0, SEC, limit=4)
    assert [k.id for k in snap.due] == sorted(k.id for k in early) + sorted(k.id for k in now_)[:1]
    assert snap.next_due_at == T0  # the fifth due contact
    snap = store.load_snapshot(c.id, T0, SEC, limit=10)
    assert len(snap.due) == 5
    assert snap.next_due_at == T0 + timedelta(hours=1)
    assert store.load_snapshot("missing", T0, SEC, 10) is None


def plan_at(now):
    """The planning step the dispatcher runs, at ``now``."""
    return lambda snapshot, variables: tick.decide(snapshot, now, SEC, variables)


def end_call(store, attempt_id, outcome, at, **reported):
    """Record a call's end the way the dispatcher does (a batch of one)."""
    result = CallResult(attempt_id, outcome, at, **reported)
    (done,) = store.end_attempts([(result, tick.finisher(result))])
    return done


def dialling(*dials):
    """A planning step that dials exactly these, whatever is due."""
    return lambda _snapshot, _variables: TickWrites(dials=tuple(dials))


def test_dial_then_outcome_then_retry(store) -> None:
    """An attempt is recorded before dialling; its end reschedules the contact."""
    org_id, ws_id, agent_id = seed_account(store)
    c = campaign(org_id, ws_id, agent_id)
    (person,) = contacts(c.id, 1, due_at=T0)
    store.create_campaign(c, [person])
    (dial,) = store.run_tick(c.id, T0, SEC, 10, plan_at(T0)).dials
    assert store.get_contact(person.id).state is ContactState.DIALING
    assert store.attempts_of(person.id) == [dial.attempt]
    assert store.load_snapshot(c.id, T0, SEC, 10).counters.in_flight == 1

    waiting, ended = end_call(
        store,
        dial.attempt.id,
        Outcome.NO_ANSWER,
        T0 + 30 * SEC,
        duration=timedelta(seconds=0),
        qualifiers=frozenset({"x"}),
    )
    assert waiting.state is ContactState.WAITING
    assert waiting.next_due_at == T0 + 30 * SEC + timedelta(hours=1)
    assert store.get_contact(person.id) == waiting
    assert store.attempts_of(person.id) == [ended]
    assert store.load_snapshot(c.id, T0, SEC, 10).counters.in_flight == 0


def test_an_attempt_cannot_be_recorded_twice(store) -> None:
    """The same (contact, number) twice is refused, and the first record is untouched."""
    org_id, ws_id, agent_id = seed_account(store)
    c = campaign(org_id, ws_id, agent_id)
    (person,) = contacts(c.id, 1)
    store.create_campaign(c, [person])
    (dial,) = store.run_tick(c.id, T0, SEC, 10, plan_at(T0)).dials
    again = replace(dial, attempt=replace(dial.attempt, id=new_id()))
    with pytest.raises(Conflict):
        store.run_tick(c.id, T0 + SEC, SEC, 10, dialling(again))
    assert store.attempts_of(person.id) == [dial.attempt]
    assert store.load_snapshot(c.id, T0, SEC, 10).counters.in_flight == 1


def test_a_number_is_never_in_two_calls_at_once(store) -> None:
    """A number in one campaign's call waits in another's, cannot be dialled there, and is
    dialled once the first call ends."""
    org_id, ws_id, agent_id = seed_account(store)
    first, second = campaign(org_id, ws_id, agent_id), campaign(org_id, ws_id, agent_id)
    (a,) = contacts(first.id, 1)
    (b,) = contacts(second.id, 1)
    store.create_campaign(first, [a])
    store.create_campaign(second, [b])
    (dial,) = store.run_tick(first.id, T0, SEC, 10, plan_at(T0)).dials
    assert store.run_tick(second.id, T0, SEC, 10, plan_at(T0)).dials == ()
    held = store.get_contact(b.id)
    assert (held.state, held.reason) == (ContactState.WAITING, NUMBER_IN_CALL)
    assert held.next_due_at == T0 + NUMBER_IN_CALL_WAIT

    dialing, attempt = start_attempt(held, new_id(), T0, T0)
    with pytest.raises(Conflict):
        store.run_tick(second.id, T0, SEC, 10, dialling(Dial(dialing, attempt, T0)))
    assert store.get_contact(b.id) == held

    end_call(store, dial.attempt.id, Outcome.COMPLETED, T0 + SEC)
    retry_at = T0 + NUMBER_IN_CALL_WAIT
    (again,) = store.run_tick(second.id, retry_at, SEC, 10, plan_at(retry_at)).dials
    assert again.contact.id == b.id
    assert store.get_contact(b.id).state is ContactState.DIALING


def test_cancelling_cancels_the_waiting_contacts_at_once(store) -> None:
    """Cancelling a campaign cancels its waiting contacts in the same step; a contact in a
    call is cancelled when its call ends."""
    org_id, ws_id, agent_id = seed_account(store)
    c = campaign(org_id, ws_id, agent_id, pacing=PacingLimits(max_concurrent=1))
    store.create_campaign(c, contacts(c.id, 3))
    (dial,) = store.run_tick(c.id, T0, SEC, 10, plan_at(T0)).dials
    store.set_campaign_status(c.id, CampaignStatus.CANCELLED, T0 + SEC)
    assert store.count_contacts(c.id) == {ContactState.DIALING: 1, ContactState.CANCELLED: 2}
    contact, _ = end_call(store, dial.attempt.id, Outcome.NO_ANSWER, T0 + 2 * SEC)
    assert contact.state is ContactState.CANCELLED
    assert store.count_contacts(c.id) == {ContactState.CANCELLED: 3}


def test_the_direct_calls_campaign_is_made_once(store) -> None:
    """Asking twice for an agent's hidden campaign gives the first one back; another agent
    or organization gets its own."""
    org_id, ws_id, agent_id = seed_account(store)
    hidden = campaign(org_id, ws_id, agent_id, extra={HIDDEN_MARKER: agent_id})
    assert store.ensure_direct_campaign(hidden) == hidden
    second = campaign(org_id, ws_id, agent_id, extra={HIDDEN_MARKER: agent_id})
    assert store.ensure_direct_campaign(second) == hidden
    assert store.get_campaign(second.id) is None
    other_org, other_ws, other_agent = seed_account(store)
    theirs = campaign(other_org, other_ws, other_agent, extra={HIDDEN_MARKER: other_agent})
    assert store.ensure_direct_campaign(theirs) == theirs
    with pytest.raises(ValueError, match="not a direct-calls campaign"):
        store.ensure_direct_campaign(campaign(org_id, ws_id, agent_id))


def test_the_dispatcher_lease_has_one_holder_at_a_time(store) -> None:
    """A lease is refused to others until it expires, and renewed by its holder."""
    assert store.acquire_lease("dispatch", "a", T0, timedelta(seconds=10))
    assert not store.acquire_lease("dispatch", "b", T0 + 5 * SEC, timedelta(seconds=10))
    assert store.acquire_lease("dispatch", "a", T0 + 5 * SEC, timedelta(seconds=10))
    assert not store.acquire_lease("dispatch", "b", T0 + 14 * SEC, timedelta(seconds=10))
    assert store.acquire_lease("dispatch", "b", T0 + 16 * SEC, timedelta(seconds=10))


def test_contacts_are_added_to_a_running_campaign(store) -> None:
    """Contacts added later join the queue; an unknown campaign is refused."""
    org_id, ws_id, agent_id = seed_account(store)
    c = campaign(org_id, ws_id, agent_id)
    store.create_campaign(c, contacts(c.id, 1))
    store.add_contacts(c.id, contacts(c.id, 2), T0)
    assert store.count_contacts(c.id) == {ContactState.WAITING: 3}
    with pytest.raises(NotFound):
        store.add_contacts("nope", contacts("nope", 1), T0)
