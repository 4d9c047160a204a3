"""Demo data: a realistic slice of Jiangsu (Suzhou first), enterprises, projects, buildings,
users ``officer``/``supervisor``/``admin``/``enterprise`` (password ``demo``) and ~200 cases in
every kind and state — all driven through the real services so their histories are real.

Demo data only: names of enterprises, projects and people are invented.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta

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

_STREETS = ["平江路", "干将西路", "人民路", "十全街", "东吴北路", "宝带西路", "长江路", "苏州大道东", "太湖东路", "阳澄湖西路"]


from cases.demo_kinds import (  # noqa: E402  (one generator per case kind)
    _demo_hazard, _demo_accident, _demo_occurrence, _demo_building, _demo_self_hazard,
)


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
    from cases.campaigns.demo import load_demo_campaign  # 专项整治 (issue 11)
    from cases.complaints.demo import DEMO_COMPLAINTS, load_demo_complaints  # 群众举报 (issue 11)

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
    counts["campaigns"] = load_demo_campaign(session, rng, supervisor, officers, projects, now)
    counts["complaints"] = load_demo_complaints(session, officer, projects, now)
    from cases.referrals.demo import load_demo_referrals  # 移送 (issue 12)
    counts["referrals"] = load_demo_referrals(session, officer, now)
    from cases.interviews.demo import load_demo_interviews  # 约谈 (issue 12)
    counts["interviews"] = load_demo_interviews(session, officer, now)
    counts["cases"] += counts["complaints"]
    return counts


_MUNICIPAL_WORDS = ("轨道交通", "管网", "道路", "大道", "管廊", "地下空间", "隧道")
