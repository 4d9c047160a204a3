"""The demo's case generators, one per kind (cases/demo.py ``load_demo`` calls them): each walks a
case through its machine with the real services, at instants in the past, to the state asked for."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from cases.ledger import services
from cases.models import ProjectParty

_HAZARDS = [
    ("scaffolding", "外脚手架连墙件缺失", "{b}号楼外脚手架第{f}层连墙件整层缺失，架体外倾风险"),
    ("power", "临时用电未做三级配电", "{b}号楼施工现场开关箱未做到一机一闸一漏保"),
    ("lifting", "塔吊限位装置失效", "{b}号塔吊起升高度限位器失效，司机未发现"),
    ("excavation", "基坑边堆载超限", "基坑北侧边缘2米内堆放钢筋约30吨，超出设计荷载"),
    ("height", "临边防护缺失", "{b}号楼{f}层楼梯口、电梯井口临边防护栏杆缺失"),
    ("formwork", "高支模未按方案搭设", "地下车库高支模立杆间距大于专项方案要求"),
    ("management", "特种作业人员无证上岗", "现场塔吊司索工2人未持有特种作业操作资格证书"),
    ("confined", "有限空间作业未审批", "污水井作业未执行先通风、再检测、后作业"),
    ("fire", "动火作业无监护", "{b}号楼{f}层电焊作业无动火审批、无专人监护"),
]

_MAJOR_ITEMS = ["7.2", "5.2", "8.5", "6.2", "11.1", "8.1", "4.4", "9.3"]


def _step(t: datetime, rng: random.Random, now: datetime, days: float = 3) -> datetime:
    return min(now - timedelta(minutes=5), t + timedelta(days=rng.uniform(0.2, days)))


def _run(session, actor, case, action, payload, t, comment=None):
    c, _ = services.perform_action(session, actor, case.id, action, payload, version=case.version, comment=comment,
                                   now=t, case=case)
    return c


def _demo_photo(rng: random.Random) -> bytes:
    """A generated stand-in for a site photo (a 整改后 photo for the major-hazard guard)."""
    import io

    from PIL import Image, ImageDraw

    im = Image.new("RGB", (640, 480), (186, 196, 204))
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 330, 640, 480), fill=(150, 140, 120))           # ground
    for x in range(60, 600, 90):                                        # scaffold standards, ledgers
        draw.line((x, 60, x, 330), fill=(40, 90, 160), width=6)
    for y in range(90, 330, 60):
        draw.line((60, y, 600, y), fill=(40, 90, 160), width=4)
    draw.rectangle((56, 56, 604, 334), outline=(20, 140, 60), width=8)  # the new safety net
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def _demo_hazard(session, rng, kind, actor, supervisor, enterprise_user, project, contractor_id, t, now, force=None,
                 settings=None):
    category, title, text = rng.choice(_HAZARDS)
    fmt = {"b": rng.randrange(1, 12), "f": rng.randrange(2, 30)}
    data: dict[str, Any] = {
        "kind": kind, "title": title, "description": text.format(**fmt), "location": f"{project.name}{fmt['b']}号楼",
        "source": rng.choice(["inspection", "inspection", "self_check", "public_report"]), "project_id": project.id,
        "found_at": t.isoformat(),
        "related_enterprises": [{"enterprise_id": x.enterprise_id, "role": x.role} for x in project.parties],
    }
    if kind == "hazard":
        data["category"] = category
    case = services.create_case(session, actor, data, now=t)
    target = rng.choices(["found", "registered", "rectifying", "verified", "closed", "other"], [8, 12, 40, 10, 25, 5])[0]
    target = force or target
    if target == "found":
        return
    if target == "other" and kind == "hazard":
        _run(session, actor, case, "dismiss", {"reason": "经核实为重复举报"}, _step(t, rng, now))
        return
    item = rng.choice(_MAJOR_ITEMS)
    t = _step(t, rng, now)
    if kind == "hazard":
        case = _run(session, actor, case, "register", {
            "enterprise_id": contractor_id, "severity": rng.choice(["general", "general", "serious"]),
            "requirements": "立即停止相关部位作业，按规范和专项方案整改到位，整改完成后书面回复。",
            "legal_basis": "《建设工程安全生产管理条例》第二十八条"}, t)
    else:
        case = _run(session, actor, case, "register", {
            "enterprise_id": contractor_id, "hazard_item_code": item, "stop_work_scope": rng.choice(["whole", "partial"]),
            "requirements": "立即停止施工，撤出作业人员，制定整改方案报监督机构审核。"}, t)
    if target == "registered":
        return
    t = _step(t, rng, now)
    if kind == "hazard":
        case = _run(session, actor, case, "start_rectification", {}, t)
    else:
        case = _run(session, actor, case, "start_rectification", {
            "measures": "按专项方案重新搭设并经验收", "funds": round(rng.uniform(5, 80), 1),
            "plan_deadline": (t + timedelta(days=20)).date().isoformat(), "responsible_person": "项目经理 王某",
            "contingency_plan": "成立应急小组，配备抢险物资"}, t)
    if target == "rectifying" or target == "other":
        if rng.random() < 0.3:
            t = _step(t, rng, now)
            by = enterprise_user if case.enterprise_id == enterprise_user.enterprise_id else actor
            action = "report_completion" if kind == "hazard" else "apply_review"
            case = _run(session, by, case, action, {"completion_report": "已按要求整改完毕，附整改前后照片。"}, t)
            if rng.random() < 0.4:
                case = _run(session, actor, case, "reject", {"opinion": "复查发现仍有部分未整改到位"}, _step(t, rng, now))
        return
    t = _step(t, rng, now)
    if kind == "major_hazard":
        from cases.evidence.services import add_evidence
        from cases.platform.config import get_settings

        # 核查 needs a 整改后 photo on the case (major_hazard v2, guard has_rectification_photo)
        add_evidence(session, actor, case.id, _demo_photo(rng), "整改后现场.jpg", "after", None, t,
                     settings or get_settings(), note="脚手架已按方案重新搭设并挂设安全网")
        case = _run(session, actor, case, "apply_review", {"completion_report": "整改完成，申请核查销号。"}, t)
        t = _step(t, rng, now)  # each step after the one before: a case's history never runs backwards
        case = _run(session, actor, case, "verify", {"opinion": "现场核查整改到位", "resume_work_approved": True}, t)
    else:
        case = _run(session, actor, case, "verify", {"opinion": "复查整改到位", "inspectors": "李某、王某"}, t)
    if target == "verified":
        return
    t = _step(t, rng, now)
    if kind == "major_hazard":
        from cases.clocks import supervision

        listed = supervision.active_supervision(session, case.id)
        if listed is not None:  # 摘牌 by the listing body first, then 销号
            supervision.lift(session, supervisor, listed.id, "现场核查整改到位，同意摘牌", t)
        _run(session, supervisor, case, "close", {"publication": "已在市住建局网站公示销号结果"}, t)
    else:
        case = _run(session, actor, case, "close", {}, t)
        if rng.random() < 0.08:
            _run(session, actor, case, "reopen", {"reason": "回头看发现隐患反弹"}, _step(t, rng, now))


def _demo_accident(session, rng, actor, supervisor, province, project, contractor_id, t, now, force=None):
    deaths = rng.choices([0, 1, 2, 3], [3, 6, 2, 1])[0]
    injuries = rng.choice([0, 1, 2, 4]) if deaths == 0 else rng.choice([0, 1])
    kind_name, text = rng.choice([("fall", "高处坠落"), ("collapse", "坍塌"), ("struck", "物体打击"), ("lifting", "起重伤害")])
    case = services.create_case(session, actor, {
        "kind": "accident", "title": f"{project.name}{text}事故", "description": f"作业人员在施工过程中发生{text}",
        "location": project.address, "source": "flash_report", "project_id": project.id, "found_at": t.isoformat(),
        "occurred_at": (t - timedelta(minutes=40)).isoformat(), "accident_type": kind_name, "deaths": deaths,
        "serious_injuries": injuries, "direct_loss": 0, "brief": f"当日上午发生{text}，已送医救治",
    }, now=t)
    target = rng.choices(["found", "registered", "rectifying", "verified", "closed"], [2, 3, 4, 2, 3])[0]
    target = force or target
    if target == "found":
        return
    # Reported up within the 2 hours as a rule (one in five late: 迟报), the 48-hour detailed report
    # likewise (one in five after it) — the credit records and the 报送表 show the late ones.
    occurred = t - timedelta(minutes=40)
    t = min(now - timedelta(minutes=5), t + timedelta(minutes=rng.choice([35, 50, 70, 95, 240])))
    case = _run(session, actor, case, "register", {
        "enterprise_id": contractor_id, "deaths": max(deaths, 0), "serious_injuries": max(injuries, 1 if deaths == 0 else 0),
        "direct_loss": round(rng.uniform(1.2e6, 6e6)), "cause": "安全防护措施不到位"}, t)
    acting = actor if case.jurisdiction_code == actor.jurisdiction_code else supervisor
    t = max(t + timedelta(minutes=5), min(now - timedelta(minutes=5), occurred + timedelta(hours=rng.choice([20, 30, 40, 44, 60]))))
    case = _run(session, acting, case, "submit_detailed_report", {
        "detailed_report": f"事故单位：{project.name}施工总承包单位；{text}，死亡{deaths}人、重伤{injuries}人；"
                           "已启动应急预案，封闭现场；原因初判：安全防护措施不到位。"}, t)
    if target == "registered":
        return
    t = _step(t, rng, now)
    case = _run(session, acting, case, "start_rectification", {"team_lead": "市住建局副局长", "team_members": "应急、公安、工会"}, t)
    if target == "rectifying":
        return
    t = _step(t, rng, now, 10)
    case = _run(session, acting, case, "submit_report", {"report_summary": "事故调查报告：直接原因为安全防护缺失", "penalties": "对施工单位罚款"}, t)
    approved_on = t.date().isoformat()
    t = _step(t, rng, now)
    case = _run(session, acting, case, "verify", {
        "approval_no": f"苏府复〔2026〕{rng.randrange(1, 60)}号", "approved_on": approved_on, "penalties_executed": True,
        "four_nots": ["cause", "responsibility", "measures", "education"]}, t)
    if target == "verified":
        return
    _run(session, acting, case, "close", {}, _step(t, rng, now))


_OCCURRENCES = [
    ("scaffolding", "外脚手架局部外倾险情", "{b}号楼外脚手架第{f}步附近局部外倾，现场立即停止作业并撤离人员"),
    ("excavation", "深基坑局部坍塌险情", "基坑北侧支护桩间土体局部坍塌，坑边道路出现裂缝"),
    ("lifting", "塔吊顶升险情", "{b}号塔吊顶升作业中套架导轮脱出，司机及时停机"),
    ("collapse", "高支模沉降险情", "地下车库高支模浇筑混凝土时立杆局部下沉"),
    ("fire", "保温材料起火险情", "{b}号楼{f}层外墙保温材料因电焊火花起火，现场扑灭"),
    ("fall", "吊篮倾斜险情", "{b}号楼吊篮一端钢丝绳卡阻倾斜，作业人员系挂安全带未坠落"),
]


def _demo_occurrence(session, rng, actor, enterprise_user, project, contractor_id, t, now, force=None):
    """重大险情: 快报 → 上报 → 核查 → 整改处置 → 复查 → 销号 (or 核查不属实)."""
    kind_name, title, text = rng.choice(_OCCURRENCES)
    fmt = {"b": rng.randrange(1, 12), "f": rng.randrange(2, 30)}
    people = rng.randrange(3, 40)
    loss = rng.choice([0, 20_000, 80_000, 350_000])
    case = services.create_case(session, actor, {
        "kind": "dangerous_occurrence", "title": f"{project.name}{title}", "description": text.format(**fmt),
        "location": f"{project.name}{fmt['b']}号楼", "source": "occurrence_report", "project_id": project.id,
        "found_at": t.isoformat(), "assignee_id": actor.id, "occurred_at": (t - timedelta(minutes=25)).isoformat(),
        "occurrence_type": kind_name, "brief": text.format(**fmt), "endangered": people, "evacuated": people,
        "minor_injuries": rng.choice([0, 0, 1]), "direct_loss": loss, "measures_taken": "设置警戒区，停止相关作业，撤离人员",
    }, now=t)
    target = force or rng.choices(["found", "registered", "rectifying", "verified", "closed", "dismissed"],
                                  [2, 2, 4, 2, 4, 1])[0]
    if target == "found":
        return
    t = _step(t, rng, now, 0.05)
    case = _run(session, actor, case, "report_up", {"reported_to": "苏州市住房和城乡建设局"}, t)
    if target == "dismissed":
        _run(session, actor, case, "dismiss", {"reason": "经现场核查为正常施工沉降，不属于险情"}, _step(t, rng, now, 1))
        return
    t = _step(t, rng, now, 0.5)
    case = _run(session, actor, case, "submit_written_report",
                {"written_report": f"险情经过：{text.format(**fmt)}；原因初判：现场安全管理不到位；无人员死亡、重伤。"}, t)
    t = _step(t, rng, now, 3)
    case = _run(session, actor, case, "register", {
        "enterprise_id": contractor_id, "deaths": 0, "serious_injuries": 0, "direct_loss": loss,
        "finding": "现场核查险情属实，已排除紧急危险"}, t)
    if target == "registered":
        return
    t = _step(t, rng, now)
    case = _run(session, actor, case, "start_rectification", {
        "measures_required": "排除险情，按专项方案整改到位，组织专家论证后方可恢复作业", "rectification_days": rng.choice([7, 15, 30])}, t)
    if target == "rectifying":
        return
    t = _step(t, rng, now)
    by = enterprise_user if case.enterprise_id == enterprise_user.enterprise_id else actor
    case = _run(session, by, case, "report_completion", {"completion_report": "已整改完毕并经专家论证，附整改前后照片。"}, t)
    t = _step(t, rng, now)
    case = _run(session, actor, case, "verify", {"opinion": "现场复查险情已排除，整改到位", "inspectors": "李某、王某"}, t)
    if target == "verified":
        return
    _run(session, actor, case, "close", {"lessons": "在全区开展同类险情举一反三排查"}, _step(t, rng, now))


def _demo_building(session, rng, actor, supervisor, building, t, now, force=None):
    case = services.create_case(session, actor, {
        "kind": "dangerous_building", "title": f"{building.name}房屋安全隐患", "location": building.address,
        "description": "墙体开裂、楼板下挠，存在安全隐患", "source": "survey", "building_id": building.id,
        "found_at": t.isoformat(), "building_use": "residential", "occupants": rng.randrange(0, 40),
    }, now=t)
    target = rng.choices(["found", "safe", "registered", "rectifying", "verified", "closed"], [3, 3, 4, 6, 2, 4])[0]
    target = force or target
    if target == "found":
        return
    t = _step(t, rng, now)
    appraisal = {"appraisal_org": "苏州市房屋安全鉴定中心", "appraisal_report_no": f"苏房鉴〔2026〕{rng.randrange(100, 999)}号",
                 "appraised_on": t.date().isoformat()}
    if target == "safe":
        _run(session, actor, case, "conclude_safe", {**appraisal, "appraisal_grade": rng.choice("AB"),
                                                     "valid_until": (t + timedelta(days=365)).date().isoformat()}, t)
        return
    grade = rng.choice("CD")
    case = _run(session, actor, case, "register", {**appraisal, "appraisal_grade": grade,
                                                   "handling": "stop_use" if grade == "D" else rng.choice(["treat", "observe"])}, t)
    if grade == "D" and (target != "registered" or rng.random() < 0.5):
        t = _step(t, rng, now, 1)
        case = _run(session, actor, case, "record_evacuation", {"use_stopped": True, "evacuated_count": rng.randrange(1, 30),
                                                               "evacuated_at": t.isoformat()}, t)
    if target == "registered":
        return
    t = _step(t, rng, now)
    case = _run(session, actor, case, "start_rectification", {"plan": "一案一策：加固墙体，更换楼板", "responsible_person": "产权人"}, t)
    if target == "rectifying":
        return
    t = _step(t, rng, now, 10)
    case = _run(session, actor, case, "verify", {"opinion": "加固完成，验收合格", "new_grade": "B"}, t)
    if target == "verified":
        return
    _run(session, actor, case, "close", {}, _step(t, rng, now))


_SELF_FOUND = ["配电箱门未上锁", "安全网局部破损", "楼层临边防护栏杆缺失", "施工电梯防护门联锁失效", "塔吊标准节螺栓松动"]


def _demo_self_hazard(session, rng, contact, project, t, now, force=None, settings=None):
    """An enterprise's self-found hazard (自查自纠, docs/self-inspection.md), recorded by its contact."""
    from cases.ledger.engine import get_registry

    if project is not None and not any(x.enterprise_id == contact.enterprise_id for x in project.parties):
        project.parties.append(ProjectParty(enterprise_id=contact.enterprise_id, role="contractor"))
        session.flush()
    case = services.create_case(session, contact, {
        "kind": "self_hazard", "title": rng.choice(_SELF_FOUND), "project_id": project.id,
        "severity": rng.choice(["general", "general", "serious"]), "rectification_days": rng.choice([3, 5, 7, 15]),
        "category": rng.choice(list(get_registry().latest("self_hazard").create_fields[0].options)),
        "measures": "落实整改责任人，限期整改", "found_at": t.isoformat()}, now=t)
    target = force or rng.choice(["found", "rectifying", "rectified", "rectified"])
    if target == "found":
        return
    t = _step(t, rng, now, days=1)
    case = _run(session, contact, case, "start_rectification", {}, t)
    if target == "rectifying":
        return
    from cases.evidence.services import add_evidence
    from cases.platform.config import get_settings

    t = _step(t, rng, now, days=2)
    add_evidence(session, contact, case.id, _demo_photo(rng), "整改后.jpg", "after", None, t, settings or get_settings(),
                 note="已整改完毕")
    _run(session, contact, case, "report_completion", {"completion_report": "已按整改措施完成整改，附整改后照片。"}, t)
