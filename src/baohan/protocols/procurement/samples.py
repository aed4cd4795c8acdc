"""A realistic ELY101 application (wire names), for the demo, the sandbox's users, the tests and benchmarks."""

from __future__ import annotations

SAMPLE_APPLICATION: dict[str, str] = {
    "supplier": "示范建设工程有限公司",
    "socialCreditCode": "91110108MA01DEMO1X",
    "legalName": "张三",
    "legalIdNo": "110101198001011234",
    "supplierAddress": "北京市海淀区中关村大街1号",
    "performanceBond": "125000.00",
    "contacts": "李四",
    "contactsWay": "13800138000",
    "contractCerNo": "110101199001011234",
    "needPaper": "0",
    "projectCode": "ZB-2026-DEMO",
    "projectName": "示范市第一中学教学楼改造工程",
    "bidCode": "ZB-2026-DEMO-01",
    "bidName": "第一标段",
    "purchaseNature": "工程类",
    "bidDate": "20261101",
    "bidAmount": "2500000.00",
    "purchaseName": "示范市第一中学",
    "purchaseSocCode": "12110000400000000X",
    "guaranteeDate": "12",
}


def sample_application(application_id: str, **changes: str) -> dict[str, str]:
    """The sample with its own ``applicationId`` and any field changed."""
    return {**SAMPLE_APPLICATION, "applicationId": application_id, **changes}
