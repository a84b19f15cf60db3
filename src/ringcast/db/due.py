"""The in-memory store's due queue: a campaign's waiting contacts in due order."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import datetime


class DueQueue:
    """One campaign's waiting contacts as (next_due_at, id), in due order, ties by id (the
    SQL store's index).

    A planning step reads only the head of the queue and a dial takes a contact out of
    it; the forecast does both for every attempt. So the contacts loaded together (a
    campaign's list) are sorted once into a run read from its end, the ones queued one at
    a time (retries, deferrals) go on a heap, and a contact that leaves the queue leaves
    its entry behind, dropped when it reaches the head: every step costs a few pops in C,
    where a sorted list's insert and delete cost several times more.
    """

    def __init__(self) -> None:
        self._run: list[tuple[datetime, str]] = []  #: sorted, the earliest last
        self._heap: list[tuple[datetime, str]] = []
        self._entries: set[tuple[datetime, str]] = set()  #: in either, stale ones too
        self._due_at: dict[str, datetime] = {}  #: the queued contacts: their live entry

    def add(self, due_at: datetime, contact_id: str) -> None:
        self._due_at[contact_id] = due_at
        entry = (due_at, contact_id)
        if entry not in self._entries:  # else its stale entry is live again
            self._entries.add(entry)
            heapq.heappush(self._heap, entry)

    def extend(self, entries: Sequence[tuple[datetime, str]]) -> None:
        """Queue many contacts at once (each id once, none queued yet)."""
        fresh = []
        for due_at, contact_id in entries:
            self._due_at[contact_id] = due_at
            if (due_at, contact_id) not in self._entries:
                fresh.append((due_at, contact_id))
        self._entries.update(fresh)
        self._run = sorted([*self._run, *fresh], reverse=True)

    def remove(self, due_at: datetime, contact_id: str) -> None:
        if self._due_at.get(contact_id) == due_at:
            del self._due_at[contact_id]

    def head(self, limit: int, until: datetime) -> tuple[list[str], datetime | None]:
        """The first ``limit`` contacts due by ``until``, and the due moment of the entry
        after them (None: there is none)."""
        run, heap, due_at = self._run, self._heap, self._due_at
        cutoff = (until, "\uffff")
        taken: list[tuple[datetime, str]] = []
        from_run: list[bool] = []
        after: datetime | None = None
        while run or heap:
            on_run = not heap or (bool(run) and run[-1] < heap[0])
            entry = run[-1] if on_run else heap[0]
            live = due_at.get(entry[1]) == entry[0]
            if live and (len(taken) >= limit or entry > cutoff):
                after = entry[0]
                break
            if on_run:
                run.pop()
            else:
                heapq.heappop(heap)
            if live:
                taken.append(entry)
                from_run.append(on_run)
            else:  # the contact left the queue, or moved in it
                self._entries.discard(entry)
        for entry, on_run in zip(reversed(taken), reversed(from_run), strict=True):
            if on_run:
                run.append(entry)
            else:
                heapq.heappush(heap, entry)
        return [cid for _, cid in taken], after
