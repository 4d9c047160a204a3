"""My notification preferences and my password (``/me/preferences``).

The preferences are read and saved through the same functions as ``/api/me/notification-preferences``
(``notifications.delivery.preferences``; the view is ``api.routes.notifications.my_preferences_view``): the
form has a row for 全部消息 (``*``) and one per message kind of the catalogue, each with the channels.
The password change runs ``cases.platform.sessions.change_password`` on the password pool, as
``/api/me/password`` does; afterwards this session's cookie holds the new token (every other session
of the user has ended)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request

from api.hashing import BUSY_MESSAGE, PasswordPoolBusy, password_pool
from api.pages.common import SESSION_COOKIE, CheckedForm, PageUser, redirect, render
from api.routes.auth import client_address
from api.routes.notifications import my_preferences_view
from cases.platform.errors import ValidationFailed
from cases.platform.security import issue_token
from cases.platform.sessions import LoginLocked, LoginPolicy, change_password
from notifications.delivery import preferences
from notifications.rendering.catalog import CATALOG
from notifications.channels.send import CHANNEL_NAMES, CHANNELS

router = APIRouter(include_in_schema=False)

ALL = preferences.ALL_TEMPLATES
SOURCE_LABELS = {"user": "本人设置", "role": "按角色设置", "default": "默认"}
QUIET = {"": "默认（夜间不发群机器人消息）", "false": "夜间也发送"}


def _rows() -> list[tuple[str, str]]:
    """The form's rows: 全部消息, then every message kind with its Chinese title."""
    return [(ALL, "全部消息（未单独设置的消息按此发送）")] + [
        (name, spec.title) for name, spec in CATALOG.items() if spec.is_message]


def table_rows(saved: dict[str, dict[str, Any]], *, posted: dict[str, Any] | None = None,
               errors: dict[str, list[str]] | None = None,
               effective: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rows of the channels table (``_prefs_table.html``) from the saved preferences by template,
    or from a refused form's ``posted`` values."""
    rows = []
    for template, title in _rows():
        if posted is not None:  # a refused form shows what was typed
            own, channels, quiet = posted.get(template, (False, [], ""))
        else:
            p = saved.get(template)
            own = p is not None
            channels = p["channels"] if p else []
            quiet = "" if not p or p["quiet_hours"] is None else ("false" if p["quiet_hours"] is False else "")
        rows.append({"template": template, "title": title, "own": own, "channels": channels, "quiet": quiet,
                     "warning": saved[template]["warning"] if template in saved else None,
                     "effective": (effective or {}).get(template), "errors": (errors or {}).get(template, [])})
    return rows


def parse_form(form) -> tuple[dict[str, tuple[bool, list[str], str]], list[dict[str, Any]]]:
    """A posted channels table → (what was typed per template, the preference items to save)."""
    posted: dict[str, tuple[bool, list[str], str]] = {}
    items: list[dict[str, Any]] = []
    for template, _ in _rows():
        key = _field(template)
        own = form.get(f"own.{key}") == "1"
        channels = [c for c in form.getlist(f"channels.{key}") if isinstance(c, str)]
        quiet = str(form.get(f"quiet.{key}") or "")
        posted[template] = (own, channels, quiet)
        if own:
            # The in-app inbox is always kept (the system's record of what it told whom).
            items.append({"template": template, "channels": ["inbox", *[c for c in channels if c != "inbox"]],
                          "quiet_hours": False if quiet == "false" else None})
    return posted, items


def errors_by_template(exc: ValidationFailed, items: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The service's 422 (``preferences[i].channels``…) as messages per row of the table."""
    errors: dict[str, list[str]] = {}
    for e in exc.errors:
        field = str(e.get("field") or "")
        template = ""
        if field.startswith("preferences[") and "]" in field:
            index = field[len("preferences["):field.index("]")]
            if index.isdigit() and int(index) < len(items):
                template = items[int(index)]["template"]
        errors.setdefault(template, []).append(e["message"])
    return errors


def _view(request: Request, user, *, status_code: int = 200, errors: dict[str, list[str]] | None = None,
          posted: dict[str, Any] | None = None, pw_errors: dict[str, list[str]] | None = None,
          pw_error: str | None = None):
    with request.app.state.db.session() as s:
        prefs = my_preferences_view(s, user)
    saved = {p["template"]: p for p in prefs["preferences"]}
    rows = table_rows(saved, posted=posted, errors=errors, effective=prefs["effective"])
    return render(request, "preferences.html", user=user, status_code=status_code, title="通知设置",
                  rows=rows, channels=prefs["channels"], default=prefs["default"], channel_names=CHANNEL_NAMES,
                  quiet_options=QUIET, source_labels=SOURCE_LABELS, quiet_hours=prefs["quiet_hours"], general_errors=(errors or {}).get("", []),
                  pw_errors=pw_errors or {}, pw_error=pw_error, has_email=bool(user.email))


@router.get("/me/preferences")
def show(request: Request, user: PageUser):
    return _view(request, user)


def _field(template: str) -> str:
    return "all" if template == ALL else template


@router.post("/me/preferences")
def save(request: Request, user: PageUser, form: CheckedForm):
    posted, items = parse_form(form)
    state = request.app.state
    try:
        with state.db.transaction() as s:
            preferences.set_user_preferences(s, user, items, now=state.clock.now())
    except ValidationFailed as exc:
        return _view(request, user, status_code=422, errors=errors_by_template(exc, items), posted=posted)
    return redirect(request, "/me/preferences", notice="通知设置已保存")


@router.post("/me/password")
async def password(request: Request, user: PageUser, form: CheckedForm):
    old = str(form.get("old_password") or "")[:1024]
    new = str(form.get("new_password") or "")[:1024]
    again = str(form.get("new_password2") or "")[:1024]
    errors: dict[str, list[str]] = {}
    if not old:
        errors.setdefault("old_password", []).append("必填")
    if not new:
        errors.setdefault("new_password", []).append("必填")
    elif new != again:
        errors.setdefault("new_password2", []).append("两次输入的新密码不一致")
    if errors:
        return _view(request, user, status_code=422, pw_errors=errors)
    state = request.app.state
    now = state.clock.now()
    try:
        epoch = await password_pool(request.app).run(
            change_password, state.db, user.id, old, new, client_address(request), now,
            LoginPolicy.from_settings(state.settings))
    except PasswordPoolBusy:
        return _view(request, user, status_code=503, pw_error=BUSY_MESSAGE)
    except LoginLocked as exc:
        return _view(request, user, status_code=429, pw_error=exc.message)
    except ValidationFailed as exc:
        for e in exc.errors:
            errors.setdefault(str(e.get("field") or "new_password"), []).append(e["message"])
        return _view(request, user, status_code=422, pw_errors=errors)
    request.state.security_logged = True
    ttl = timedelta(minutes=state.settings.token_ttl_minutes)
    token = issue_token(user.id, state.signing_key, now, ttl, epoch=epoch)
    response = redirect(request, "/me/preferences", notice="密码已修改，其他登录已全部失效")
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                        path="/", max_age=int(ttl.total_seconds()))
    return response
