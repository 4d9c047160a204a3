"""The request's transition path: lock, checks, the state machine, the case UPDATE, the hooks, the
event INSERT — in the caller's transaction. ``cases.ledger.services.perform_action`` is this function.

Kept lean (docs/performance.md "Session 11 — lean"; tests/test_statement_counts.py): the case row
is locked with one SELECT, the event is written once after its hooks (one INSERT carrying the final
payload and ``derive_due``), and the columns the UPDATE wrote come back from its RETURNING.
"""
from __future__ import annotations

import functools
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, literal, select, update
from sqlalchemy.orm import Session, joinedload, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from cases.ledger import case_hints, services
from cases.platform import clock
from cases.ledger.access import visible_cases_clause
from cases.ledger.engine import fire
from cases.platform.errors import ActionNotAllowed, Forbidden, NotFound, StaleVersion, ValidationFailed
from cases.models import Case, CaseEvent, Enterprise, Project, User
from cases.ledger.rules import ActionContext
from cases.ledger.validation import MAX_INT, validate_fields
from state_machines.loader import ActionSpec


def perform_action(
    session: Session,
    actor: User | None,
    case_id: int,
    action_name: str,
    payload: dict[str, Any],
    *,
    version: int | None,
    comment: str | None = None,
    now: datetime | None = None,
    case: Case | None = None,
) -> tuple[Case, CaseEvent]:
    """Validate, fire, and write case + event in the caller's transaction (all or nothing).

    ``actor`` None is the system (the escalation ladder); it bypasses role checks.
    """
    now = now or clock.now()
    if case is None:
        if actor is None:
            raise ValueError("system actions must pass the case")
        case = services.get_case(session, actor, case_id, for_update=True)
    definition = services.definition_of(case)
    action = definition.action(action_name)
    if action is None:
        raise NotFound(f"“{definition.label}”没有名为“{action_name}”的操作",
                       actions=[a.name for a in definition.actions])
    if actor is not None and not services._actor_may(actor, case, action):
        raise Forbidden(f"您的角色无权执行“{action.label}”")
    refusal = services.owner_refusal(session, actor, case, action)
    if refusal:
        raise Forbidden(refusal)
    note = action.is_note  # a comment: numbered in the log, but never conflicts with an action
    if version is None and not note:
        raise ValidationFailed([{"field": "version", "label": "版本号", "message": "必填（请提交您看到的案件版本号）"}])
    if version != case.version and not note:
        raise StaleVersion(f"案件已被他人更新（您看到的是第{version}版，当前为第{case.version}版），请刷新后重试",
                           current_version=case.version, state=case.state)
    if case.state not in action.sources:
        raise ActionNotAllowed(
            f"当前状态“{definition.state(case.state).label}”下不能执行“{action.label}”", state=case.state)
    if services._comment_problem(comment):
        raise ValidationFailed([{"field": "comment", "label": "备注", "message": services._comment_problem(comment)}])
    if action.comment_required and not (comment or "").strip():
        raise ValidationFailed([{"field": "comment", "label": "备注", "message": "必填"}])
    kept = case_hints.kept_rows(session)  # referenced until the transaction ends (see _lookup)
    case_hints.hold_actor(session, actor, kept)
    prefetch_rows(session, case, definition.kind, action, payload, kept)
    values = validate_fields(action.fields, payload, services._lookup(session, kept), now=now)

    ctx = ActionContext(session=session, case=case, definition=definition, action=action, actor=actor,
                        now=now, values=values, comment=comment)
    for spec in action.fields:
        if spec.name in values:
            if spec.store == "case":
                ctx.changes[spec.name] = values[spec.name]
            elif spec.store == "details":
                ctx.details[spec.name] = values[spec.name]
    fire(ctx)  # transitions: source check + guards; then the effects
    if values.get("assignee_id") is not None and ctx.changes.get("assignee_id") == values["assignee_id"]:
        problem = services.assignee_problem(session, values["assignee_id"],
                                   ctx.changes.get("jurisdiction_code", case.jurisdiction_code))
        if problem:
            raise ValidationFailed([{"field": "assignee_id", "label": "承办人", "message": problem}])

    from_state = case.state
    written = {**ctx.changes, "state": ctx.state, "details": ctx.details, "version": case.version + 1,
               "updated_at": now}
    # On the table, not the entity (the attribute names are the column names): an ORM-enabled
    # UPDATE costs the ORM's bulk-update set-up on every action; the case object is updated below.
    if note:
        written = {"updated_at": now}
    params = {f"v_{k}": v for k, v in written.items()}
    params["w_id"], params["w_version"] = case.id, case.version
    row = session.execute(_case_update(tuple(written), not note), params).first()
    if row is None:
        raise StaleVersion("案件已被他人更新，请刷新后重试", current_version=None, state=case.state)
    # The row is locked and only these columns changed: take them from RETURNING instead of
    # reloading the case (and its related enterprises) with another SELECT.
    for key, value in zip([*written, "event_seq"], row):
        set_committed_value(case, key, value)
    seq = case.event_seq
    event = CaseEvent(case_id=case.id, seq=seq, at=now, actor_id=actor.id if actor else None,
                      action=action.name, from_state=from_state, to_state=ctx.state,
                      payload={"values": values, **ctx.event_payload}, comment=comment)
    ctx.case = case
    services.run_hooks(session, services.TRANSITION_HOOKS, ctx, event)
    return case, event


@functools.lru_cache(maxsize=256)
def _case_update(columns: tuple[str, ...], guarded: bool):
    """The case UPDATE for this set of columns, built once per shape (an action writes the same
    columns every time): building and keying it cost ~0.27 ms of CPU per action. Parameters
    ``v_<column>``, ``w_id`` and (guarded: the optimistic lock) ``w_version``."""
    t = Case.__table__
    where = [t.c.id == bindparam("w_id")]
    if guarded:
        where.append(t.c.version == bindparam("w_version"))
    return (update(t).where(*where)
            .values({**{t.c[k]: bindparam(f"v_{k}", type_=t.c[k].type) for k in columns},
                     t.c.event_seq: t.c.event_seq + 1})
            .returning(*(t.c[k] for k in columns), t.c.event_seq))


def locked_case(session: Session, actor: User, case_id: int) -> Case | None:
    """The case row, locked, if ``actor`` may see it. PostgreSQL: concurrent actions on one case
    queue here; the loser then sees the new version and gets a clean 409. SQLite ignores FOR UPDATE
    (its BEGIN IMMEDIATE serialises writers). The identity map may hold an older version of the row:
    the locked row overwrites it. With it, whether the case has supervisions and related units
    (cases/ledger/case_hints.py); the related rows themselves load only when asked."""
    row = session.execute(_locked_statement(actor.role, actor.jurisdiction_code, actor.enterprise_id),
                          {"case_id": case_id}).first()
    if row is None:
        return None
    case_hints.note(session, row[0].id, row[1], row[2])
    return row[0]


@functools.lru_cache(maxsize=1024)
def _locked_statement(role: str, jurisdiction_code: str | None, enterprise_id: int | None):
    """Built once per visibility (what ``visible_cases_clause`` reads of the user), not per request."""
    who = SimpleNamespace(role=role, jurisdiction_code=jurisdiction_code, enterprise_id=enterprise_id)
    return (select(Case, case_hints.SUPERVISIONS, case_hints.RELATED_UNITS)
            .where(Case.id == bindparam("case_id"), visible_cases_clause(who))
            # FOR NO KEY UPDATE: excludes another transition of the case, but not the FOR KEY SHARE a
            # deriver's INSERTs referencing the case hold until its batch commits (FOR UPDATE waited).
            .options(lazyload(Case.related)).with_for_update(of=Case, key_share=True)
            .execution_options(populate_existing=True))


def prefetch_rows(session: Session, case: Case, kind: str, action: ActionSpec, payload: dict[str, Any],
                  kept: list) -> None:
    """Read in one statement the rows the action will look up by key one at a time: the enterprise and
    the user its payload names (the reference checks, the assignee check, the documents' facts) or
    else the case's (the answer's names), and, when it issues a document, the case's project with
    its parties (the preflight). They land in the session's identity map, where those lookups find
    them; ``kept`` holds them (the map holds weakly). Fewer than two such rows: nothing to fold,
    each lookup reads its own as before."""
    from cases.issuance import documents

    wanted: list[tuple[type, int]] = []
    for spec in action.fields:
        model = _REFERENCE_MODELS.get(spec.type)
        value = payload.get(spec.name)
        if (model is not None and isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_INT
                and all(m is not model for m, _ in wanted)):
            wanted.append((model, value))
    # The case's responsible unit and assignee as they will be after the action (the answer names
    # them; a document's facts read them), unless the payload names others.
    for model, ident in ((Enterprise, case.enterprise_id), (User, case.assignee_id)):
        if ident is not None and all(m is not model for m, _ in wanted):
            wanted.append((model, ident))
    if (case.project_id is not None and documents.preflight is not None
            and (kind, action.name) in documents.TRANSITION_DOCUMENTS):
        wanted.append((Project, case.project_id))
    wanted = [(m, i) for m, i in wanted if session.identity_map.get(session.identity_key(m, i)) is None]
    if len(wanted) < 2:
        return
    models = tuple(m for m, _ in wanted)
    params = {f"id{n}": ident for n, (_, ident) in enumerate(wanted)}
    for row in session.execute(_prefetch_statement(models), params).unique().all():  # all rows: the parties
        kept.extend(x for x in row if x is not None)


_REFERENCE_MODELS = {"enterprise": Enterprise, "user": User}


@functools.lru_cache(maxsize=None)
def _prefetch_statement(models: tuple[type, ...]):
    """One statement per combination of tables, built once (its cache key is computed once too)."""
    stmt = select(*models).select_from(select(literal(1).label("one")).subquery())
    for n, model in enumerate(models):
        stmt = stmt.outerjoin(model, model.id == bindparam(f"id{n}"))
    if Project in models:
        stmt = stmt.options(joinedload(Project.parties))  # each party's enterprise is joined by default
    return stmt
