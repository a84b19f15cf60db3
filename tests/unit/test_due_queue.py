"""The memory store's due queue: the same head as sorting the waiting contacts each time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ringcast.db.due import DueQueue

T0 = datetime(2026, 6, 1, tzinfo=UTC)
IDS = [f"c{i}" for i in range(8)]

moments = st.integers(0, 5).map(lambda m: T0 + timedelta(minutes=m))
ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(IDS), moments),
        st.tuples(st.just("extend"), st.lists(st.sampled_from(IDS), unique=True), moments),
        st.tuples(st.just("remove"), st.sampled_from(IDS), moments),
        st.tuples(st.just("head"), st.integers(0, 4), moments),
    ),
    max_size=40,
)


def naive_head(
    queued: dict[str, datetime], limit: int, until: datetime
) -> tuple[list[str], datetime | None]:
    order = sorted((at, cid) for cid, at in queued.items())
    taken = [cid for at, cid in order if at <= until][:limit]
    rest = order[len(taken) :]
    return taken, rest[0][0] if rest else None


@settings(max_examples=120, deadline=None)
@given(ops)
def test_head_is_the_sorted_queue_whatever_came_and_went(steps: list[tuple]) -> None:
    """After any mix of single and bulk queueing, leaving and re-queueing (at the same or
    another moment), the head is the earliest due contacts by (due, id) and the moment
    after them, exactly as a sorted list of the waiting contacts gives."""
    queue, queued = DueQueue(), dict[str, datetime]()
    for op, arg, at in steps:
        if op == "add":
            if arg in queued:
                queue.remove(queued[arg], arg)
            queue.add(at, arg)
            queued[arg] = at
        elif op == "extend":
            fresh = [cid for cid in arg if cid not in queued]
            queue.extend([(at, cid) for cid in fresh])
            queued.update(dict.fromkeys(fresh, at))
        elif op == "remove" and arg in queued:
            queue.remove(queued.pop(arg), arg)
        elif op == "head":
            assert queue.head(arg, at) == naive_head(queued, arg, at)
    assert queue.head(len(IDS), T0 + timedelta(days=1)) == naive_head(
        queued, len(IDS), T0 + timedelta(days=1)
    )


def test_a_contact_taken_out_and_queued_again_at_the_same_moment_is_there_once() -> None:
    """Leaving and coming back at the same due moment revives its entry instead of adding a
    second one, so the head never lists a contact twice."""
    queue = DueQueue()
    queue.extend([(T0, "a"), (T0, "b")])
    queue.remove(T0, "a")
    queue.add(T0, "a")
    assert queue.head(5, T0) == (["a", "b"], None)
    assert queue.head(1, T0) == (["a"], T0)
