"""Extensions (续保/延期): an ELY101 for a project's bid section in which the same supplier already holds a
live guarantee with the same counterparty extends that guarantee."""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Protocol, TypeVar

from baohan.domain.lifecycle import LIVE

LIVE_STAGES = frozenset(stage.value for stage in LIVE)  # as stored
ExtensionKey = tuple[str, str, str, str]  # counterparty, project code, bid section code, supplier code


class Held(Protocol):
    """A guarantee application as stored: with whom, for what, by whom, its stage, and the role (side) that
    keeps it (both roles may keep their books in one database)."""

    @property
    def counterparty_id(self) -> str: ...
    @property
    def project_code(self) -> str: ...
    @property
    def bid_code(self) -> str: ...
    @property
    def supplier_code(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def side(self) -> str: ...


H = TypeVar("H", bound=Held)


def live_guarantees(held: Iterable[H], side: str, counterparties: Container[str]) -> dict[ExtensionKey, H]:
    """The live ones among ``held`` that ``side`` keeps with one of ``counterparties``, by the key an
    extension matches on.

    An application extends ``live.get((counterparty, project code, bid code, supplier code))`` when that is
    not None. The ELY101 intake builds this once a batch and looks up each application directly: the hot
    path pays no call per application.
    """
    return {
        (h.counterparty_id, h.project_code, h.bid_code, h.supplier_code): h
        for h in held
        if h.side == side and h.counterparty_id in counterparties and h.stage in LIVE_STAGES
    }
