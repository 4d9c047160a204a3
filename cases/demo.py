"""Demo data: a realistic slice of Jiangsu (Suzhou first), enterprises, projects, buildings,
users ``officer``/``supervisor``/``admin``/``enterprise`` (password ``demo``) and ~200 cases in
every kind and state — all driven through the real services so their histories are real.

Demo data only: names of enterprises, projects and people are invented.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cases.ledger import services
from cases.ledger.identifiers import make_credit_code
from cases.models import Building, Case, Enterprise, Project, ProjectParty, User
from cases.reference import load_reference_data
from cases.platform.security import hash_password

DEMO_PASSWORD = "demo"
SUZHOU_DISTRICTS = ["320508", "320505", "320506", "320507", "320509", "320571", "320583"]

_ENTERPRISE_NAMES = [
    ("中建八局姑苏建设有限公司", "contractor"), ("苏州城投置业有限公司", "builder"), ("江苏建科工程监理有限公司", "supervisor"),
    ("苏州金螳螂建设工程有限公司", "contractor"), ("苏州工业园区城市建设发展有限公司", "builder"),
    ("江苏华东建设项目管理有限公司", "supervisor"), ("苏州二建建筑集团有限公司", "contractor"),
    ("吴中城乡发展集团有限公司", "builder"), ("苏州市建设监理有限公司", "supervisor"), ("昆山鹿城建设工程有限公司", "contractor"),
    ("相城区城市更新投资有限公司", "builder"), ("江苏中衡工程咨询有限公司", "supervisor"), ("苏州三建建设集团有限公司", "contractor"),
    ("吴江太湖新城开发有限公司", "builder"), ("苏州东方工程监理有限公司", "supervisor"), ("江苏南通三建集团苏州分公司", "contractor"),
    ("苏州高新区建设发展有限公司", "builder"), ("苏州恒信工程监理有限公司", "supervisor"), ("苏州市政工程集团有限公司", "contractor"),
    ("苏州轨道交通建设有限公司", "builder"), ("江苏苏维工程管理有限公司", "supervisor"), ("苏州鑫达建筑劳务有限公司", "contractor"),
    ("南京玄武建设工程有限公司", "contractor"), ("南京城建项目管理有限公司", "supervisor"),
]
_PROJECT_NAMES = [
    "姑苏区平江路历史街区保护更新工程", "苏州中心广场二期", "吴中区太湖新城安置房三期", "相城区高铁新城商务中心A地块",
    "吴江区东太湖学校新建工程", "苏州工业园区金鸡湖邻里中心", "昆山市城南人民医院扩建工程", "虎丘区科技城研发楼",
    "姑苏区桃花坞片区老旧小区改造", "苏州轨道交通8号线某车站", "吴中区甪直古镇污水管网改造", "相城区阳澄湖大道改造工程",
    "苏州工业园区人才公寓二期", "吴江区盛泽纺织产业园标准厂房", "昆山市花桥商务城写字楼", "姑苏区苏州火车站北广场地下空间",
    "虎丘区狮山路综合管廊", "苏州中学新校区", "吴中区木渎镇安置小区", "相城区元和街道邻里中心",
]
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
_STREETS = ["平江路", "干将西路", "人民路", "十全街", "东吴北路", "宝带西路", "长江路", "苏州大道东", "太湖东路", "阳澄湖西路"]


def _credit_code(rng: random.Random, region: str) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return make_credit_code("91" + region + "".join(rng.choice(alphabet[:10] + "ABCDMNQ") for _ in range(9))[:9])


def load_demo(session: Session, *, now: datetime, n_cases: int = 200, seed: int = 20261122,
              settings=None) -> dict[str, int]:
    """Idempotent: a database that already has demo users is left alone."""
    load_reference_data(session)
    if session.scalar(select(User.id).where(User.username == "officer")):
        return {"cases": session.scalar(select(func.count(Case.id))) or 0}
    rng = random.Random(seed)
    pw = hash_password(DEMO_PASSWORD)

    enterprises: list[tuple[Enterprise, str]] = []
    for name, role in _ENTERPRISE_NAMES:
        region = "320100" if name.startswith("南京") else rng.choice(SUZHOU_DISTRICTS)
        e = Enterprise(credit_code=_credit_code(rng, region), name=name, jurisdiction_code=region,
                       legal_representative=rng.choice("王李张刘陈杨赵黄周吴") + rng.choice(["建国", "志强", "海峰", "晓东", "伟", "敏"]),
                       contact_name=rng.choice("钱孙朱徐马胡郭林") + rng.choice(["工", "经理"]),
                       contact_phone=f"1{rng.choice('3589')}{rng.randrange(10**8, 10**9)}",
                       qualification={"contractor": "建筑工程施工总承包一级", "builder": "房地产开发二级",
                                      "supervisor": "房屋建筑工程监理甲级"}[role],
                       credit_score=100, created_at=now - timedelta(days=400))
        session.add(e)
        enterprises.append((e, role))
    session.flush()
    by_role = {r: [e for e, rr in enterprises if rr == r and not e.name.startswith("南京")] for r in ("builder", "contractor", "supervisor")}

    projects = []
    for i, name in enumerate(_PROJECT_NAMES):
        code = SUZHOU_DISTRICTS[i % len(SUZHOU_DISTRICTS)]
        p = Project(name=name, code=f"3205{i:02d}2026{rng.randrange(1000, 9999)}", jurisdiction_code=code,
                    address=f"{rng.choice(_STREETS)}{rng.randrange(1, 999)}号", created_at=now - timedelta(days=300))
        p.parties = [ProjectParty(enterprise_id=rng.choice(by_role[r]).id, role=r) for r in ("builder", "contractor", "supervisor")]
        p.project_kind = "municipal" if any(w in name for w in _MUNICIPAL_WORDS) else "building"
        session.add(p)
        projects.append(p)
    nj = Project(name="南京玄武湖隧道改造工程", code="3201022026001", jurisdiction_code="320102", address="玄武区龙蟠路", created_at=now - timedelta(days=200))
    nj.project_kind = "municipal"
    nj.parties = [ProjectParty(enterprise_id=enterprises[22][0].id, role="contractor"),
                  ProjectParty(enterprise_id=enterprises[23][0].id, role="supervisor")]
    session.add(nj)

    buildings = []
    for i in range(30):
        code = SUZHOU_DISTRICTS[i % 4]
        b = Building(name=f"{rng.choice(_STREETS)}{rng.randrange(1, 200)}号{rng.choice(['住宅楼', '沿街商铺', '自建房', '老公房'])}",
                     jurisdiction_code=code, address=f"{rng.choice(_STREETS)}{rng.randrange(1, 500)}号",
                     structure=rng.choice(["砖混", "砖木", "框架", "土木"]), year_built=rng.randrange(1955, 1999),
                     floors=rng.randrange(1, 7), use=rng.choice(["住宅", "经营", "自建房"]),
                     owner_name=rng.choice("王李张刘陈") + "某", owner_phone=f"139{rng.randrange(10**7, 10**8)}",
                     created_at=now - timedelta(days=300))
        session.add(b)
        buildings.append(b)
    session.flush()

    def user(username, name, role, code, **kw) -> User:
        u = User(username=username, display_name=name, password_hash=pw, role=role, jurisdiction_code=code,
                 active=True, created_at=now - timedelta(days=365), **kw)
        session.add(u)
        session.flush()
        return u

    admin = user("admin", "省厅系统管理员", "admin", "320000", email="admin@example.gov.cn")
    supervisor = user("supervisor", "周督办（苏州市住建局）", "supervisor", "320500", email="supervisor@example.gov.cn",
                      phone="13800000002")
    officer = user("officer", "李监督（姑苏区质安站）", "officer", "320508", supervisor_id=supervisor.id,
                   email="officer@example.gov.cn", phone="13800000001")
    contractor = by_role["contractor"][0]
    enterprise_user = user("enterprise", f"钱工（{contractor.name}）", "enterprise", contractor.jurisdiction_code,
                           enterprise_id=contractor.id, email="contact@example.com", phone="13900000003")
    officers = {"320508": officer}
    for code, name in (("320506", "吴监督（吴中区质安站）"), ("320507", "陈监督（相城区质安站）"), ("320571", "顾监督（园区质安站）"),
                       ("320509", "沈监督（吴江区质安站）"), ("320505", "许监督（虎丘区质安站）"), ("320583", "朱监督（昆山市质安站）")):
        officers[code] = user(f"officer_{code}", name, "officer", code, supervisor_id=supervisor.id,
                              phone=f"0512-6{code[-3:]}0000")
    officers["320102"] = user("officer_nj", "孙监督（玄武区质安站）", "officer", "320102", phone="025-84000000")
    province_supervisor = user("province", "江苏省住建厅质安处", "supervisor", "320000", phone="025-51868000")

    kinds = (["hazard"] * 52 + ["major_hazard"] * 12 + ["accident"] * 10 + ["dangerous_building"] * 23
             + ["dangerous_occurrence"] * 8 + ["self_hazard"] * 3)
    # The contact's own projects, for its self-inspection (自查自纠): where its unit is a party.
    own_projects = [p for p in projects if any(x.enterprise_id == contractor.id for x in p.parties)] or projects[:1]
    counts = {"cases": 0}
    # The first cases of each kind take every end state in turn (the demo shows every state
    # whatever the random draws); the rest are drawn at random.
    cover = {"hazard": ["found", "registered", "rectifying", "verified", "closed", "other"],
             "major_hazard": ["found", "registered", "rectifying", "verified", "closed"],
             "accident": ["found", "registered", "rectifying", "verified", "closed"],
             "dangerous_building": ["found", "safe", "registered", "rectifying", "verified", "closed"],
             "dangerous_occurrence": ["found", "registered", "rectifying", "verified", "closed", "dismissed"],
             "self_hazard": ["found", "rectifying", "rectified"]}
    seen_kind: dict[str, int] = {}
    for i in range(n_cases - DEMO_COMPLAINTS):  # the complaints (below) are cases too
        kind = kinds[i % len(kinds)]
        k = seen_kind[kind] = seen_kind.get(kind, -1) + 1
        force = cover[kind][k] if k < len(cover[kind]) else None
        start = now - timedelta(days=rng.uniform(1, 75), hours=rng.uniform(0, 10))
        if kind == "self_hazard":
            _demo_self_hazard(session, rng, enterprise_user, own_projects[i % len(own_projects)], start, now, force,
                              settings=settings)
        elif kind == "dangerous_building":
            b = buildings[i % len(buildings)]
            actor = officers.get(b.jurisdiction_code, officer)
            _demo_building(session, rng, actor, supervisor, b, start, now, force)
        else:
            p = nj if (kind == "hazard" and i % 37 == 0) else projects[i % len(projects)]
            actor = officers.get(p.jurisdiction_code, officer)
            contractor_id = next(x.enterprise_id for x in p.parties if x.role == "contractor")
            if actor is officer and rng.random() < 0.3:
                contractor_id = contractor.id  # the demo enterprise user has work to do
            if kind == "accident":
                _demo_accident(session, rng, actor, supervisor, province_supervisor, p, contractor_id, start, now, force)
            elif kind == "dangerous_occurrence":
                _demo_occurrence(session, rng, actor, enterprise_user, p, contractor_id, start, now, force)
            else:
                _demo_hazard(session, rng, kind, actor, supervisor, enterprise_user, p, contractor_id, start, now, force,
                             settings=settings)
        counts["cases"] += 1
    session.flush()
    from cases.inspections.demo import load_demo_inspections  # 检查记录 (issue 11)

    counts["inspections"] = load_demo_inspections(session, rng, officer, projects, buildings, now)
    counts["campaigns"] = _demo_campaign(session, rng, supervisor, officers, projects, now)
    counts["complaints"] = _demo_complaints(session, officer, projects, now)
    counts["cases"] += counts["complaints"]
    return counts


_MUNICIPAL_WORDS = ("轨道交通", "管网", "道路", "大道", "管廊", "地下空间", "隧道")


def _demo_campaign(session: Session, rng: random.Random, supervisor: User, officers: dict[str, User],
                   projects: list[Project], now: datetime) -> int:
    """苏州市's “2轮全覆盖精准排查” (cases/campaigns/): the first round ended a week ago — 姑苏区 and 吴中区
    inspected everything, the others about half, so the sweep's round clock sends the districts behind
    their 督办函 — the second runs for two more months; hazards found in the first round on inspected
    projects carry the campaign tag."""
    from sqlalchemy import update

    from cases.models.inspections import Campaign, CampaignRound, Inspection
    from cases.platform.clock import to_local

    today = to_local(now).date()
    start = today - timedelta(days=75)
    first_due, second_due = today - timedelta(days=7), today + timedelta(days=60)
    campaign = Campaign(name="2轮全覆盖精准排查", jurisdiction_code="320500", starts_on=start, ends_on=second_due,
                        scope_codes=[], project_kinds=[], coverage_target=100, status="active",
                        description="对全市在建房屋市政工程开展两轮全覆盖精准排查：第一轮摸清底数、建立隐患清单，"
                                    "第二轮复查整改落实情况，做到不漏一个项目、不留一处隐患。",
                        created_by_id=supervisor.id, created_at=now - timedelta(days=75))
    session.add(campaign)
    session.flush()
    session.add_all([CampaignRound(campaign_id=campaign.id, round_no=1, name="第一轮（摸底排查）", starts_on=start,
                                   due_on=first_due),
                     CampaignRound(campaign_id=campaign.id, round_no=2, name="第二轮（复查整改）",
                                   starts_on=first_due + timedelta(days=1), due_on=second_due)])
    inspected: list[int] = []
    for p in projects:
        officer = officers.get(p.jurisdiction_code)
        if officer is None:
            continue
        rounds = [1] if p.jurisdiction_code in ("320508", "320506") or rng.random() < 0.5 else []
        if rng.random() < 0.3:
            rounds.append(2)
        for round_no in rounds:
            day = (start if round_no == 1 else first_due) + timedelta(days=rng.randrange(1, 60))
            day = min(day, today - timedelta(days=1))
            session.add(Inspection(jurisdiction_code=p.jurisdiction_code, project_id=p.id, inspected_on=day,
                                   inspection_type="special", inspectors=[{"user_id": officer.id, "name": officer.display_name}],
                                   campaign_id=campaign.id, round_no=round_no, place=p.address,
                                   summary="专项行动检查", created_by_id=officer.id, created_at=now - timedelta(days=1)))
            if round_no == 1:
                inspected.append(p.id)
    session.flush()
    from cases.reads.case_lists import day_start

    session.execute(update(Case).where(Case.project_id.in_(inspected), Case.kind.in_(("hazard", "major_hazard")),
                                       Case.found_at >= day_start(start), Case.found_at < day_start(first_due + timedelta(days=1)))
                    .values(campaign_id=campaign.id))
    return 1


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
    t = _step(t, rng, now, 1)
    case = _run(session, actor, case, "register", {
        "enterprise_id": contractor_id, "deaths": max(deaths, 0), "serious_injuries": max(injuries, 1 if deaths == 0 else 0),
        "direct_loss": round(rng.uniform(1.2e6, 6e6)), "cause": "安全防护措施不到位"}, t)
    acting = actor if case.jurisdiction_code == actor.jurisdiction_code else supervisor
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


DEMO_COMPLAINTS = 2


def _demo_complaints(session: Session, officer: User, projects: list, now: datetime) -> int:
    """群众举报 (cases/complaints): a public report still waiting for its reply, and a 12345 referral
    about a site of the officer's district, answered."""
    from cases.complaints import services as complaints

    site = next((p for p in projects if p.jurisdiction_code == officer.jurisdiction_code), projects[0])
    web, _ = complaints.submit_public(session, {
        "jurisdiction_code": officer.jurisdiction_code, "content": "工地夜间塔吊作业，吊物从人行道上方经过，无人看管。",
        "location": site.address, "named_unit": site.name}, now - timedelta(days=3),
        client_key="demo", limit=1000)
    hotline, _ = complaints.refer_12345(session, officer, {
        "referral_no": "SZ12345-DEMO-0001", "content": "市民来电反映：工地围挡倒塌，堵住半条人行道。",
        "jurisdiction_code": officer.jurisdiction_code, "project_id": site.id, "location": site.address,
        "submitted_at": (now - timedelta(days=6)).isoformat()}, now - timedelta(days=6))
    complaints.reply(session, officer, hotline.case_id, "经现场核查，围挡已于当日恢复，已责令施工单位加强巡查。",
                     now - timedelta(days=2))
    return DEMO_COMPLAINTS
