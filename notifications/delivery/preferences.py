"""Channel preferences per user and per role, installed as ``cases.issuance.outbox.channel_resolver``.

A preference says on which channels a user (or every user of a role) gets a template (a catalogue
name, or ``*`` for all), and may lift the quiet hours for that recipient's bot messages.

Resolution for (user, template), first match wins:

1. the user's preference for the template, 2. the user's ``*`` preference,
3. the role's preference for the template, 4. the role's ``*`` preference,
5. the default: in-app inbox, plus e-mail if the user has an address (``cases.issuance.outbox.default_channels``).

Whatever matched, the in-app inbox is always kept (the system's own record of what it told whom),
e-mail is dropped for a user without an address, and a channel that is not configured (no SMTP
server, no webhook URL, …; :func:`notifications.channels.usage.configured_in`) is not used at all: no row
is written for it. Saving a preference for such a channel is refused (422); a saved preference whose
channel's configuration was removed later is flagged (``unavailable_channels``, ``warning``). Importing this module installs the resolver;
``api/app.py``, ``workflows/flows.py`` and ``notifications/delivery/service.py`` import it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cases.issuance import outbox
from cases.ledger.access import ROLE_LABELS
from cases.platform.errors import ValidationFailed
from cases.models import NotificationPreference, User
from notifications.rendering.catalog import CATALOG
from notifications.channels.send import CHANNEL_NAMES, CHANNELS
from notifications.channels.usage import configured_in, not_configured_message

ALL_TEMPLATES = "*"
ROLES = tuple(ROLE_LABELS)
_CACHE_KEY = "anjian.notification_preferences"


@dataclass(frozen=True)
class Resolved:
    channels: list[str]
    quiet_hours: bool  # True: bot messages wait for the end of the quiet hours (the default)
    source: str  # user / role / default
    template: str | None = None  # the preference's template ("*" or a name); None for the default


def _subject_user(user_id: int) -> str:
    return f"user:{user_id}"


def _subject_role(role: str) -> str:
    return f"role:{role}"


def _all(session: Session) -> dict[tuple[str, str], NotificationPreference]:
    """Every preference row, cached on the session (one query per transaction, however many
    messages a sweep batch enqueues). Writers below drop the cache."""
    cache = session.info.get(_CACHE_KEY)
    if cache is None:
        cache = {(p.subject, p.template): p for p in session.scalars(select(NotificationPreference))}
        session.info[_CACHE_KEY] = cache
    return cache


def _match(session: Session, user_id: int, role: str, template: str) -> tuple[NotificationPreference | None, str]:
    prefs = _all(session)
    for subject, source in ((_subject_user(user_id), "user"), (_subject_role(role), "role")):
        for tpl in (template, ALL_TEMPLATES):
            p = prefs.get((subject, tpl))
            if p is not None:
                return p, source
    return None, "default"


def _finish(user: User, channels: Iterable[str], active: set[str]) -> list[str]:
    wanted = (set(channels) & active) | {"inbox"}
    if not user.email:
        wanted.discard("email")
    return [c for c in CHANNELS if c in wanted]


def default_channels(session: Session, user: User) -> list[str]:
    """The default (no preference matched) as it is applied: configured channels only."""
    return _finish(user, outbox.default_channels(user), configured_in(session))


def resolve(session: Session, user: User, template: str) -> Resolved:
    pref, source = _match(session, user.id, user.role, template)
    active = configured_in(session)
    if pref is None:
        return Resolved(channels=_finish(user, outbox.default_channels(user), active), quiet_hours=True,
                        source="default")
    return Resolved(channels=_finish(user, pref.channels or [], active), quiet_hours=pref.quiet_hours is not False,
                    source=source, template=pref.template)


def resolve_channels(session: Session, user: User, template: str, urgent: bool) -> list[str]:
    """``cases.issuance.outbox.channel_resolver``: the channels ``user`` gets ``template`` on."""
    return resolve(session, user, template).channels


def quiet_hours_apply(session: Session, user_id: int | None, template: str) -> bool:
    """Whether the quiet hours hold back a (non-urgent) bot message to this recipient."""
    if user_id is None:
        return True
    user = session.get(User, user_id)
    if user is None:
        return True
    pref, _ = _match(session, user.id, user.role, template)
    return pref is None or pref.quiet_hours is not False


# ---------------------------------------------------------------- reading and saving


def _item(p: NotificationPreference, active: set[str]) -> dict[str, Any]:
    unavailable = [c for c in (p.channels or []) if c not in active]
    return {"template": p.template, "channels": list(p.channels or []), "quiet_hours": p.quiet_hours,
            "updated_at": p.updated_at, "updated_by_id": p.updated_by_id,
            # a channel whose configuration was removed after the preference was saved: not used now
            "unavailable_channels": unavailable,
            "warning": ("、".join(CHANNEL_NAMES[c] for c in unavailable) + "渠道已不再配置，暂不通过该渠道发送"
                        if unavailable else None)}


def validate_items(items: list[dict[str, Any]], *, user: User | None = None,
                   active: set[str] | None = None) -> list[dict[str, Any]]:
    """Normalise preference items; raises ValidationFailed (422) with Chinese messages."""
    errors: list[dict[str, str]] = []
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    valid = "、".join(f"{c}（{CHANNEL_NAMES[c]}）" for c in CHANNELS)
    for i, item in enumerate(items):
        where = f"preferences[{i}]"
        template = (item.get("template") or ALL_TEMPLATES).strip()
        if template != ALL_TEMPLATES and (template not in CATALOG or not CATALOG[template].is_message):
            errors.append({"field": f"{where}.template",
                           "message": f"未知的消息模板“{template}”（填写模板名称，或用 * 表示全部消息）"})
        elif template in seen:
            errors.append({"field": f"{where}.template", "message": f"模板“{template}”重复设置"})
        seen.add(template)
        channels = item.get("channels")
        if not isinstance(channels, list) or not channels:
            errors.append({"field": f"{where}.channels", "message": "请至少选择一个通知渠道"})
            continue
        bad = [c for c in channels if c not in CHANNELS]
        if bad:
            errors.append({"field": f"{where}.channels",
                           "message": f"无效的通知渠道“{'、'.join(map(str, bad))}”，可选渠道：{valid}"})
            continue
        off = [c for c in channels if active is not None and c not in active]
        if off:
            errors.append({"field": f"{where}.channels", "message": not_configured_message(off[0])})
            continue
        if user is not None and "email" in channels and not user.email:
            errors.append({"field": f"{where}.channels", "message": "您没有登记电子邮箱，不能选择电子邮件渠道"})
            continue
        quiet = item.get("quiet_hours")
        if quiet is not None and not isinstance(quiet, bool):
            errors.append({"field": f"{where}.quiet_hours", "message": "应为是或否（true/false），或留空表示默认"})
            continue
        out.append({"template": template, "channels": [c for c in CHANNELS if c in set(channels)],
                    "quiet_hours": quiet})
    if errors:
        raise ValidationFailed([{**e, "label": "通知偏好"} for e in errors],
                               message="通知偏好设置无效：" + "；".join(e["message"] for e in errors))
    return out


def _replace(session: Session, subject: str, *, user_id: int | None, role: str | None,
             items: list[dict[str, Any]], now: datetime, by: int | None) -> None:
    session.execute(delete(NotificationPreference).where(NotificationPreference.subject == subject))
    for item in items:
        session.add(NotificationPreference(subject=subject, user_id=user_id, role=role, template=item["template"],
                                           channels=item["channels"], quiet_hours=item["quiet_hours"],
                                           updated_at=now, updated_by_id=by))
    session.flush()
    session.info.pop(_CACHE_KEY, None)


def user_preferences(session: Session, user: User) -> list[dict[str, Any]]:
    active = configured_in(session)
    return [_item(p, active) for p in session.scalars(select(NotificationPreference).where(
        NotificationPreference.subject == _subject_user(user.id)).order_by(NotificationPreference.template))]


def role_preferences(session: Session, role: str) -> list[dict[str, Any]]:
    active = configured_in(session)
    return [_item(p, active) for p in session.scalars(select(NotificationPreference).where(
        NotificationPreference.subject == _subject_role(role)).order_by(NotificationPreference.template))]


def set_user_preferences(session: Session, user: User, items: list[dict[str, Any]], *, now: datetime) -> None:
    _replace(session, _subject_user(user.id), user_id=user.id, role=None,
             items=validate_items(items, user=user, active=configured_in(session)), now=now, by=user.id)


def set_role_preferences(session: Session, role: str, items: list[dict[str, Any]], *, now: datetime,
                         by: int | None) -> None:
    check_role(role)
    _replace(session, _subject_role(role), user_id=None, role=role,
             items=validate_items(items, active=configured_in(session)), now=now, by=by)


def check_role(role: str) -> None:
    if role not in ROLES:
        raise ValidationFailed([{"field": "role", "label": "角色",
                                 "message": f"未知的角色“{role}”，可选：" + "、".join(f"{r}（{l}）" for r, l in ROLE_LABELS.items())}])


def effective(session: Session, user: User) -> dict[str, dict[str, Any]]:
    """Per message template: the channels this user gets it on, and where that comes from."""
    out = {}
    for name, spec in CATALOG.items():
        if not spec.is_message:
            continue
        r = resolve(session, user, name)
        out[name] = {"title": spec.title, "channels": r.channels, "quiet_hours": r.quiet_hours, "source": r.source}
    return out


# Install the resolver: every outbox.enqueue now honours the preferences.
outbox.channel_resolver = resolve_channels
