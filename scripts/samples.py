"""One realistic scenario on a throw-away SQLite database, rendered: ``make samples``.

Builds a small slice of 苏州市姑苏区 (a project whose 施工单位 is not the unit held responsible,
a building, the officers of the district and the city), drives cases through the real services
and the real sweep (``cases.clocks.sweep.fire_due_batch``, the clock moved hour by hour), renders
every issued document with ``notifications.documents.store`` and writes one PDF of each document type
in the catalogue to ``docs/samples/<type>.pdf``, plus a PNG of its first page
(``pdftoppm -png -r 80 -singlefile``). Read them as their recipients would.

    PYTHONPATH=. python scripts/samples.py [--out docs/samples]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from cases.platform import clock as clock_module  # noqa: E402
from cases.ledger import services  # noqa: E402
from cases.platform.clock import Clock  # noqa: E402
from cases.platform.config import Settings  # noqa: E402
from cases.platform.db import Database  # noqa: E402
from cases.clocks.sweep import fire_due_batch  # noqa: E402
from cases.ledger.identifiers import make_credit_code  # noqa: E402
from cases.platform.migrate import upgrade  # noqa: E402
from cases.models import Building, Case, Document, Enterprise, Project, ProjectParty, User  # noqa: E402
from cases.reference import load_reference_data  # noqa: E402
from cases.ledger.rules import EFFECTS  # noqa: E402,F401  (registers guards and effects)
import notifications.documents.store as rendering  # noqa: E402  (also installs cases.issuance.documents.preflight)
import notifications.delivery.preferences  # noqa: E402,F401  (installs cases.issuance.outbox.channel_resolver)
from notifications.rendering.catalog import CATALOG  # noqa: E402

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 23, 9, 30, tzinfo=SHANGHAI).astimezone(timezone.utc)  # a Monday morning


def beijing(y: int, m: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=SHANGHAI).astimezone(timezone.utc)


class Scenario:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self.db, self.clock, self.settings = db, clock, settings

    # ------------------------------------------------------------ the world
    def build_world(self) -> None:
        now = self.clock.now()
        with self.db.transaction() as s:
            load_reference_data(s)

            def ent(code: str, name: str, **kw) -> Enterprise:
                e = Enterprise(credit_code=make_credit_code(code), name=name, jurisdiction_code="320508",
                               credit_score=100, created_at=now, **kw)
                s.add(e)
                return e

            self.contractor = ent("91320500137710235", "苏州二建建筑集团有限公司", contact_name="周建明",
                                  contact_phone="13962100001")
            self.subcontractor = ent("91320508MA1N6K2R3", "江苏天成幕墙装饰工程有限公司", contact_name="沈立新",
                                     contact_phone="13962100002")
            self.builder = ent("91320508MA20A1B3X", "苏州市姑苏区城市更新投资发展有限公司")
            self.supervision_unit = ent("91320500134796522", "江苏中衡工程咨询监理有限公司")
            s.flush()

            def user(username: str, name: str, role: str, code: str, **kw) -> User:
                u = User(username=username, display_name=name, password_hash="-", role=role, jurisdiction_code=code,
                         active=True, created_at=now, **kw)
                s.add(u)
                s.flush()
                return u

            self.supervisor = user("city", "刘芳", "supervisor", "320500", phone="0512-68616322")
            self.officer = user("officer", "张伟", "officer", "320508", phone="0512-65223310",
                                supervisor_id=self.supervisor.id)
            self.county_supervisor = user("gusu_chief", "陈国强", "supervisor", "320508", phone="0512-65223300")
            self.contact_a = user("a_contact", "周建明", "enterprise", "320508", enterprise_id=self.contractor.id)
            self.contact_b = user("b_contact", "沈立新", "enterprise", "320508", enterprise_id=self.subcontractor.id)
            self.project = Project(name="平江新城安置房二期工程（3#—6#楼及地下车库）", code="3205082026018",
                                   jurisdiction_code="320508", address="苏州市姑苏区平江路218号", created_at=now)
            self.project.parties = [ProjectParty(enterprise_id=self.contractor.id, role="contractor"),
                                    ProjectParty(enterprise_id=self.builder.id, role="builder"),
                                    ProjectParty(enterprise_id=self.supervision_unit.id, role="supervisor")]
            self.building = Building(name="十全街112号沿街住宅楼", jurisdiction_code="320508", address="苏州市姑苏区十全街112号",
                                     structure="砖混", year_built=1976, floors=4, use="住宅", owner_name="顾某某",
                                     owner_phone="13906130000", created_at=now)
            s.add_all([self.project, self.building])
            s.flush()
            s.expunge_all()

    # ------------------------------------------------------------ acting
    def create(self, data: dict) -> int:
        with self.db.transaction() as s:
            actor = s.get(User, self.officer.id)
            return services.create_case(s, actor, data, now=self.clock.now()).id

    def act(self, case_id: int, action: str, payload: dict, user: User | None = None, comment: str | None = None) -> None:
        with self.db.transaction() as s:
            actor = s.get(User, (user or self.officer).id)
            case = s.get(Case, case_id)
            services.perform_action(s, actor, case_id, action, payload, version=case.version, comment=comment,
                                    now=self.clock.now())

    def refer(self, case_id: int, body_name: str) -> None:
        from cases.referrals.demo import sample_referral

        with self.db.transaction() as s:
            sample_referral(s, s.get(User, self.officer.id), case_id, self.clock.now(), body_name=body_name)

    def advance(self, until: datetime, step: timedelta = timedelta(hours=1)) -> None:
        while self.clock.now() < until:
            self.clock.set(min(self.clock.now() + step, until))
            while fire_due_batch(self.db, self.clock.now(), limit=500, worker="samples")["seen"] >= 500:
                pass
            self.render()  # as the served flows do: a document is rendered when it is issued

    def render(self) -> None:
        while True:
            counts = rendering.render_pending_documents(self.db, self.clock.now(), limit=200, settings=self.settings)
            if not counts:
                return
            if set(counts) - {"rendered"}:
                with self.db.session() as s:
                    failed = [f"{d.doc_type} {d.number}: {d.error}" for d in
                              s.scalars(select(Document).where(Document.status != "rendered"))]
                raise SystemExit("rendering failed:\n" + "\n".join(failed))

    # ------------------------------------------------------------ the story
    def run(self, step: timedelta = timedelta(hours=1)) -> None:
        """The story; ``step`` is how far the clock moves between two sweeps."""
        p, b = self.project.id, self.building.id
        # 1. A hazard of the curtain-wall subcontractor; nobody typed a location.
        h1 = self.create({"kind": "hazard", "title": "3#楼幕墙吊篮安全锁失效、安全绳未独立设置", "project_id": p,
                          "description": "3#楼东立面幕墙施工吊篮（编号DL-07）左侧安全锁失效，"
                                         "安全绳与工作钢丝绳共用同一挂点，未独立设置；作业人员2人未系挂安全带。",
                          "source": "inspection", "category": "height"})
        self.act(h1, "register", {"enterprise_id": self.subcontractor.id, "severity": "general",
                                  "requirements": "立即停止使用DL-07吊篮，更换安全锁并经检测合格后方可使用\n"
                                                  "安全绳设置独立挂点，作业人员全程系挂安全带\n"
                                                  "对全部在用吊篮开展一次专项检查，举一反三"})
        # 2. A second hazard that goes the whole way: rejected once, then verified and closed.
        h2 = self.create({"kind": "hazard", "title": "5#楼临时用电未做到一机一闸一漏保", "project_id": p,
                          "location": "5#楼一层钢筋加工棚", "description": "钢筋加工棚内3台开关箱未做到一机一闸一漏保，"
                                                                          "电缆沿地面明敷，无防护措施。",
                          "source": "inspection", "category": "power"})
        self.act(h2, "register", {"enterprise_id": self.contractor.id, "severity": "general",
                                  "requirements": "按规范整改开关箱，做到一机一闸一漏保\n电缆架空或穿管保护敷设"})
        self.act(h2, "start_rectification", {})
        # 3. A major hazard: stop-work order and listing by the city.
        m1 = self.create({"kind": "major_hazard", "title": "地下车库高支模架体未按专项方案搭设", "project_id": p,
                          "location": "地下车库顶板后浇带区域", "hazard_item_code": "4.4",
                          "description": "地下车库顶板高支模（搭设高度9.2米）立杆间距1.5米，大于专项施工方案规定的0.9米，"
                                         "水平剪刀撑缺失；专项施工方案未经专家论证。",
                          "source": "inspection"})
        self.act(m1, "register", {"enterprise_id": self.contractor.id, "hazard_item_code": "4.4",
                                  "stop_work_scope": "partial",
                                  "requirements": "立即停止地下车库顶板区域混凝土浇筑及模板支架作业\n"
                                                  "重新编制高支模专项施工方案并组织专家论证\n"
                                                  "按论证通过的方案整改架体，经验收合格后申请复工"})
        # 4. An accident on the same site: the flash report.
        self.create({"kind": "accident", "title": "4#楼外脚手架高处坠落事故", "project_id": p,
                     "location": "4#楼西侧外脚手架第11步", "occurred_at": (self.clock.now() - timedelta(hours=1)).isoformat(),
                     "accident_type": "fall", "deaths": 1, "serious_injuries": 0, "direct_loss": 1600000,
                     "brief": "一名架子工在拆除4#楼西侧外脚手架连墙件时，未系挂安全带，从第11步（约32米）坠落，"
                              "经送医抢救无效死亡。", "source": "flash_report", "enterprise_id": self.contractor.id})
        # 4b. A 重大险情 on the same site, reported up (险情快报).
        occurrence = self.create({
            "kind": "dangerous_occurrence", "title": "5#楼外脚手架局部外倾险情", "project_id": p,
            "location": "5#楼北侧外脚手架第8至11步", "occurred_at": (self.clock.now() - timedelta(minutes=50)).isoformat(),
            "occurrence_type": "scaffolding", "endangered": 23, "evacuated": 23, "deaths": 0, "serious_injuries": 0,
            "minor_injuries": 0, "direct_loss": 60000, "source": "occurrence_report", "enterprise_id": self.contractor.id,
            "brief": "5#楼北侧外脚手架第8至11步局部外倾约20厘米，现场管理人员发现后立即停止作业，组织架上及下方"
                     "23名作业人员撤离，未造成人员伤亡。",
            "measures_taken": "设置警戒区，停止外架及下方交叉作业；组织专家现场会商，制定卸荷加固方案。"})
        self.act(occurrence, "report_up", {"reported_to": "苏州市住房和城乡建设局"})
        # 5. A D-grade building.
        db_case = self.create({"kind": "dangerous_building", "title": "十全街112号沿街住宅楼房屋安全隐患", "building_id": b,
                               "description": "底层承重墙多处贯通斜裂缝，最大宽度8毫米；二层楼面预制板支座处松动，"
                                              "局部下挠明显。", "source": "survey", "building_use": "residential",
                               "occupants": 14})
        self.act(db_case, "register", {"appraisal_grade": "D", "appraisal_org": "苏州市房屋安全鉴定中心",
                                       "appraisal_report_no": "苏房鉴〔2026〕第0231号",
                                       "appraised_on": (self.clock.now() - timedelta(days=2)).date().isoformat(),
                                       "handling": "stop_use"})

        # A few days later: h2's completion is reported, rejected once, then verified and closed.
        self.advance(beijing(2026, 11, 26, 10), step)
        self.refer(m1, "苏州市公安局姑苏分局")  # 移送函 (cases/referrals): work went on under the stop-work order
        self.act(h2, "report_completion", {"completion_report": "已更换开关箱3台，电缆已穿管保护。"},
                 user=self.contact_a)
        self.act(h2, "reject", {"opinion": "5#楼钢筋加工棚内1台开关箱仍未安装漏电保护器，电缆穿管未到位。",
                                "inspectors": "张伟、李强"})
        self.advance(beijing(2026, 11, 30, 10), step)
        self.act(h2, "report_completion", {"completion_report": "已为剩余开关箱安装漏电保护器，电缆全部穿管敷设，"
                                                                "经项目部和监理单位检查合格。"}, user=self.contact_a)
        self.act(h2, "verify", {"opinion": "开关箱均已做到一机一闸一漏保，电缆穿管保护，整改合格。",
                                "inspectors": "张伟、李强"})
        self.act(h2, "close", {})

        # h1 is never rectified: time passes through the sweep — 警示函, listing (挂牌督办通知书,
        # 督办函), then the supervision runs over: 约谈通知书, 通报批评.
        self.advance(beijing(2027, 2, 10, 18), step)
        self.h1 = h1
        self.interview(h1)

    def interview(self, case_id: int) -> None:
        """The 约谈 the ladder's 约谈通知书 opened is held: the bureau and the subcontractor attend and
        commit; the 约谈记录 is issued (cases/interviews/)."""
        from cases.interviews import services as interviews
        from cases.models import Interview

        now = self.clock.now()
        with self.db.transaction() as s:
            iv = s.scalars(select(Interview).where(Interview.case_id == case_id).order_by(Interview.id)).first()
            officer = s.get(User, self.officer.id)
            interviews.record_held(s, officer, iv.id, {
                "held_at": (now - timedelta(hours=2)).isoformat(), "hosts": "刘芳（苏州市住房和城乡建设局）",
                "summon_enterprise": True,
                "minutes": "约谈人通报了3#楼幕墙吊篮隐患整改逾期、挂牌督办事项逾期未完成的情况。\n"
                           "姑苏区住建局表示已成立督办专班，每日跟踪整改进度；江苏天成幕墙装饰工程有限公司"
                           "表示已停用DL-07吊篮，正在更换安全锁，并对全部在用吊篮开展专项检查。",
                "attendees": [{"name": "陈国强", "unit": "苏州市姑苏区住房和城乡建设局", "position": "副局长"},
                              {"name": "张伟", "unit": "苏州市姑苏区住房和城乡建设局", "position": "质安站监督员"},
                              {"name": "沈立新", "unit": "江苏天成幕墙装饰工程有限公司", "position": "法定代表人"}],
                "commitments": [
                    {"content": "报送督办事项整改方案及每周整改进度", "responsible_person": "陈国强",
                     "party": "authority", "within": 3, "unit": "working_day"},
                    {"content": "完成DL-07吊篮安全锁更换，经检测合格后报送检测报告", "responsible_person": "沈立新",
                     "party": "enterprise", "within": 7, "unit": "calendar_day"}]}, now)
        self.render()

    # ------------------------------------------------------------ output
    def pick(self) -> dict[str, Document]:
        """One document of each type: the first issued, except a 复查意见书 that sends the work back
        (it says more than the one that passes)."""
        with self.db.session() as s:
            docs = list(s.scalars(select(Document).order_by(Document.id)))
            s.expunge_all()
        out: dict[str, Document] = {}
        for d in docs:
            if d.doc_type == "reinspection_opinion" and d.doc_type in out:
                continue
            out.setdefault(d.doc_type, d)
        return out


def _periodic_report(sc: Scenario) -> tuple[str, bytes]:
    """姑苏区's November report (定期报表), submitted on 3 December: the figures of the scenario's
    cases as of the submission, with its 文号 — as a PDF (cases/reports/, notifications/documents/periodic_report.py)."""
    from cases.models import Jurisdiction
    from cases.reports import services as reports
    from notifications.documents.periodic_report import render_report

    # Submitted on 3 December 2026 (on time: monthly reports are due by the 5th): the scenario's later
    # events (recorded after that instant) are not in it — the report is as of its submission.
    sc.clock.set(beijing(2026, 12, 3, 10))
    with sc.db.transaction() as s:
        sub = reports.submit(s, s.get(User, sc.officer.id), "320508", "month", "2026-11", now=sc.clock.now())
        _, pdf = render_report(sub.figures, reports.submission_json(sub, figures=False),
                               authority=s.get(Jurisdiction, "320508").authority_name)
        return sub.doc_number, pdf


def _inspection_record(sc: Scenario) -> tuple[str, bytes]:
    """An unannounced special inspection of the scenario's project with the 综合检查表: two items
    fail, one of them (a 2022 catalogue criterion) made a 重大事故隐患 case — its 检查记录 as a PDF."""
    from cases.inspections.checklists import latest_versions, sync_shipped
    from cases.inspections.findings import case_from_item
    from cases.inspections.services import record_inspection
    from cases.models import Inspection, InspectionItem, User
    from notifications.documents.inspection_record import stored_record

    now = sc.clock.now()
    with sc.db.transaction() as s:
        sync_shipped(s, now)
        checklist = next(c for c in latest_versions(s) if c.code == "comprehensive")
        notes = {"JSJ-02": "3#楼外脚手架12—15层东侧连墙件整层缺失", "GL-04": "未见本月分部分项工程安全技术交底记录"}
        officer = s.get(User, sc.officer.id)
        inspection = record_inspection(s, officer, {
            "project_id": sc.project.id, "inspected_on": now.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat(),
            "inspection_type": "special", "unannounced": True, "checklist_id": checklist.id,
            "inspector_ids": [sc.officer.id], "place": "3#—6#楼施工现场及项目部",
            "summary": "对照综合检查表逐项检查脚手架、临时用电、安全管理等内容，查阅安全技术交底、教育培训记录。",
            "handling": "当场责令3#楼外脚手架停止作业，限期补设连墙件；安全技术交底限3日内补齐。",
            "items": [{"item_code": c, "result": "fail" if c in notes else "pass", "note": notes.get(c, "")}
                      for c in (it["code"] for it in checklist.items)]}, now)
        item_id = s.scalar(select(InspectionItem.id).where(InspectionItem.inspection_id == inspection.id,
                                                           InspectionItem.item_code == "JSJ-02"))
        inspection_id = inspection.id
    with sc.db.transaction() as s:
        case_from_item(s, s.get(User, sc.officer.id), inspection_id, item_id, {}, now)
    with sc.db.transaction() as s:
        inspection = s.get(Inspection, inspection_id)
        data, _ = stored_record(s, inspection, sc.settings, "pdf")
        return inspection.number, data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "samples"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="anjian-samples-") as tmp:
        url = f"sqlite:///{tmp}/samples.db"
        upgrade(url)
        db = Database(url)
        clock = Clock()
        clock.set(START)
        previous = clock_module._clock
        clock_module.set_clock(clock)
        try:
            settings = Settings(data_dir=Path(tmp) / "data", database_url=url)
            sc = Scenario(db, clock, settings)
            sc.build_world()
            sc.run()
            sc.render()
            picked = sc.pick()
            record = _inspection_record(sc)  # 检查记录: numbered per inspection, not a case's document
            report = _periodic_report(sc)  # 定期报表: a jurisdiction's submission, not a case's document
        finally:
            clock_module.set_clock(previous)
        missing = [t for t, spec in CATALOG.items() if spec.is_document and t not in picked]
        if missing:
            raise SystemExit(f"the scenario issued no {', '.join(missing)}")
        (out / "inspection_record.pdf").write_bytes(record[1])
        if shutil.which("pdftoppm"):
            subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", str(out / "inspection_record.pdf"),
                            str(out / "inspection_record")], check=True)
        print(f"{'inspection_record':28s} {record[0]:24s} {out / 'inspection_record.pdf'}")
        (out / "periodic_report.pdf").write_bytes(report[1])
        if shutil.which("pdftoppm"):
            subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", str(out / "periodic_report.pdf"),
                            str(out / "periodic_report")], check=True)
        print(f"{'periodic_report':28s} {report[0]:24s} {out / 'periodic_report.pdf'}")
        for doc_type, doc in sorted(picked.items()):
            data = rendering.read_stored(doc, settings, "pdf")
            pdf = out / f"{doc_type}.pdf"
            pdf.write_bytes(data)
            if shutil.which("pdftoppm"):
                subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", str(pdf), str(out / doc_type)],
                               check=True)
            print(f"{doc_type:28s} {doc.number:24s} {pdf.relative_to(ROOT) if pdf.is_relative_to(ROOT) else pdf}")
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
