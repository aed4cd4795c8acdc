"""Message bodies of the procurement protocol (spec 000 §10): ELY101–ELY109, requests and response data.

This is the one place the wire names live: every field is named exactly as on the wire (camelCase).
Lengths, required flags and enums follow the spec tables, with the widenings for receiving noted at
``ID_MAX`` (what we send is held to the tables as printed: ``tables.py``).
The envelope around a body (transcode, msgcode, sign; code, message) belongs to the codec.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Final, Self

from pydantic import AfterValidator, AliasChoices, Field, model_validator
from pydantic_core import PydanticCustomError

from baohan.protocols.fields import (
    SHANGHAI,
    Amount,
    Base64Data,
    CompactDate,
    MessageInvalid,
    Months,
    StringOnly,
    Text,
    WireDate,
    WireDateTime,
    WireModel,
    require_order,
    require_when,
    text,
    to_wire,
    validate_wire,
)

__all__ = [
    "SHANGHAI",
    "TRANSCODES",
    "ApplicationStatus",
    "ClaimStatus",
    "Direction",
    "ELY101Request",
    "ELY102Request",
    "ELY103Request",
    "ELY103ResponseData",
    "ELY104Request",
    "ELY104ResponseData",
    "ELY105Request",
    "ELY106Request",
    "ELY107Request",
    "ELY108Request",
    "ELY109Request",
    "InvalidType",
    "MessageInvalid",
    "NeedPaper",
    "PayType",
    "PurchaseNature",
    "RefundType",
    "Transcode",
    "VerifyStatus",
    "parse_request",
    "parse_response_data",
    "to_wire",
]

# The tables disagree about the same datum from one message to the next (applicationId is 64 in
# ELY101/ELY109 but 32 in ELY102/ELY103; guaranteeId 64 everywhere but 32 in ELY105; projectCode 128 in
# ELY101 but 50 in ELY105; the supplier's name 256 in ELY101 but 50 in ELY102 ...). These models read
# what we receive, so each datum takes its longest limit everywhere; what we send is held to its own
# table as printed (tables.py), and intake refuses what could not travel back (README, "on the wire").
ID_MAX: Final = 64
PROJECT_CODE_MAX: Final = 128
PROJECT_NAME_MAX: Final = 256
BID_CODE_MAX: Final = 256
COMPANY_NAME_MAX: Final = 256
PURCHASER_NAME_MAX: Final = 256


# --- code lists ----------------------------------------------------------------------------------------


class NeedPaper(StrEnum):
    """是否需要纸质保函：1 需要纸质保函，0 不需要纸质保函。"""

    NO = "0"
    YES = "1"


class PurchaseNature(StrEnum):
    """采购品目：服务类、货物类、工程类。"""

    SERVICES = "服务类"
    GOODS = "货物类"
    WORKS = "工程类"


class ApplicationStatus(StrEnum):
    """保函申请状态：01 审批通过，02 审批拒绝，03 开函成功，04 开函失败，05 已支付，06 订单取消失败，07 已取消，08 已退保，09 退保失败。"""

    APPROVED = "01"
    REJECTED = "02"
    ISSUED = "03"
    ISSUE_FAILED = "04"
    PAID = "05"
    CANCEL_FAILED = "06"
    CANCELLED = "07"
    SURRENDERED = "08"
    SURRENDER_FAILED = "09"


class PayType(StrEnum):
    """支付方式：01 网银转账，02 微信支付，03 支付宝支付，04 其他支付方式。"""

    BANK_TRANSFER = "01"
    WECHAT = "02"
    ALIPAY = "03"
    OTHER = "04"


class VerifyStatus(StrEnum):
    """验签状态：01 验证成功，02 验证失败。"""

    VALID = "01"
    INVALID = "02"


class ClaimStatus(StrEnum):
    """理赔状态：00 理赔受理中，01 理赔成功，02 理赔失败。"""

    PROCESSING = "00"
    PAID = "01"
    REFUSED = "02"


class InvalidType(StrEnum):
    """保函失效类型：0 项目履约完成（采购人发起），1 保函文件格式错误（采购人发起）。"""

    CONTRACT_FULFILLED = "0"
    FILE_FORMAT_ERROR = "1"


class RefundType(StrEnum):
    """申请类型（ELY109 applicationType）：01 退保，02 订单取消。"""

    SURRENDER = "01"
    CANCEL_ORDER = "02"


# pydantic would otherwise turn a JSON number 1 into NeedPaper("1"); StringOnly refuses it first.
NeedPaperCode = Annotated[NeedPaper, StringOnly]
PurchaseNatureCode = Annotated[PurchaseNature, StringOnly]
ApplicationStatusCode = Annotated[ApplicationStatus, StringOnly]
PayTypeCode = Annotated[PayType, StringOnly]
VerifyStatusCode = Annotated[VerifyStatus, StringOnly]
ClaimStatusCode = Annotated[ClaimStatus, StringOnly]
InvalidTypeCode = Annotated[InvalidType, StringOnly]
RefundTypeCode = Annotated[RefundType, StringOnly]


def _pdf_file_name(value: str) -> str:
    # The platform stores the file under this name: a bare name, never a path. The table asks for the
    # ".pdf" suffix as written; a receiver checking it so would refuse ".PDF".
    if len(value) <= 4 or not value.endswith(".pdf") or any(c in value for c in "/\\\0"):
        raise PydanticCustomError(
            "pdf_name", "must be a file name ending in .pdf (lowercase), without / or \\"
        )
    return value


def _not_zero(value: Decimal) -> Decimal:
    if not value:
        raise PydanticCustomError("zero_amount", "must be more than 0.00")
    return value


# A bond, a winning bid or a claim of nothing is a mistake, not a message.
NonZeroAmount = Annotated[Amount, AfterValidator(_not_zero)]


PdfFileName = Annotated[str, StringOnly, AfterValidator(_pdf_file_name)]


# --- ELY101 … ELY109 -----------------------------------------------------------------------------------


class ELY101Request(WireModel):
    """ELY101 提交保函申请信息 (platform → institution); also used for an extension of the same project."""

    applicationId: Text = text(ID_MAX)
    supplier: Text = text(COMPANY_NAME_MAX)
    socialCreditCode: Text = text(18)
    legalName: Text = text(20)
    legalIdNo: Text = text(18)
    supplierAddress: Text | None = text(256, required=False)
    # Printed cut off as "performanceBou" in the spec, and some platforms send it so (we do, by default:
    # the profile's amount_name); both names with different values are refused, never one taken silently.
    performanceBond: NonZeroAmount = Field(validation_alias=AliasChoices("performanceBond", "performanceBou"))
    contacts: Text = text(20)
    contactsWay: Text = text(20)
    contractCerNo: Text = text(18)
    needPaper: NeedPaperCode
    mailAddress: Text | None = text(256, required=False)
    projectCode: Text = text(PROJECT_CODE_MAX)
    projectName: Text = text(PROJECT_NAME_MAX)
    bidCode: Text = text(BID_CODE_MAX)
    bidName: Text = text(256)
    purchaseNature: PurchaseNatureCode
    bidDate: CompactDate
    bidAmount: NonZeroAmount
    purchaseName: Text = text(PURCHASER_NAME_MAX)
    purchaseSocCode: Text = text(64)
    guaranteeDate: Months
    contractDate: Months | None = None
    guaranteeStartDate: CompactDate | None = None
    guaranteeEndDate: CompactDate | None = None
    ext1: Text | None = text(256, required=False)
    ext2: Text | None = text(256, required=False)
    ext3: Text | None = text(256, required=False)

    @model_validator(mode="before")
    @classmethod
    def _one_bond(cls, data: Any) -> Any:
        if isinstance(data, dict):
            both = data.get("performanceBond"), data.get("performanceBou")
            if all(isinstance(v, str) and v.strip() for v in both) and both[0] != both[1]:
                raise PydanticCustomError(
                    "two_bonds",
                    "differs from performanceBond: the same bond under both names, send one",
                    {"field": "performanceBou"},
                )
        return data

    @model_validator(mode="after")
    def _conditions(self) -> Self:
        if self.needPaper is NeedPaper.YES:
            require_when(self, ("mailAddress",), "needPaper is 1")
        require_order(self, "guaranteeStartDate", "guaranteeEndDate")
        return self


ISSUE_FIELDS: Final = (
    "guaranteeId",
    "guaranteeAmt",
    "validTimeStart",
    "validTimeEnd",
    "letterOfTime",
    "companyName",
)
PAYMENT_FIELDS: Final = ("payTime", "payAmt", "payType")


class ELY102Request(WireModel):
    """ELY102 保函申请状态通知 (institution → platform); issue fields with 03, payment fields with 05."""

    applicationId: Text = text(ID_MAX)
    applicationStatus: ApplicationStatusCode
    failReason: Text | None = text(255, required=False)
    guaranteeId: Text | None = text(ID_MAX, required=False)
    guaranteeAmt: Amount | None = None
    validTimeStart: WireDateTime | None = None
    validTimeEnd: WireDateTime | None = None
    letterOfTime: WireDateTime | None = None
    companyName: Text | None = text(COMPANY_NAME_MAX, required=False)
    payTime: WireDateTime | None = None
    payAmt: Amount | None = None
    payType: PayTypeCode | None = None

    @model_validator(mode="after")
    def _conditions(self) -> Self:
        status = self.applicationStatus
        if status in (ApplicationStatus.REJECTED, ApplicationStatus.ISSUE_FAILED):
            require_when(self, ("failReason",), f"applicationStatus is {status.value}")
        elif status is ApplicationStatus.ISSUED:
            require_when(self, ISSUE_FIELDS, "applicationStatus is 03")
        elif status is ApplicationStatus.PAID:
            require_when(self, PAYMENT_FIELDS, "applicationStatus is 05")
        require_order(self, "validTimeStart", "validTimeEnd")
        return self


class ELY103Request(WireModel):
    """ELY103 保函文件查询 (platform → institution)."""

    applicationId: Text = text(ID_MAX)


class ELY103ResponseData(WireModel):
    """ELY103 answer: the guarantee PDF; it travels sealed in a digital envelope (spec §9.3.3)."""

    guaranteeFileName: PdfFileName = Field(max_length=255)
    guaranteeFileContent: Base64Data


class ELY104Request(WireModel):
    """ELY104 保函验真 (platform → institution): the file to verify; it travels in a digital envelope."""

    guaranteeId: Text = text(ID_MAX)
    guaranteeData: Base64Data


CERTIFICATE_FIELDS: Final = ("certNum", "certOwner", "certBeginTime", "certEndTime", "certAuthor", "signTime")


class ELY104ResponseData(WireModel):
    """ELY104 answer: the signature check and the signer's certificate (required when status is 01)."""

    guaranteeId: Text = text(ID_MAX)
    status: VerifyStatusCode
    certNum: Text | None = text(150, required=False)
    certOwner: Text | None = text(100, required=False)
    certBeginTime: WireDate | None = None
    certEndTime: WireDate | None = None
    certAuthor: Text | None = text(100, required=False)
    signTime: WireDateTime | None = None

    @model_validator(mode="after")
    def _conditions(self) -> Self:
        # A file that fails verification may carry no signature at all, so no certificate to describe: then
        # all six are absent. Otherwise the certificate found is described in full (README, "ELY104").
        if self.status is VerifyStatus.VALID:
            require_when(self, CERTIFICATE_FIELDS, "status is 01")
        elif any(getattr(self, name) is not None for name in CERTIFICATE_FIELDS[:5]):
            # signTime stays optional here: a signature may carry no signing time.
            require_when(self, CERTIFICATE_FIELDS[:5], "status is 02 and a certificate is described")
        require_order(self, "certBeginTime", "certEndTime")
        return self


class ELY105Request(WireModel):
    """ELY105 索赔申请推送 (platform → institution): the purchaser's claim."""

    guaranteeId: Text = text(ID_MAX)
    bidNum: Text = text(BID_CODE_MAX)
    projectName: Text = text(PROJECT_NAME_MAX)
    projectCode: Text = text(PROJECT_CODE_MAX)
    companyName: Text = text(COMPANY_NAME_MAX)
    socialCreditCode: Text = text(64)
    purchaseName: Text = text(PURCHASER_NAME_MAX)
    purchaseSocCode: Text = text(64)
    claimAmount: NonZeroAmount
    claimReason: Text = text(255)
    openBank: Text = text(255)
    bankAccount: Text = text(255)
    contract: Text = text(255)
    contractWay: Text = text(50)
    contractCertCode: Text = text(18)


class ELY106Request(WireModel):
    """ELY106 理赔结果通知 (institution → platform); paymentMoney and paymentTime when status is 01."""

    guaranteeId: Text = text(ID_MAX)
    status: ClaimStatusCode
    paymentMoney: Amount | None = None
    # 25 in the table, but the beneficiary is the purchaser, whose name ELY101 allows 256 characters.
    paymentBeneficiary: Text | None = text(PURCHASER_NAME_MAX, required=False)
    paymentBeneficiarySocial: Text | None = text(64, required=False)
    paymentTime: WireDateTime | None = None

    @model_validator(mode="after")
    def _conditions(self) -> Self:
        if self.status is ClaimStatus.PAID:
            require_when(self, ("paymentMoney", "paymentTime"), "status is 01")
        return self


class ELY107Request(WireModel):
    """ELY107 保函失效通知 (platform → institution)."""

    guaranteeId: Text = text(ID_MAX)
    invalidTime: WireDateTime
    invalidType: InvalidTypeCode
    remark: Text | None = text(1024, required=False)


class ELY108Request(WireModel):
    """ELY108 保函注销结果推送 (institution → platform)."""

    guaranteeId: Text = text(ID_MAX)
    cancelDate: WireDateTime
    cancelNotice: Text | None = text(200, required=False)


class ELY109Request(WireModel):
    """ELY109 提交取消订单/退保申请信息 (platform → institution); answered later by an ELY102."""

    applicationId: Text = text(ID_MAX)
    applicationType: RefundTypeCode
    refundReason: Text | None = text(1000, required=False)


# --- registry and entry points -------------------------------------------------------------------------


class Direction(StrEnum):
    """Who sends the request: the platform (平台) or the financial institution (金融机构)."""

    PLATFORM_TO_INSTITUTION = "platform_to_institution"
    INSTITUTION_TO_PLATFORM = "institution_to_platform"


@dataclass(frozen=True, slots=True)
class Transcode:
    """One interface: its code, Chinese name, direction, body models, and whether it uses the envelope.

    ``envelope`` is True for ELY103 (its response data is sealed) and ELY104 (its request data is sealed),
    the two interfaces spec §10.3/§10.4 send as a digital envelope (§9.3.3).
    """

    code: str
    name: str
    direction: Direction
    request: type[WireModel]
    response_data: type[WireModel] | None
    envelope: bool


_P2I, _I2P = Direction.PLATFORM_TO_INSTITUTION, Direction.INSTITUTION_TO_PLATFORM

TRANSCODES: Final[dict[str, Transcode]] = {
    t.code: t
    for t in (
        Transcode("ELY101", "提交保函申请信息", _P2I, ELY101Request, None, envelope=False),
        Transcode("ELY102", "保函申请状态通知", _I2P, ELY102Request, None, envelope=False),
        Transcode("ELY103", "保函文件查询", _P2I, ELY103Request, ELY103ResponseData, envelope=True),
        Transcode("ELY104", "保函验真", _P2I, ELY104Request, ELY104ResponseData, envelope=True),
        Transcode("ELY105", "索赔申请推送", _P2I, ELY105Request, None, envelope=False),
        Transcode("ELY106", "理赔结果通知", _I2P, ELY106Request, None, envelope=False),
        Transcode("ELY107", "保函失效通知", _P2I, ELY107Request, None, envelope=False),
        Transcode("ELY108", "保函注销结果推送", _I2P, ELY108Request, None, envelope=False),
        Transcode("ELY109", "提交取消订单/退保申请信息", _P2I, ELY109Request, None, envelope=False),
    )
}


def _transcode(code: str) -> Transcode:
    try:
        return TRANSCODES[code]
    except (KeyError, TypeError):
        raise MessageInvalid("transcode", f"unknown transcode {code}") from None


def parse_request(transcode: str, payload: object) -> WireModel:
    """The request body of ``transcode`` from decoded JSON; MessageInvalid names the first bad field."""
    return validate_wire(_transcode(transcode).request, payload)


def parse_response_data(transcode: str, payload: object) -> WireModel | None:
    """The response ``data`` of ``transcode`` from decoded JSON, or None for one whose answer has none."""
    model = _transcode(transcode).response_data
    if model is None:
        return None
    if payload is None:
        raise MessageInvalid("data", "required")
    return validate_wire(model, payload)
