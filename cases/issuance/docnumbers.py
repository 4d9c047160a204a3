"""Official document numbers (文号): ``<prefix><type char>〔<year>〕<n>号``, gap-free per
issuing authority, document type and year.

The counter row is incremented inside the transaction that issues the document, so a
rolled-back issue rolls its number back and two concurrent issuers queue on the row lock.
"""
from __future__ import annotations

from sqlalchemy import bindparam, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cases.models import DocumentNumberCounter, Jurisdiction

# The character after the authority prefix names the document type (local practice).
DOC_TYPE_CHARS = {
    "rectification_notice": "改", "stop_work_order": "停", "supervision_notice": "督", "supervision_letter": "督函",
    "interview_notice": "约", "warning_letter": "警", "public_criticism": "通", "reinspection_opinion": "复",
    "closure_confirmation": "销", "accident_flash_report": "快", "dangerous_building_notice": "危",
    "escalation_transfer": "提", "occurrence_flash_report": "险",
    "inspection_record": "检",  # 检查记录 (cases/inspections: numbered per inspection, not per case)
    "interview_record": "约记",  # 约谈记录 (cases/interviews)
    "referral_letter": "移",  # 移送函 (cases/referrals)
}


# Titles of the documents as printed and listed on the case.
DOCUMENT_TITLES = {
    "rectification_notice": "隐患整改通知书", "stop_work_order": "责令停工通知书", "supervision_notice": "挂牌督办通知书",
    "supervision_letter": "督办函", "interview_notice": "约谈通知书", "warning_letter": "警示函",
    "public_criticism": "通报批评", "reinspection_opinion": "复查意见书", "closure_confirmation": "隐患整改销号确认书",
    "accident_flash_report": "事故快报", "dangerous_building_notice": "危险房屋通知书",
    "escalation_transfer": "提级督办通知", "occurrence_flash_report": "险情快报",
    "inspection_record": "监督检查记录",
    "interview_record": "约谈记录",
    "referral_letter": "移送函",
}

# 省级简称 (a province's one-character abbreviation used in document numbers).
PROVINCE_ABBREVIATIONS = {
    "北京市": "京", "天津市": "津", "河北省": "冀", "山西省": "晋", "辽宁省": "辽", "吉林省": "吉", "黑龙江省": "黑",
    "上海市": "沪", "江苏省": "苏", "浙江省": "浙", "安徽省": "皖", "福建省": "闽", "江西省": "赣", "山东省": "鲁",
    "河南省": "豫", "湖北省": "鄂", "湖南省": "湘", "广东省": "粤", "海南省": "琼", "重庆市": "渝", "四川省": "川",
    "贵州省": "黔", "云南省": "滇", "陕西省": "陕", "甘肃省": "甘", "青海省": "青",
}


def authority_prefix(jurisdiction: Jurisdiction, overrides: dict[str, str] | None = None) -> str:
    """e.g. 姑苏建质 for 姑苏区, 苏建质 for 江苏省; configurable per authority."""
    if overrides and jurisdiction.code in overrides:
        return overrides[jurisdiction.code]
    if jurisdiction.level == "province" and jurisdiction.name in PROVINCE_ABBREVIATIONS:
        return f"{PROVINCE_ABBREVIATIONS[jurisdiction.name]}建质"
    name = jurisdiction.name
    for suffix in ("省", "市", "区", "县"):
        if name.endswith(suffix) and len(name) > 2:
            name = name[: -len(suffix)]
            break
    short = name[:1] if jurisdiction.level == "province" else name[:2]
    return f"{short}建质"


def next_document_serial(session: Session, authority_code: str, doc_type: str, year: int, count: int = 1) -> int:
    """Reserve ``count`` consecutive numbers; returns the last one."""
    # On the table, not the entity: an ORM-enabled UPDATE … RETURNING goes through the ORM's bulk
    # update (synchronising the session's objects) — a counter row is never loaded as an object.
    params = {"w_authority_code": authority_code, "w_doc_type": doc_type, "w_year": year, "count": count}
    value = session.execute(_TAKE, params).scalar()
    if value is not None:
        return value
    try:
        with session.begin_nested():
            session.execute(insert(DocumentNumberCounter).values(
                authority_code=authority_code, doc_type=doc_type, year=year, last_value=count))
        return count
    except IntegrityError:
        return session.execute(_TAKE, params).scalar_one()


_t = DocumentNumberCounter.__table__
_TAKE = (update(_t).where(_t.c.authority_code == bindparam("w_authority_code"),
                          _t.c.doc_type == bindparam("w_doc_type"), _t.c.year == bindparam("w_year"))
         .values(last_value=_t.c.last_value + bindparam("count")).returning(_t.c.last_value))


def issue_document_number(session: Session, jurisdiction: Jurisdiction, doc_type: str, year: int,
                          overrides: dict[str, str] | None = None) -> str:
    serial = next_document_serial(session, jurisdiction.code, doc_type, year)
    return format_document_number(authority_prefix(jurisdiction, overrides), doc_type, year, serial)


def format_document_number(prefix: str, doc_type: str, year: int, serial: int) -> str:
    return f"{prefix}{DOC_TYPE_CHARS.get(doc_type, '')}〔{year}〕{serial}号"
