"""The request models of spec 004's 14 interfaces, applydata's inner model and the answers' ``data``.

Fields are named as on the wire; every limit is the spec table's, in characters. Amounts are Decimal
exactly: a numeric string or a JSON number (read as its exact text), never negative, at most two
decimals (``rate``: at most six, a fraction such as ``0.005`` for five per mille; six is a thousandth of
a per mille, finer than any premium schedule). Blank values are absent; a refusal names the field and
the rule (``address: required when type is 1 (专票)``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from baohan.protocols.fields import (
    AMOUNT_MAX,
    Base64Data,
    StringOnly,
    Text,
    WireDateTime,
    WireModel,
    require_when,
    text,
)
from baohan.protocols.tender.wire import number_text
from baohan.protocols.wirejson import parse_json

_NUMBER = re.compile(r"[0-9]{1,17}(?:\.[0-9]{1,17})?", re.ASCII)
_INDEX = re.compile(r"[1-9][0-9]{0,8}", re.ASCII)


def _decimal(places: int, rule: str) -> Any:
    def validate(value: object) -> Decimal:
        if isinstance(value, str):
            if not _NUMBER.fullmatch(value):
                raise PydanticCustomError("number", rule)
            number = Decimal(value)
        elif isinstance(value, int | Decimal) and not isinstance(value, bool):
            number = Decimal(value)  # a JSON number, parsed exactly
        else:
            raise PydanticCustomError("number", rule)
        exponent = number.as_tuple().exponent
        if (
            not number.is_finite()
            or number.is_signed()
            or number > AMOUNT_MAX
            or (isinstance(exponent, int) and -exponent > places)
        ):
            raise PydanticCustomError("number", rule)
        return number

    return PlainValidator(validate)


Amount = Annotated[
    Decimal,
    _decimal(2, "must be an amount in yuan, not negative, at most 2 decimals, e.g. 125000.00"),
    PlainSerializer(number_text, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "examples": ["125000.00"]}),
]
"""Money in yuan: ``"125000.00"``, ``"125000"`` or the JSON number ``125000.5``; Decimal inside."""

Rate = Annotated[
    Decimal,
    _decimal(6, "must be a rate, a fraction not negative with at most 6 decimals, e.g. 0.005"),
    PlainSerializer(number_text, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "examples": ["0.005"]}),
]
"""A premium rate as a fraction (``0.005`` is five per mille); Decimal inside."""


def _choice(meanings: Mapping[str, str]) -> Any:
    rule = "must be " + " or ".join(f"{value} ({meaning})" for value, meaning in meanings.items())

    def check(value: str) -> str:
        if value not in meanings:
            raise PydanticCustomError("choice", rule)
        return value

    return AfterValidator(check)


ApplyStatus = Annotated[str, StringOnly, _choice({"1": "approved", "0": "refused"})]
QuitStatus = Annotated[str, StringOnly, _choice({"1": "退保成功", "0": "退保失败"})]
FileType = Annotated[str, StringOnly, _choice({"1": "密文", "2": "明文"})]
InvoiceType = Annotated[str, StringOnly, _choice({"0": "普票", "1": "专票"})]
SEALED: Final = "1"
PLAIN: Final = "2"
SPECIAL_INVOICE: Final = "1"


def _index(value: object, info: ValidationInfo) -> int:
    wire = isinstance(info.context, Mapping) and bool(info.context.get("wire"))
    if isinstance(value, int) and not isinstance(value, bool) and not wire and 1 <= value < 10**9:
        return value
    if isinstance(value, str) and _INDEX.fullmatch(value):
        return int(value)
    raise PydanticCustomError("index", "must be a slice number counting from 1, e.g. 1")


FileIndex = Annotated[
    int,
    PlainValidator(_index),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "examples": ["1"]}),
]


# --- requests ------------------------------------------------------------------------------------------


class TenderRequest(WireModel):
    """The fields every request carries."""

    appkey: Text = text(50)
    timestamp: WireDateTime
    sign: Text = text(200)


class PlatformRequest(TenderRequest):
    """A request the platform sends: it names itself by ``platformcode``."""

    platformcode: Text = text(50)


class BaohanApply(PlatformRequest):
    """baohanapply: an application, sealed for the bidder (platform → institution)."""

    applyno: Text = text(50)
    applydata: Text = text(2000)
    digitalenvelope: Text = text(200)


class ApplicationData(WireModel):
    """The JSON inside ``applydata``, once opened: the bidder in the clear, the project sealed."""

    biddername: Text = text(200)
    biddercode: Text = text(50)
    biaoduanno: Text = text(500)
    biaoduanname: Text = text(1000)
    bzjamount: Amount
    zbr: Text = text(500)
    zbrorgnum: Text | None = text(200, required=False)


class BaohanNotice(TenderRequest):
    """baohannotice: the institution's decision on an application (institution → platform)."""

    applyno: Text = text(50)
    baohanno: Text = text(50)
    payername: Text | None = text(200, required=False)
    payeraccount: Text | None = text(50, required=False)
    instname: Text = text(200)
    generatetime: WireDateTime
    rate: Rate
    cost: Amount
    applystatus: ApplyStatus


class DownloadPublicKey(TenderRequest):
    """downloadpublickey: the institution asks for the platform's SM2 public key."""

    applyno: Text = text(50)
    bak1: Text | None = text(200, required=False)
    bak2: Text | None = text(200, required=False)


class UploadBaohanFile(TenderRequest):
    """uploadbaohanfile: one slice of an encrypted guarantee file."""

    applyno: Text = text(50)
    baohanno: Text = text(50)
    baohanfile: Base64Data
    filetype: FileType
    index: FileIndex
    bak1: Text | None = text(200, required=False)
    bak2: Text | None = text(200, required=False)


class BaohanFileCompleteNotice(TenderRequest):
    """baohanfilecompletenotice: every slice is up; the file's key and iv (SM2-sealed) and digest."""

    applyno: Text = text(50)
    baohanno: Text = text(50)
    key: Text = text(200)
    iv: Text = text(200)
    baohanfilemd5: Text = text(200)
    filetype: FileType
    bak1: Text | None = text(200, required=False)
    bak2: Text | None = text(200, required=False)


class BaohanRestore(PlatformRequest):
    """baohanrestore: bids are open; the project key to restore the guarantee in the clear."""

    applyno: Text = text(50)
    baohanno: Text = text(50)
    kaibiaotime: WireDateTime
    key: Text = text(200)


class InvoiceApply(PlatformRequest):
    """invoiceapply: the bidder asks for an invoice; a special one (type 1) needs the company's details."""

    applyno: Text = text(50)
    baohanno: Text = text(50)
    biddername: Text = text(200)
    biddercode: Text = text(50)
    amount: Amount
    type: InvoiceType
    address: Text | None = text(500, required=False)
    phone: Text | None = text(50, required=False)
    bank: Text | None = text(200, required=False)
    account: Text | None = text(50, required=False)
    email: Text | None = text(100, required=False)
    mobile: Text | None = text(50, required=False)
    contactname: Text | None = text(50, required=False)
    contactaddress: Text | None = text(500, required=False)

    @model_validator(mode="after")
    def _special_needs_details(self) -> InvoiceApply:
        if self.type == SPECIAL_INVOICE:
            require_when(self, ("address", "phone", "bank", "account"), "type is 1 (专票)")
        return self


class InvoiceNotice(TenderRequest):
    """invoicenotice: the invoice is out (or refused); keyed by the guarantee, it has no applyno."""

    baohanno: Text = text(50)
    invoiceurl: Text | None = text(1000, required=False)
    invoicecode: Text | None = text(50, required=False)
    invoiceno: Text | None = text(50, required=False)
    applystatus: ApplyStatus


class QuitApply(PlatformRequest):
    """quitapply: the bidder surrenders the guarantee before bids open."""

    applyno: Text = text(50)
    baohanno: Text = text(50)
    reason: Text = text(500)


class QuitNotice(TenderRequest):
    """quitnotice: the institution's answer to a surrender; a success says when (tuibaotime)."""

    applyno: Text = text(50)
    baohanno: Text = text(50)
    applystatus: QuitStatus
    tuibaotime: WireDateTime | None = None

    @model_validator(mode="after")
    def _success_says_when(self) -> QuitNotice:
        if self.applystatus == "1":
            require_when(self, ("tuibaotime",), "applystatus is 1 (退保成功)")
        return self


class CancelNotice(PlatformRequest):
    """canclenotice (sic): the tenderer's agent cancels the guarantee (optional in the spec)."""

    applyno: Text = text(50)
    baohanno: Text = text(50)


_FILELIST_RULE = 'must be a JSON array of {"fileurl": "..."} objects'


class ClaimsNotice(PlatformRequest):
    """claimsnotice: a claim on the guarantee, to be paid on first demand."""

    applyno: Text = text(50)
    baohanno: Text = text(50)
    payeraccount: Text | None = text(50, required=False)
    payeramount: Amount | None = None
    applyusername: Text = text(200)
    applyuserphone: Text = text(50)
    reason: Text | None = text(500, required=False)
    filelist: Text | None = None

    @model_validator(mode="after")
    def _filelist_is_urls(self) -> ClaimsNotice:
        if self.filelist is not None:
            self.file_urls  # noqa: B018 - parsed here so that a bad list is refused at the door
        return self

    @property
    def file_urls(self) -> tuple[str, ...]:
        """The claim's file URLs from ``filelist``."""
        if self.filelist is None:
            return ()
        try:
            items = parse_json(self.filelist.encode("utf-8"))
        except ValueError:
            items = None
        if not isinstance(items, list) or not all(
            isinstance(item, dict) and isinstance(item.get("fileurl"), str) for item in items
        ):
            raise PydanticCustomError("filelist", _FILELIST_RULE, {"field": "filelist"})
        return tuple(item["fileurl"] for item in items)


class GiveUpApply(PlatformRequest):
    """giveupapply: the bidder abandons an application at the platform."""

    applyno: Text = text(50)


class GiveUpNotice(TenderRequest):
    """giveupnotice: the bidder abandons an application at the institution."""

    applyno: Text = text(50)


# --- answers' data -------------------------------------------------------------------------------------


class RedirectData(WireModel):
    """baohanapply's answer: where the bidder goes to open the application with their CA key."""

    redirecturl: Text = text(500)


class PublicKeyData(WireModel):
    """downloadpublickey's answer: the platform's SM2 public key (``04‖X‖Y`` hex by default)."""

    publickey: Text = text(500)
