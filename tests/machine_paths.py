"""Drive a case of any kind to any state of its machine — over HTTP or through the services.

Payloads are generated from the FieldSpecs of each action (the machine data), with a few
per-action overrides where a guard needs specific values. Used by the lifecycle, forbidden-action,
access, concurrency and replay tests.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from cases.evidence.services import add_evidence
from cases.ledger import services
from cases.platform.errors import ActionNotAllowed
from cases.ledger.engine import get_registry
from state_machines.loader import ActionSpec, FieldSpec, MachineDefinition
from tests.evidence_files import PHOTO_REFUSAL, fresh_png, upload

# Every loaded kind (state_machines/definitions/). A kind's path to each state is the shortest one
# through its machine (``shortest_paths``) unless PATHS names another (a guard needing an internal
# action first: apply_review, record_evacuation, submit_report); OVERRIDES where the generated values
# break a guard. test_forbidden_actions checks every state is reached.
KINDS = tuple(get_registry().kinds())

# The action sequence (from the initial state) that reaches each state of each machine.
PATHS: dict[str, dict[str, list[str]]] = {
    "hazard": {
        "found": [],
        "registered": ["register"],
        "rectifying": ["register", "start_rectification"],
        "verified": ["register", "start_rectification", "verify"],
        "closed": ["register", "start_rectification", "verify", "close"],
        "dismissed": ["dismiss"],
    },
    "major_hazard": {
        "found": [],
        "registered": ["register"],
        "rectifying": ["register", "start_rectification"],
        "verified": ["register", "start_rectification", "apply_review", "verify"],
        "closed": ["register", "start_rectification", "apply_review", "verify", "close"],
        "dismissed": ["dismiss"],
    },
    "accident": {
        "found": [],
        "registered": ["register"],
        "rectifying": ["register", "start_rectification"],
        "verified": ["register", "start_rectification", "submit_report", "verify"],
        "closed": ["register", "start_rectification", "submit_report", "verify", "close"],
    },
    "dangerous_building": {
        "found": [],
        "registered": ["register"],
        "rectifying": ["register", "record_evacuation", "start_rectification"],
        "verified": ["register", "record_evacuation", "start_rectification", "verify"],
        "closed": ["register", "record_evacuation", "start_rectification", "verify", "close"],
    },
    "self_hazard": {  # recorded by the enterprise's contact (settings.creators), docs/self-inspection.md
        "found": [],
        "rectifying": ["start_rectification"],
        "rectified": ["start_rectification", "report_completion"],
    },
}



def shortest_paths(d: MachineDefinition) -> dict[str, list[str]]:
    """From the initial state, the fewest state-changing actions to each state (breadth first, in the
    order the machine lists its actions; reclassification leaves the kind, so it is not a route)."""
    paths = {d.initial: []}
    queue = [d.initial]
    while queue:
        state = queue.pop(0)
        for a in d.actions_from(state):
            if a.dest and a.dest not in paths and a.name != "reclassify":
                paths[a.dest] = [*paths[state], a.name]
                queue.append(a.dest)
    return paths


for _kind in KINDS:
    PATHS.setdefault(_kind, shortest_paths(get_registry().latest(_kind)))

# Values a guard needs that the generic generator would not choose.
OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {
    ("accident", "register"): {"deaths": 1, "serious_injuries": 0, "direct_loss": 0},
    ("accident", "update_casualties"): {"deaths": 1, "serious_injuries": 0, "direct_loss": 0},
    ("dangerous_building", "register"): {"appraisal_grade": "D", "handling": "stop_use"},
    ("dangerous_building", "conclude_safe"): {"appraisal_grade": "A"},
    ("dangerous_building", "verify"): {"new_grade": "B"},
    # a 重大险情 has no death, serious injury or loss at the accident threshold; its reclassification has
    ("dangerous_occurrence", "register"): {"deaths": 0, "serious_injuries": 0, "direct_loss": 20000},
    ("dangerous_occurrence", "reclassify"): {"deaths": 1, "serious_injuries": 0, "direct_loss": 0, "accident_type": "fall"},
}

CHINESE = "现场检查发现问题已按要求处理完毕"


def definition(kind: str, version: int | None = None) -> MachineDefinition:
    r = get_registry()
    return r.get(kind, version) if version else r.latest(kind)


def value_for(spec: FieldSpec, world, clock) -> Any:
    t = spec.type
    if t == "enum":
        return next(iter(spec.options))
    if t == "checklist":
        return list(spec.options) if spec.require_all else [next(iter(spec.options))]
    if t == "boolean":
        return spec.must_be if spec.must_be is not None else True
    if t == "integer":
        v = int(max(spec.min if spec.min is not None else 0, 1))
        return min(v, int(spec.max)) if spec.max is not None else v
    if t == "number":
        v = float(max(spec.min if spec.min is not None else 0, 1))
        return min(v, float(spec.max)) if spec.max is not None else v
    if t == "date":
        return clock.today().isoformat()
    if t == "datetime":
        return clock.now().isoformat()
    if t == "enterprise":
        return world.e1.id
    if t == "user":
        return world.officer.id
    if t == "hazard_item":
        return "7.2"
    if t == "jurisdiction":
        return "320508"
    if t in ("string", "text"):
        text = f"{spec.label}：{CHINESE}"
        return text[: spec.max_length] if spec.max_length else text
    raise AssertionError(f"no generator for field type {t}")


def action_payload(kind: str, action: str | ActionSpec, world, clock, *, version: int | None = None,
                   required_only: bool = False, **overrides: Any) -> dict[str, Any]:
    """Field values for one action (no ``version``/``comment``)."""
    spec = action if isinstance(action, ActionSpec) else definition(kind, version).action(action)
    assert spec is not None, f"{kind} has no action {action}"
    out = {f.name: value_for(f, world, clock) for f in spec.fields if f.required or not required_only}
    out.update(OVERRIDES.get((kind, spec.name), {}))
    out.update(overrides)
    return out


def _local_assignee(fields: dict[str, Any], jurisdiction_code: str | None, world) -> dict[str, Any]:
    """A generated 承办人 must see the case: 吴中区's cases go to its own officer, a case the city or the
    province took over (提级) to their supervisor — not to 姑苏区's officer."""
    local = {"320506": world.officer_wz, "320500": world.supervisor, "320000": world.province}.get(jurisdiction_code)
    if fields.get("assignee_id") == world.officer.id and local is not None:
        return {**fields, "assignee_id": local.id}
    return fields


def comment_for(spec: ActionSpec) -> str | None:
    return "备注：已电话通知责任单位" if spec.comment_required else None


def actor_for(spec: ActionSpec, world):
    """The least privileged world user whose role may take the action on a world.e1 case."""
    if "officer" in spec.roles:
        return world.officer
    if "supervisor" in spec.roles:
        return world.supervisor
    if "enterprise" in spec.roles:
        return world.contact
    raise AssertionError(f"nobody may take {spec.name}")


def creator_for(kind: str, world):
    """Who records a case of the kind: an officer, or the contact where the machine says so (self_hazard)."""
    return world.contact if "enterprise" in definition(kind).settings.get("creators", ()) else world.officer


def create_payload(kind: str, world, clock, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"kind": kind, "title": f"测试{kind}案件", "description": "测试用案件",
                            "location": "平江路1号", "source": "inspection", "enterprise_id": world.e1.id}
    if kind == "hazard":
        base.update(project_id=world.p1.id, category="scaffolding")
    elif kind == "major_hazard":
        base.update(project_id=world.p1.id, hazard_item_code="7.2")
    elif kind == "accident":
        base.update(project_id=world.p1.id, source="flash_report", occurred_at=clock.now().isoformat(),
                    accident_type="fall", brief="高处坠落一人")
    elif kind == "dangerous_building":
        base.update(building_id=world.b1.id, source="survey", building_use="residential", occupants=6)
    elif kind == "dangerous_occurrence":
        base.update(project_id=world.p1.id, source="occurrence_report", occurred_at=clock.now().isoformat(),
                    occurrence_type="scaffolding", brief="3号楼外脚手架局部变形下沉，现场人员已撤离",
                    endangered=12, evacuated=12, deaths=0, serious_injuries=0, minor_injuries=0, direct_loss=50000)
    elif kind == "self_hazard":  # the contact's own unit and project; the source is 企业自查
        base.update(project_id=world.p1.id, source="self_check", severity="general", rectification_days=5,
                    category="scaffolding")
    elif kind not in ("hazard", "major_hazard", "accident", "dangerous_building"):
        # any other kind: its required creation fields, generated from the machine data
        d = definition(kind)
        base.update({f.name: value_for(f, world, clock) for f in d.create_fields if f.required})
        if "project_id" not in d.creation.omit:
            base["project_id"] = world.p1.id
        for name in d.creation.omit:
            base.pop(name, None)
    base.update(extra)
    return base


# ---------------------------------------------------------------- over HTTP


class HttpDriver:
    """Drives cases through the real API; ``api`` is the conftest ``api`` fixture."""

    def __init__(self, api, world, clock) -> None:
        self.world = world
        self.clock = clock
        self._api = api
        self._clients: dict[int, Any] = {}

    def client(self, user):
        """A client for ``user``; re-logged-in when the test clock has moved on (tokens expire)."""
        minted = self._clients.get(user.id)
        now = self.clock.now()
        if minted is None or abs(now - minted[0]) > timedelta(hours=1):
            minted = (now, self._api(user))
            self._clients[user.id] = minted
        return minted[1]

    def create(self, kind: str, user=None, **extra: Any) -> dict:
        r = self.client(user or creator_for(kind, self.world)).post(
            "/api/cases", json=create_payload(kind, self.world, self.clock, **extra))
        assert r.status_code == 201, r.text
        return r.json()

    def get(self, case: dict, user=None) -> dict:
        r = self.client(user or self.world.officer).get(f"/api/cases/{case['id']}")
        assert r.status_code == 200, r.text
        return r.json()

    def events(self, case: dict, user=None) -> list[dict]:
        r = self.client(user or self.world.officer).get(f"/api/cases/{case['id']}/events")
        assert r.status_code == 200, r.text
        return r.json()["items"]

    def try_act(self, case: dict, action: str, user=None, *, fields: dict | None = None, comment: str | None = None,
                with_photo: bool = True, **overrides: Any):
        """POST the action with generated fields (``fields`` replaces them); returns the response.
        An action refused only for want of a 整改后 photo (guard ``has_rectification_photo``) is taken
        again after the acting user uploads one, unless ``with_photo=False``."""
        d = definition(case["kind"], case.get("machine_version"))
        spec = d.action(action)
        if fields is None:
            fields = action_payload(case["kind"], spec, self.world, self.clock,
                                    version=case.get("machine_version"), **overrides) if spec else {}
            if "assignee_id" not in overrides:
                fields = _local_assignee(fields, (case.get("jurisdiction") or {}).get("code"), self.world)
        body = {"version": case["version"], **fields}
        if comment is None and spec is not None:
            comment = comment_for(spec)
        if comment is not None:
            body["comment"] = comment
        if user is None:
            user = actor_for(spec, self.world) if spec else self.world.officer
        r = self.client(user).post(f"/api/cases/{case['id']}/actions/{action}", json=body)
        if with_photo and r.status_code == 409 and PHOTO_REFUSAL in r.json().get("message", ""):
            # refused for want of a 整改后 photo only: the user uploads one, then acts again
            photo = upload(self.client(user), case["id"], fresh_png(), "整改后.png", "after", "image/png")
            assert photo.status_code == 201, photo.text
            r = self.client(user).post(f"/api/cases/{case['id']}/actions/{action}", json=body)
        return r

    def act(self, case: dict, action: str, user=None, **kw: Any) -> dict:
        r = self.try_act(case, action, user, **kw)
        assert r.status_code == 200, f"{case['kind']} {case['state']} → {action}: {r.status_code} {r.text}"
        return r.json()

    def lift_supervision(self, case: dict, user=None) -> None:
        """摘牌 by the listing body (the city for a county's case), if the case is listed."""
        sup = self.get(case).get("supervision")
        if sup and sup["status"] != "lifted":
            r = self.client(user or self.world.supervisor).post(f"/api/supervisions/{sup['id']}/lift",
                                                                json={"opinion": "现场核查合格，同意摘牌"})
            assert r.status_code == 200, r.text

    def drive(self, kind: str, state: str, **create_extra: Any) -> dict:
        case = self.create(kind, **create_extra)
        for action in PATHS[kind][state]:
            if action == "close":  # a listed case closes only after 摘牌
                self.lift_supervision(case)
            case = self.act(case, action)
        assert case["state"] == state, case
        return case


# ---------------------------------------------------------------- through the services


class ServiceDriver:
    """Same, but calling ``cases.ledger.services`` in one transaction per call (fast; for properties)."""

    def __init__(self, db, world, clock, settings=None) -> None:
        self.db = db
        self.world = world
        self.clock = clock
        self._settings = settings  # where evidence photos go (a temporary data dir unless given)

    @property
    def settings(self):
        if self._settings is None:
            import tempfile
            from pathlib import Path

            from cases.platform.config import Settings

            self._settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="anjian-evidence-")))
        return self._settings

    def create(self, kind: str, user=None, **extra: Any) -> int:
        with self.db.transaction() as s:
            case = services.create_case(s, user or creator_for(kind, self.world),
                                        create_payload(kind, self.world, self.clock, **extra),
                                        now=self.clock.now())
            return case.id

    def act(self, case_id: int, action: str, user=None, *, payload: dict | None = None, version: int | None = None,
            comment: str | None = None, with_photo: bool = True):
        with self.db.transaction() as s:
            case = services.get_case(s, self.world.province, case_id)
            d = services.definition_of(case)
            spec = d.action(action)
            if payload is None:
                payload = action_payload(case.kind, spec, self.world, self.clock, version=case.machine_version) if spec else {}
            payload = _local_assignee(payload, case.jurisdiction_code, self.world)
            if comment is None and spec is not None:
                comment = comment_for(spec)
            if user is None:
                user = actor_for(spec, self.world) if spec else self.world.officer
            try:
                case, event = services.perform_action(s, user, case_id, action, payload,
                                                      version=case.version if version is None else version,
                                                      comment=comment, now=self.clock.now())
                return case.state
            except ActionNotAllowed as exc:
                if not (with_photo and PHOTO_REFUSAL in exc.message):
                    raise
        # refused for want of a 整改后 photo only: the user uploads one, then acts again
        with self.db.transaction() as s:
            add_evidence(s, user, case_id, fresh_png(), "整改后.png", "after", None, self.clock.now(), self.settings)
        return self.act(case_id, action, user, payload=payload, version=version, comment=comment, with_photo=False)

    def lift_supervision(self, case_id: int, user=None) -> None:
        from cases.clocks import supervision

        with self.db.transaction() as s:
            sup = supervision.active_supervision(s, case_id)
            if sup is not None:
                supervision.lift(s, user or self.world.supervisor, sup.id, "现场核查合格，同意摘牌", self.clock.now())

    def drive(self, kind: str, state: str, **create_extra: Any) -> int:
        case_id = self.create(kind, **create_extra)
        for action in PATHS[kind][state]:
            if action == "close":  # a listed case closes only after 摘牌
                self.lift_supervision(case_id)
            self.act(case_id, action)
        return case_id
