"""What we send fits the receiver's own table (spec 000 §10), on SQLite and PostgreSQL (issue 15).

Both roles run in-process, each on its own database, and the messages one queues are handed to the other's handler,
so an application walks its whole life (ELY101 … ELY109, ELY103 and ELY104 with their answers) without
HTTP. Every message either side queues or answers is held to its table *as printed*, never to the models'
widened limits.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from baohan.adapters import personal
from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import Counterparty
from baohan.adapters.keystore import SecretBox
from baohan.adapters.outbox import OutboxMessage
from baohan.gm import SM2PrivateKey
from baohan.protocols.fields import MessageInvalid
from baohan.protocols.procurement import models as m
from baohan.protocols.procurement.codes import ProtocolError
from baohan.protocols.procurement.tables import SPEC_LIMITS, check_lengths, check_outgoing
from baohan.services.procurement import views
from baohan.services.procurement.issuer import IssuerService
from baohan.services.procurement.pairing import AppCredentials, pair
from baohan.services.procurement.platform import PlatformService
from baohan.services.procurement.registry import profile_settings
from baohan.services.procurement.role import OperatorError
from baohan.services.procurement.runtime import RoleRuntime, open_runtime
from baohan.services.procurement.views import Filters
from baohan.services.switches import REGISTRY_GENERATION, bump
from baohan.services.views import Window
from tests.procurement.harness import application_fields, inbound

CLAIM = {
    "claimAmount": "1000.00",
    "claimReason": "未履约",
    "openBank": "工商银行",
    "bankAccount": "6222000000000000",
    "contract": "王五",
    "contractWay": "13900139000",
    "contractCertCode": "110101198501011234",
}


@dataclass
class Roles:
    issuer: RoleRuntime
    platform: RoleRuntime
    institution_id: str  # the issuer, as the platform's registry knows it

    @property
    def issuing(self) -> IssuerService:
        assert isinstance(self.issuer.service, IssuerService)
        return self.issuer.service

    @property
    def submitting(self) -> PlatformService:
        assert isinstance(self.platform.service, PlatformService)
        return self.platform.service


def set_profile(runtime: RoleRuntime, counterparty_id: str, profile: dict[str, Any]) -> None:
    """Change a counterparty's stored profile as an operator's edit would, and have the registry see it."""
    checked = profile_settings(profile)
    with transaction(runtime.sessions) as session:
        row = session.get(Counterparty, counterparty_id)
        assert row is not None
        row.profile = checked
        bump(session, REGISTRY_GENERATION)
    runtime.registry._after_change()


def _roles(db_pair: tuple[str, str], institution_profile: dict[str, Any] | None = None) -> Roles:
    box = SecretBox("outgoing test passphrase")
    issuer = open_runtime("issuer", db_pair[0], box)
    platform = open_runtime("platform", db_pair[1], box)
    paired = pair(
        issuer.registry,
        platform.registry,
        issuer_url="http://127.0.0.1:9/zcdservice/v1/lg/ELYApi",  # nothing is delivered: no dispatcher
        platform_url="http://127.0.0.1:9/zcdservice/v1/lg/ELYApi",
        credentials=AppCredentials("BANK0001", "appkey-0001", "appsecret-of-bank-0001"),
    )
    if institution_profile is not None:
        set_profile(platform, paired.institution_id, institution_profile)
    return Roles(issuer, platform, paired.institution_id)


@pytest.fixture
def roles(db_pair: tuple[str, str]) -> Iterator[Roles]:
    both = _roles(db_pair)
    try:
        yield both
    finally:
        both.issuing.close()
        both.issuer.engine.dispose()
        both.platform.engine.dispose()


def queued(runtime: RoleRuntime, aggregate: str) -> list[OutboxMessage]:
    with runtime.sessions() as session:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.aggregate == aggregate)
                .order_by(OutboxMessage.created_at, OutboxMessage.id)
            )
        )


def strict(transcode: str, payload: dict[str, Any], *, response: bool = False) -> None:
    """``payload`` fits the table as printed (no profile widens it): formats, conditions and lengths."""
    check_outgoing(transcode, payload, None, response=response)


def handled(service: IssuerService | PlatformService, transcode: str, payload: dict[str, Any]) -> Any:
    answer = service.handle(inbound(transcode, payload, uuid.uuid4().hex))
    assert answer.code.value == "000", answer
    return answer


def deliver(roles: Roles, source: RoleRuntime, aggregate: str, seen: set[str]) -> list[OutboxMessage]:
    """Hand every message ``source`` queued for ``aggregate`` (and not yet seen) to the other role, checked."""
    target = roles.platform.service if source is roles.issuer else roles.issuer.service
    fresh = [msg for msg in queued(source, aggregate) if msg.id not in seen and msg.kind.startswith("ELY")]
    for msg in fresh:
        seen.add(msg.id)
        # Identity numbers wait sealed in the outbox; the sender opens them as it sends.
        payload = personal.unseal_message(source.registry.box, msg.payload, msg.dedupe_key)
        strict(msg.kind, payload)
        handled(target, msg.kind, payload)
    return fresh


# --- maximal inputs, generated ---------------------------------------------------------------------------

LETTERS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"))


def exactly(length: int) -> st.SearchStrategy[str]:
    return st.text(LETTERS, min_size=length, max_size=length)


# For each text field: the longest our platform accepts (its table, or the tightest table carrying it
# back), and one more than that for the fields a later table binds.
ACCEPTED_MAX = {**SPEC_LIMITS["ELY101"], "applicationId": 32, "supplier": 50, "projectCode": 50}
ACCEPTED_MAX.update(projectName=128, bidCode=128)


@st.composite
def maximal_application(draw: st.DrawFn) -> dict[str, str]:
    fields = application_fields("x")
    for name, limit in ACCEPTED_MAX.items():
        fields[name] = draw(exactly(limit))
    # Unique across examples (the databases live on), still at its full length.
    fields["applicationId"] = uuid.uuid4().hex[:12] + fields["applicationId"][12:]
    fields["needPaper"] = "1"
    return fields


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=maximal_application())
def test_every_message_of_a_maximal_application_fits_its_table(roles: Roles, fields: dict[str, str]) -> None:
    platform, issuer = roles.submitting, roles.issuing
    app = platform.submit(roles.institution_id, fields, "operator")
    seen: set[str] = set()
    sent = deliver(roles, roles.platform, app.id, seen)  # ELY101, as queued, to the issuer
    assert [m.kind for m in sent] == ["ELY101"]
    mine = issuer.application(fields["applicationId"])
    if mine.stage == "review":
        issuer.approve(mine.id, "operator")
    issuer.record_payment(mine.id, Decimal(mine.premium), datetime.now(UTC), "01", "operator")
    assert [m.kind for m in deliver(roles, roles.issuer, mine.id, seen)] == ["ELY102"] * 3  # 01, 05, 03
    guarantee_id = issuer.application(mine.id).guarantee_id
    # The platform's fetch: ELY103 and ELY104, and the issuer's answers, each against its table.
    fetch = {"applicationId": fields["applicationId"]}
    strict("ELY103", fetch)
    file = handled(issuer, "ELY103", fetch).data
    strict("ELY103", file, response=True)
    verify = {"guaranteeId": guarantee_id, "guaranteeData": file["guaranteeFileContent"]}
    strict("ELY104", verify)
    verdict = handled(issuer, "ELY104", verify).data
    strict("ELY104", verdict, response=True)
    assert verdict["status"] == "01"
    # A claim with every free field at its table's length, paid; then a surrender refused, reason 1000.
    claim = platform.claim(app.id, {**CLAIM, "claimReason": "因" * 255, "openBank": "行" * 255}, "operator")
    assert [m.kind for m in deliver(roles, roles.platform, app.id, seen)] == ["ELY105"]
    [open_claim] = views.claims(roles.issuer.sessions, "issuer", Filters(state="open"), Window()).items
    issuer.decide_claim(open_claim["id"], pay=True, actor="operator")
    assert {m.kind for m in deliver(roles, roles.issuer, mine.id, seen)} == {"ELY106"}
    assert platform.claims_of(app.id)[0].id == claim.id
    platform.refund(app.id, surrender=True, reason="由" * 1000, actor="operator")
    assert [m.kind for m in deliver(roles, roles.platform, app.id, seen)] == ["ELY109"]
    for notice in deliver(roles, roles.issuer, mine.id, seen):
        assert notice.kind == "ELY102"  # whatever the rules answer the surrender with


# --- each defect of issue 15 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "length", "carrier"),
    [
        ("applicationId", 33, "ELY103 carries it back as applicationId"),
        ("supplier", 256, "ELY105 carries it back as companyName"),
        ("projectCode", 51, "ELY105 carries it back as projectCode"),
        ("projectName", 129, "ELY105 carries it back as projectName"),
        ("bidCode", 129, "ELY105 carries it back as bidNum"),
    ],
)
def test_the_platform_refuses_an_application_whose_fields_cannot_travel_back(
    roles: Roles, field: str, length: int, carrier: str
) -> None:
    fields = application_fields("TOO-LONG", **{field: "长" * length})
    with pytest.raises(OperatorError, match=f"{field}: must be at most {length - 1} characters: {carrier}"):
        roles.submitting.submit(roles.institution_id, fields, "operator")
    assert views.applications(roles.platform.sessions, "platform", Filters(), Window()).total == 0


def test_the_issuer_refuses_at_the_door_what_its_notices_cannot_carry_back(roles: Roles) -> None:
    for field, length, rule in (
        ("applicationId", 33, "applicationId: must be at most 32 characters: ELY102 carries it back"),
        ("supplier", 51, "supplier: must be at most 50 characters: ELY102 carries it back as companyName"),
    ):
        with pytest.raises(ProtocolError) as refused:
            roles.issuing.handle(
                inbound("ELY101", application_fields("D" * 10, **{field: "长" * length}), "a" * 32)
            )
        assert refused.value.code.value == "103" and rule in refused.value.message


def test_a_profile_widens_a_table_for_a_peer_that_takes_longer_values(db_pair: tuple[str, str]) -> None:
    roles = _roles(db_pair)
    try:
        peer = roles.issuer.registry.peers()[0]
        wide = {"limits": {"ELY102.companyName": 256, "ELY102.applicationId": 64}}
        set_profile(roles.issuer, peer.id, wide)
        long_id = "I" * 64
        answer = roles.issuing.handle(
            inbound("ELY101", application_fields(long_id, supplier="长" * 256), "b" * 32)
        )
        assert answer.code.value == "000"
        notices = queued(roles.issuer, roles.issuing.application(long_id).id)
        assert notices and notices[0].payload["applicationId"] == long_id
        with pytest.raises(MessageInvalid, match="must be at most 32 characters in ELY102"):
            strict("ELY102", notices[0].payload)  # as printed it would not fit: the profile says it may
    finally:
        roles.issuing.close()
        roles.issuer.engine.dispose()
        roles.platform.engine.dispose()


def test_a_refund_reason_longer_than_ely109_allows_is_refused_before_it_is_queued(roles: Roles) -> None:
    app = roles.submitting.submit(roles.institution_id, application_fields("R-1"), "operator")
    before = len(queued(roles.platform, app.id))
    with pytest.raises(
        OperatorError, match="refundReason: must be at most 1000 characters in ELY109, got 5000"
    ):
        roles.submitting.refund(app.id, surrender=False, reason="因" * 5000, actor="operator")
    assert len(queued(roles.platform, app.id)) == before


def test_the_bond_travels_under_the_name_the_table_prints_unless_the_profile_says(roles: Roles) -> None:
    app = roles.submitting.submit(roles.institution_id, application_fields("B-1"), "operator")
    (sent,) = queued(roles.platform, app.id)
    assert sent.payload["performanceBou"] == "125000.00" and "performanceBond" not in sent.payload
    set_profile(roles.platform, roles.institution_id, {"amount_name": "performanceBond"})
    app = roles.submitting.submit(roles.institution_id, application_fields("B-2"), "operator")
    (sent,) = queued(roles.platform, app.id)
    assert sent.payload["performanceBond"] == "125000.00" and "performanceBou" not in sent.payload


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"performanceBou": "1.00"}, "performanceBou: differs from performanceBond"),
        ({"needPaper": "1", "mailAddress": "   "}, "mailAddress: required when needPaper is 1"),
        ({"supplier": " \u3000 "}, "supplier: required"),
        ({"performanceBond": "0.00"}, "performanceBond: must be more than 0.00"),
        ({"bidAmount": "0.00"}, "bidAmount: must be more than 0.00"),
    ],
)
def test_small_refusals_name_the_field(changes: dict[str, str], rule: str) -> None:
    with pytest.raises(MessageInvalid, match=re.escape(rule)):
        m.parse_request("ELY101", application_fields("S-1", **changes))


def test_a_claim_of_nothing_and_a_pdf_suffix_in_capitals_are_refused() -> None:
    guarantee = {
        "guaranteeId": "BH1",
        "bidNum": "B1",
        "projectName": "P",
        "projectCode": "PC",
        "companyName": "C",
        "socialCreditCode": "S",
        "purchaseName": "N",
        "purchaseSocCode": "PS",
    }
    m.parse_request("ELY105", {**guarantee, **CLAIM})
    with pytest.raises(MessageInvalid, match=re.escape("claimAmount: must be more than 0.00")):
        m.parse_request("ELY105", {**guarantee, **CLAIM, "claimAmount": "0.00"})
    content = base64.b64encode(b"%PDF").decode()
    data = {"guaranteeFileName": "BH001.PDF", "guaranteeFileContent": content}
    with pytest.raises(MessageInvalid, match=r"guaranteeFileName: must be a file name ending in \.pdf \("):
        m.parse_response_data("ELY103", data)


def test_check_lengths_names_the_table_and_the_profile_setting() -> None:
    with pytest.raises(MessageInvalid) as error:
        check_lengths("ELY105", {"guaranteeId": "G" * 33})
    assert str(error.value) == (
        "guaranteeId: must be at most 32 characters in ELY105, got 33 "
        "(a counterparty's profile may widen it: limits ELY105.guaranteeId)"
    )
    check_lengths("ELY105", {"guaranteeId": "G" * 33}, {"ELY105.guaranteeId": 64})


def test_the_registry_refuses_an_appid_longer_than_the_protocol_allows(roles: Roles) -> None:
    register = {
        "name": "n",
        "role": "institution",
        "appkey": "k",
        "appsecret": "s" * 16,
        "public_key": SM2PrivateKey.generate().public_key,
    }
    with pytest.raises(ValueError, match="appid must be 1 to 32 characters"):
        roles.platform.registry.add_counterparty(appid="A" * 33, **register)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"ELY999\.x is not a text field of a spec 000 table"):
        roles.platform.registry.add_counterparty(
            appid="A" * 32,
            profile={"limits": {"ELY999.x": 10}},
            **register,  # type: ignore[arg-type]
        )
    assert roles.platform.registry.add_counterparty(appid="A" * 32, **register).channel.appid == "A" * 32  # type: ignore[arg-type]
