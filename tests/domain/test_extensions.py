"""Extensions: an application matches a live guarantee kept by the same side with the same counterparty,
for the same project, bid section and supplier."""

from __future__ import annotations

from typing import NamedTuple

from hypothesis import given
from hypothesis import strategies as st

from baohan.domain.extensions import LIVE_STAGES, live_guarantees
from baohan.domain.lifecycle import Stage


class Row(NamedTuple):
    counterparty_id: str
    project_code: str
    bid_code: str
    supplier_code: str
    stage: str
    side: str


ROWS = st.builds(
    Row,
    st.sampled_from(["platform-a", "platform-b", "platform-c"]),
    st.sampled_from(["P1", "P2"]),
    st.sampled_from(["B1", "B2"]),
    st.sampled_from(["S1", "S2"]),
    st.sampled_from([s.value for s in Stage]),
    st.sampled_from(["issuer", "platform"]),
)


def test_live_means_issued_or_under_a_claim() -> None:
    assert {"issued", "claimed"} == LIVE_STAGES


def test_an_application_extends_only_a_live_guarantee_with_every_key_equal() -> None:
    live = Row("platform-a", "P1", "B1", "S1", "issued", "issuer")
    claimed = Row("platform-a", "P1", "B1", "S2", "claimed", "issuer")
    rows = [
        Row("platform-a", "P1", "B2", "S1", "cancelled", "issuer"),  # over
        live,
        claimed,
        Row("platform-b", "P1", "B3", "S1", "issued", "issuer"),  # a counterparty not asked for
        Row("platform-a", "P2", "B1", "S1", "issued", "platform"),  # the other side's book
    ]
    index = live_guarantees(rows, "issuer", {"platform-a"})
    assert index == {("platform-a", "P1", "B1", "S1"): live, ("platform-a", "P1", "B1", "S2"): claimed}
    assert index.get(("platform-a", "P1", "B2", "S1")) is None  # its guarantee was cancelled
    assert index.get(("platform-a", "P1", "B3", "S1")) is None  # held with another counterparty
    assert index.get(("platform-a", "P2", "B1", "S1")) is None  # kept by the platform side


@given(rows=st.lists(ROWS, max_size=30), peers=st.sets(st.sampled_from(["platform-a", "platform-b"])))
def test_the_index_holds_exactly_the_live_rows_of_the_side_and_peers(
    rows: list[Row], peers: set[str]
) -> None:
    index = live_guarantees(rows, "issuer", peers)
    wanted = [r for r in rows if r.side == "issuer" and r.counterparty_id in peers and r.stage in LIVE_STAGES]
    assert set(index.values()) <= set(wanted)
    assert set(index) == {(r.counterparty_id, r.project_code, r.bid_code, r.supplier_code) for r in wanted}
