"""Referrals (移送): a case referred to 公安机关 / 消防救援机构 / the licence authority / 纪检监察机关,
its 移送函 (a numbered document of the case), the reply clock, the reply and the withdrawal.
Staff only: an enterprise contact is refused (403) — a clue handed to the police is not the
referred unit's to read. The pages (api/pages/sanctions/referrals.py) call the same services.
docs/referrals.md."""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import AppClock, CurrentUser, Db
from api.responses import OrjsonResponse
from cases.ledger.access import STAFF_ROLES, require_role
from cases.referrals import STATES, reads, services
from cases.referrals.policy import referral_policy

router = APIRouter(prefix="/api", tags=["referrals"])


class NewReferral(BaseModel):
    target: Optional[str] = Field(None, max_length=32, description="移送对象：public_security 公安机关、fire_rescue 消防救援机构、"
                                  "licence_authority 安全生产许可证颁发管理机关、discipline 纪检监察机关（见 /api/referral-targets）")
    body_name: Optional[str] = Field(None, max_length=200, description="接收机关名称，如 苏州市公安局姑苏分局")
    subject: Optional[str] = Field(None, max_length=200, description="移送事由（不填为移送对象的默认事由）")
    facts: Optional[str] = Field(None, max_length=8000, description="移送事实（不填为案件的标题、部位和描述）")
    legal_basis: Optional[str] = Field(None, max_length=4000, description="移送依据（不填为移送对象的默认依据）")
    request: Optional[str] = Field(None, max_length=4000, description="请求事项（不填为移送对象的默认请求）")
    attachments: Optional[Union[list[str], str]] = Field(None, description="附件清单（每项一行；不填为默认清单）")


class Reply(BaseModel):
    received_at: Optional[str] = Field(None, max_length=40, description="回复收到日期（2026-12-01）或带时区的时间")
    reply_no: Optional[str] = Field(None, max_length=128, description="回复文号")
    content: Optional[str] = Field(None, max_length=8000, description="回复内容")
    result: Optional[str] = Field(None, max_length=32, description="处理结果：filed 已立案、not_filed 不予立案、"
                                  "suspended 已暂扣、handled 已处理、other 其他")


class Withdrawal(BaseModel):
    reason: Optional[str] = Field(None, max_length=4000, description="撤回理由")


State = Literal[STATES]  # type: ignore[valid-type]


@router.get("/referral-targets", summary="移送对象（政策数据：默认事由、依据、请求事项、回复期限；本辖区常用接收机关名称）")
def get_targets(user: CurrentUser, db: Db) -> dict[str, Any]:
    require_role(user, *STAFF_ROLES)
    policy = referral_policy()
    with db.session() as s:
        bodies = services.bodies_for(s, user.jurisdiction_code)
    return {"policy_version": policy.version, "results": policy.results, "items": [
        {"target": t.name, "label": t.label, "subject": t.subject, "legal_basis": t.legal_basis, "request": t.request,
         "reply_amount": t.reply_amount, "reply_unit": t.reply_unit,
         "attachments": services.default_attachments(t.name), "suggested_bodies": bodies.get(t.name, [])}
        for t in policy.targets.values()]}


@router.post("/cases/{case_id}/referrals", status_code=201,
             summary="移送：向公安机关、消防救援机构、许可证颁发机关或纪检监察机关移送案件线索（生成移送函，开始回复计时）")
def post_referral(case_id: int, body: NewReferral, user: CurrentUser, db: Db, clock: AppClock):
    now = clock.now()
    with db.transaction() as s:
        referral = services.refer(s, user, case_id, body.model_dump(exclude_none=True), now)
        out = reads.one(s, referral, now)
    return OrjsonResponse(out, status_code=201)


@router.get("/cases/{case_id}/referrals", summary="案件的移送记录（仅限监管部门工作人员）")
def get_case_referrals(case_id: int, user: CurrentUser, db: Db, clock: AppClock):
    with db.session() as s:
        return {"items": reads.case_referrals(s, user, case_id, clock.now())}


@router.get("/referrals", summary="移送记录（本辖区及下级；可按辖区、移送对象、状态筛选：open 待回复、overdue 逾期未回复、"
                                  "replied 已回复、withdrawn 已撤回；逾期的在前）")
def get_referrals(user: CurrentUser, db: Db, clock: AppClock,
                  jurisdiction_code: Optional[str] = Query(None, max_length=12), target: Optional[str] = Query(None, max_length=32),
                  state: Optional[State] = None, limit: int = Query(100, ge=1, le=reads.PAGE_MAX)):
    with db.session() as s:
        return reads.list_referrals(s, user, clock.now(), jurisdiction_code=jurisdiction_code, target=target,
                                    state=state, limit=limit)


@router.get("/referrals/{referral_id}", summary="一件移送记录（移送函、回复期限、回复）")
def get_referral(referral_id: int, user: CurrentUser, db: Db, clock: AppClock):
    with db.session() as s:
        referral, _ = services.get_referral(s, user, referral_id)
        return reads.one(s, referral, clock.now())


@router.post("/referrals/{referral_id}/reply", summary="登记接收机关的回复（收到日期、文号、内容、处理结果），回复计时结束")
def post_reply(referral_id: int, body: Reply, user: CurrentUser, db: Db, clock: AppClock):
    now = clock.now()
    with db.transaction() as s:
        referral = services.record_reply(s, user, referral_id, body.model_dump(exclude_none=True), now)
        return reads.one(s, referral, now)


@router.post("/referrals/{referral_id}/withdraw", summary="撤回尚未回复的移送（须说明理由），回复计时取消")
def post_withdraw(referral_id: int, body: Withdrawal, user: CurrentUser, db: Db, clock: AppClock):
    now = clock.now()
    with db.transaction() as s:
        referral = services.withdraw(s, user, referral_id, body.model_dump(exclude_none=True), now)
        return reads.one(s, referral, now)
