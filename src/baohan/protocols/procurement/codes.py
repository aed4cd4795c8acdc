"""Response codes of spec 000 §11.1 and the exception that carries one to the wire."""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    """错误码: 000 is success, everything else a failure."""

    OK = "000"
    SIGN_MISMATCH = "101"
    UNDECRYPTABLE = "102"
    INVALID = "103"
    UNKNOWN_PROJECT = "201"
    UNKNOWN_CONTRACT = "202"
    UNKNOWN_APPLICATION = "203"
    UNKNOWN_SUPPLIER = "204"
    PAUSED = "301"
    SERVER_ERROR = "302"


# A refusal with one of these may go differently later; any other is final for that content.
RETRYABLE = frozenset({Code.PAUSED, Code.SERVER_ERROR})

MESSAGES: dict[Code, str] = {
    Code.OK: "成功",
    Code.SIGN_MISMATCH: "数据接收失败, 数据验签未通过",
    Code.UNDECRYPTABLE: "数据接收失败, 数据解密失败",
    Code.INVALID: "数据接收失败, 请求参数校验未通过",
    Code.UNKNOWN_PROJECT: "业务处理失败, 项目编号不存在",
    Code.UNKNOWN_CONTRACT: "业务处理失败, 合同编号不存在",
    Code.UNKNOWN_APPLICATION: "业务处理失败, 保函唯一标识/保函申请编号不存在",
    Code.UNKNOWN_SUPPLIER: "业务处理失败, 供应商信息不存在",
    Code.PAUSED: "系统服务暂停, 请稍候",
    Code.SERVER_ERROR: "服务器异常",
}


class ProtocolError(Exception):
    """A failure answered with a §11.1 code; ``detail`` says which field or rule, in plain words."""

    def __init__(self, code: Code, detail: str = "") -> None:
        self.code = Code(code)
        self.detail = detail
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The spec's text for the code, then the detail (the wire ``message``, at most 200 characters)."""
        text = MESSAGES[self.code] + (f": {self.detail}" if self.detail else "")
        return text[:200]
