"""A state machine as a table: ``(state, event) -> target``, and a refusal that says why for anything else.

Each protocol's lifecycle is one of these (procurement's in :mod:`baohan.domain.lifecycle`, tender's in
:mod:`baohan.domain.tender`); the table is the documentation and the behaviour at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

S = TypeVar("S")
E = TypeVar("E")
T = TypeVar("T")


class Machine(Generic[S, E, T]):
    """The moves of ``transitions``; ``refuse(state, event)`` builds the error for a move not in it."""

    __slots__ = ("_allowed", "_refuse", "transitions")

    def __init__(self, transitions: Mapping[tuple[S, E], T], refuse: Callable[[S, E], Exception]) -> None:
        self.transitions = dict(transitions)
        self._refuse = refuse
        allowed: dict[S, set[E]] = {}
        for state, event in self.transitions:
            allowed.setdefault(state, set()).add(event)
        self._allowed = {state: frozenset(events) for state, events in allowed.items()}

    def target(self, state: S, event: E) -> T:
        """Where ``event`` takes ``state``; the refusal when the table has no such move."""
        try:
            return self.transitions[(state, event)]
        except KeyError:
            raise self._refuse(state, event) from None

    def allowed(self, state: S) -> frozenset[E]:
        """The events ``state`` accepts (empty for a final state)."""
        return self._allowed.get(state, frozenset())

    def final(self, states: frozenset[S] | set[S]) -> frozenset[S]:
        """Those of ``states`` that accept no event at all."""
        return frozenset(state for state in states if state not in self._allowed)
