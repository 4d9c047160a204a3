"""Channel preferences (per user, per role) and channel configuration, over the real HTTP API on
both databases: resolution order, what the outbox writes, validation with Chinese messages."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from cases.issuance import outbox
from cases.platform.config import Settings
from cases.models import Base, ChannelConfig, OutboxMessage, User
from notifications.channels import config as channel_config
from notifications.channels import usage as channel_usage
from notifications.channels import send as channels
from notifications.delivery import preferences

ME = "/api/me/notification-preferences"


@pytest.fixture(scope="module", autouse=True)
def _tables(database):
    """Create any table the migrations do not have yet (no-op once they do)."""
    Base.metadata.create_all(database.engine, checkfirst=True)


def put(client, path, body):
    return client.http.put(path, json=body)


def enqueue_for(db, clock, user, template="reminder", cause="test"):
    """What the outbox writes for ``user`` (through cases.issuance.outbox, i.e. the installed resolver)."""
    with db.transaction() as s:
        u = s.get(User, user.id)
        outbox.enqueue(s, case=None, template=template, recipients=[u], cause=cause, variables={}, now=clock.now())
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.recipient_user_id == user.id,
                                                     OutboxMessage.dedupe_key.startswith(f"{cause}:")))
        return sorted(r.channel for r in rows)


# The hosts these tests configure: placeholders that do not resolve here, and a closed loopback port.
# Outbound targets are checked after DNS resolution (tests/test_outbound.py); these are allowed by name.
ALLOWED = "127.0.0.1,smtp.example.gov.cn,gw.example,smtp.example.com"


@pytest.fixture
def app_settings(allow_outbound):
    """The live server's settings, with this module's hosts allowed (ANJIAN_OUTBOUND_ALLOW)."""
    return allow_outbound(ALLOWED)


@pytest.fixture
def all_channels(db, world, clock, app_settings):
    """Every channel configured (saved by an administrator): preferences may name any of them."""
    with db.transaction() as s:
        for name, values in (("email", {"host": "smtp.example.gov.cn", "from_address": "anjian@example.gov.cn"}),
                             ("webhook", {"url": "http://127.0.0.1:9/hook"}), ("wecom", {"key": "wecomkey"}),
                             ("dingtalk", {"token": "dingtoken"})):
            channel_config.save_config(s, name, values, enabled=True, now=clock.now(), user_id=world.admin.id,
                                 settings=app_settings)


def test_resolver_is_installed():
    assert outbox.channel_resolver is preferences.resolve_channels


def test_defaults_inbox_plus_email_when_known(api, db, world, clock, all_channels):
    r = api(world.officer).get(ME)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["preferences"] == [] and body["default"] == ["inbox", "email"]
    assert body["effective"]["reminder"] == {"title": "催办提醒", "channels": ["inbox", "email"], "quiet_hours": True,
                                             "source": "default"}
    assert "rectification_notice" in body["effective"] and {c["name"] for c in body["channels"]} == set(channels.CHANNELS)
    assert api(world.officer_wz).get(ME).json()["effective"]["reminder"]["channels"] == ["inbox"]  # no e-mail
    assert enqueue_for(db, clock, world.officer) == ["email", "inbox"]
    assert enqueue_for(db, clock, world.officer_wz) == ["inbox"]


def test_user_preference_over_role_over_default(api, db, world, clock, all_channels):
    admin = api(world.admin)
    r = put(admin, "/api/admin/role-preferences/officer",
            {"preferences": [{"template": "*", "channels": ["inbox", "wecom"]},
                             {"template": "overdue_warning", "channels": ["dingtalk", "email"], "quiet_hours": False}]})
    assert r.status_code == 200, r.text
    assert [p["template"] for p in r.json()["preferences"]] == ["*", "overdue_warning"]
    officer = api(world.officer)
    eff = officer.get(ME).json()["effective"]
    assert eff["reminder"]["channels"] == ["inbox", "wecom"] and eff["reminder"]["source"] == "role"
    assert eff["overdue_warning"] == {"title": "逾期预警", "channels": ["inbox", "email", "dingtalk"],
                                      "quiet_hours": False, "source": "role"}
    # officer_wz has no e-mail: the role's e-mail is dropped for them, the inbox always kept
    assert api(world.officer_wz).get(ME).json()["effective"]["overdue_warning"]["channels"] == ["inbox", "dingtalk"]
    # the user's own preference wins over the role's, the template-specific one over "*"
    r = put(officer, ME, {"preferences": [{"template": "*", "channels": ["email"]},
                                          {"template": "reminder", "channels": ["webhook"]}]})
    assert r.status_code == 200, r.text
    eff = r.json()["effective"]
    assert eff["reminder"]["channels"] == ["inbox", "webhook"] and eff["reminder"]["source"] == "user"
    assert eff["overdue_warning"]["channels"] == ["inbox", "email"] and eff["overdue_warning"]["source"] == "user"
    assert r.json()["role_preferences"][0]["channels"] == ["inbox", "wecom"]
    # the outbox follows the same resolution
    assert enqueue_for(db, clock, world.officer, "reminder", "c1") == ["inbox", "webhook"]
    assert enqueue_for(db, clock, world.officer, "overdue_warning", "c2") == ["email", "inbox"]
    assert enqueue_for(db, clock, world.officer_wz, "reminder", "c3") == ["inbox", "wecom"]
    assert enqueue_for(db, clock, world.supervisor, "reminder", "c4") == ["email", "inbox"]  # other role: default
    # replacing with an empty list returns to the role's preferences
    assert put(officer, ME, {"preferences": []}).json()["effective"]["reminder"]["source"] == "role"
    with db.session() as s:
        assert preferences.resolve(s, s.get(User, world.officer.id), "reminder").channels == ["inbox", "wecom"]


def test_invalid_preferences_are_refused_in_chinese(api, world, all_channels):
    officer = api(world.officer)
    r = put(officer, ME, {"preferences": [{"template": "*", "channels": ["inbox", "sms"]}]})
    assert r.status_code == 422
    assert "无效的通知渠道“sms”" in r.json()["message"] and "wecom" in r.json()["message"]
    assert r.json()["errors"][0]["field"] == "preferences[0].channels"
    r = put(officer, ME, {"preferences": [{"template": "no_such", "channels": ["inbox"]}]})
    assert r.status_code == 422 and "未知的消息模板“no_such”" in r.json()["message"]
    r = put(officer, ME, {"preferences": [{"channels": []}]})
    assert r.status_code == 422 and "请至少选择一个通知渠道" in r.json()["message"]
    r = put(officer, ME, {"preferences": [{"channels": ["inbox"]}, {"template": "*", "channels": ["email"]}]})
    assert r.status_code == 422 and "重复" in r.json()["message"]
    r = put(api(world.officer_wz), ME, {"preferences": [{"channels": ["email"]}]})
    assert r.status_code == 422 and "没有登记电子邮箱" in r.json()["message"]
    r = put(officer, ME, {"preferences": [{"channels": "inbox"}]})
    assert r.status_code == 422 and "应为列表" in r.json()["message"]
    assert officer.get(ME).json()["preferences"] == []  # nothing saved


def test_role_preferences_admin_only_and_role_checked(api, world):
    body = {"preferences": [{"template": "*", "channels": ["inbox"]}]}
    r = put(api(world.supervisor), "/api/admin/role-preferences/officer", body)
    assert r.status_code == 403 and "系统管理员" in r.json()["message"]
    assert api(world.officer).get("/api/admin/role-preferences/officer").status_code == 403
    admin = api(world.admin)
    r = put(admin, "/api/admin/role-preferences/boss", body)
    assert r.status_code == 422 and "未知的角色“boss”" in r.json()["message"]
    assert admin.get("/api/admin/role-preferences/boss").status_code == 422
    r = put(admin, "/api/admin/role-preferences/enterprise",
            {"preferences": [{"template": "*", "channels": ["email", "telegram"]}]})
    assert r.status_code == 422 and "无效的通知渠道“telegram”" in r.json()["message"]
    r = admin.get("/api/admin/role-preferences/enterprise")
    assert r.status_code == 200 and r.json() | {"channels": None} == {
        "role": "enterprise", "role_label": "企业联系人", "preferences": [], "channels": None}


# ---------------------------------------------------------------- channel configuration


def test_channel_configuration_saved_validated_and_masked(api, db, world, app_settings):
    admin = api(world.admin)
    r = admin.get("/api/admin/channels")
    assert r.status_code == 200
    assert [(c["name"], c["source"]) for c in r.json()["items"]] == [
        ("email", "none"), ("webhook", "none"), ("wecom", "none"), ("dingtalk", "none")]
    # refused at save time, with a clear Chinese message naming the field
    cases = [
        ("webhook", {"url": "bogus://127.0.0.1/hook"}, "url", "Webhook地址应为以"),
        ("webhook", {}, "url", "缺少Webhook地址"),
        ("webhook", {"url": "http://127.0.0.1:9/h", "token": "x"}, "token", "不支持配置项“token”"),
        ("email", {"host": "smtp.example.com", "from_address": "not-an-address"}, "from_address", "不是合法的电子邮箱"),
        ("email", {"host": "bad host!", "from_address": "a@b.cn"}, "host", "不是合法的主机名"),
        ("email", {"host": "smtp.example.com", "port": 99999, "from_address": "a@b.cn"}, "port", "1到65535"),
        ("email", {"host": "smtp.example.com", "port": "abc", "from_address": "a@b.cn"}, "port", "应为整数"),
        ("wecom", {"key": "has space"}, "key", "只能包含字母"),
        ("wecom", {"key": "k1", "endpoint": "ftp://gw/x"}, "endpoint", "自定义接口地址应为以"),
        ("dingtalk", {"token": ""}, "token", "缺少机器人access_token"),
    ]
    for name, settings, field, text in cases:
        r = put(admin, f"/api/admin/channels/{name}", {"enabled": True, "settings": settings})
        assert r.status_code == 422, (name, settings, r.text)
        body = r.json()
        assert text in body["message"] and "渠道配置无效" in body["message"], body
        assert body["errors"][0]["field"] == f"settings.{field}", body
    with db.session() as s:
        assert s.scalars(select(ChannelConfig)).all() == []
    # saved when valid; secrets masked when read back; the mask keeps the stored secret
    r = put(admin, "/api/admin/channels/email", {"settings": {"host": "smtp.example.gov.cn", "port": 465,
                                                              "from_address": "anjian@example.gov.cn",
                                                              "user": "anjian", "password": "s3cret"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "database" and body["enabled"] is True and body["updated_by_id"] == world.admin.id
    assert body["settings"]["password"] == channel_config.SECRET_MASK and body["settings"]["port"] == 465
    r = put(admin, "/api/admin/channels/email", {"settings": {**body["settings"], "port": "587"}})
    assert r.status_code == 200, r.text
    with db.session() as s:
        row = s.get(ChannelConfig, "email")
        assert "s3cret" not in str(row.settings) and row.settings["port"] == 587  # encrypted at rest
        assert channel_config.saved_values(row, app_settings)["password"] == "s3cret"
    r = put(admin, "/api/admin/channels/dingtalk", {"settings": {"token": "t0k", "secret": "SEC123",
                                                                 "endpoint": "http://gw.example/robot/send"}})
    assert r.status_code == 200, r.text
    with db.session() as s:
        setup = channel_config.load_setup(s, app_settings)
    assert setup.settings.smtp_port == 587 and setup.settings.dingtalk_token == "SEC123@t0k"
    assert setup.endpoints == {"dingtalk": "http://gw.example/robot/send?access_token={token}"}
    assert channels.channel_url("email", setup.settings, address="x@example.com").startswith(
        "mailto://anjian:s3cret@smtp.example.gov.cn:587?")
    # disabled without settings is allowed (the channel is off)
    r = put(admin, "/api/admin/channels/webhook", {"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    with db.session() as s:
        assert "webhook" in channel_config.load_setup(s, app_settings).disabled
    # deleting returns to the environment
    r = admin.http.delete("/api/admin/channels/webhook")
    assert r.status_code == 200 and r.json()["source"] == "none"


def test_channel_configuration_admin_only_and_names_checked(api, world, app_settings):
    body = {"settings": {"url": "http://127.0.0.1:9/h"}}
    assert put(api(world.officer), "/api/admin/channels/webhook", body).status_code == 403
    assert api(world.supervisor).get("/api/admin/channels").status_code == 403
    admin = api(world.admin)
    for name in ("inbox", "sms"):
        r = put(admin, f"/api/admin/channels/{name}", body)
        assert r.status_code == 404 and "不存在或无需配置" in r.json()["message"]
    assert admin.get("/api/admin/channels/sms").status_code == 404


def test_environment_configuration_is_shown_masked(db):
    env = Settings(wecom_webhook_key="envkey", webhook_url="http://127.0.0.1:9/h")
    with db.session() as s:
        wecom = channel_config.describe(s, "wecom", env)
        webhook = channel_config.describe(s, "webhook", env)
        email = channel_config.describe(s, "email", env)
    assert wecom["source"] == "environment" and wecom["settings"] == {"key": channel_config.SECRET_MASK}
    assert webhook["settings"] == {"url": "http://127.0.0.1:9/h"}
    assert email["source"] == "none" and email["enabled"] is False


# ---------------------------------------------------------------- a channel nobody configured is not used


def _register(api, world) -> dict:
    officer = api(world.officer)
    c = officer.post("/api/cases", json={"kind": "hazard", "title": "3号楼临边防护缺失", "project_id": world.p1.id,
                                         "description": "3号楼5层临边未设置防护栏杆", "location": "3号楼5层"}).json()
    return officer.act(c, "register", enterprise_id=world.e1.id, severity="general", requirements="立即整改").json()


def test_without_smtp_a_transition_writes_no_email_and_nothing_fails(api, db, world, clock):
    """A fresh `make run`: no SMTP. The contact and the officer have addresses, yet no e-mail row is
    written, no attempt made, nothing fails."""
    from cases.models import DeliveryAttempt
    from notifications.delivery import service as delivery

    from tests.conftest import complete_project

    complete_project(db, world, clock)  # what the notice prints (the officer's phone, the parties)
    case = _register(api, world)
    with db.session() as s:
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case["id"])))
    assert rows and {m.channel for m in rows} == {"inbox"}
    assert {m.recipient_user_id for m in rows} >= {world.contact.id, world.officer.id}
    counts = delivery.deliver_pending(db, clock.now())
    assert counts == {"sent": len(rows)}, counts
    with db.session() as s:
        assert set(s.scalars(select(DeliveryAttempt.status))) == {"sent"}
    body = api(world.officer).get(ME).json()
    assert body["default"] == ["inbox"] and body["effective"]["reminder"]["channels"] == ["inbox"]
    assert {c["name"]: c["configured"] for c in body["channels"]} == {
        "inbox": True, "email": False, "webhook": False, "wecom": False, "dingtalk": False}


def test_with_smtp_configured_email_is_used(api, db, world, clock, app_settings):
    """SMTP saved by the administrator (aiosmtpd on loopback): the same transition e-mails the notice."""
    import socket

    from aiosmtpd.controller import Controller

    from notifications.delivery import service as delivery

    class Handler:
        def __init__(self):
            self.rcpts = []

        async def handle_DATA(self, server, session, envelope):
            self.rcpts.extend(envelope.rcpt_tos)
            return "250 OK"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = Handler()
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        r = put(api(world.admin), "/api/admin/channels/email",
                {"settings": {"host": "127.0.0.1", "port": port, "from_address": "anjian@test.local"}})
        assert r.status_code == 200, r.text
        case = _register(api, world)
        with db.session() as s:
            mails = list(s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case["id"],
                                                               OutboxMessage.channel == "email")))
        assert {m.recipient_address for m in mails} >= {"contact@example.com"}
        from tests.conftest import complete_project
        complete_project(db, world, clock)  # what the notice prints (the officer's phone, the parties)
        counts = delivery.deliver_pending(db, clock.now(), settings=app_settings)
        assert not counts.get("failed") and counts.get("sent"), counts
        assert "contact@example.com" in handler.rcpts
    finally:
        ctl.stop()


def test_a_preference_for_an_unconfigured_channel_is_refused_then_flagged_when_removed(api, db, world, clock,
                                                                                      app_settings):
    officer, admin = api(world.officer), api(world.admin)
    r = put(officer, ME, {"preferences": [{"template": "*", "channels": ["inbox", "email"]}]})
    assert r.status_code == 422, r.text
    assert "电子邮件渠道尚未配置" in r.json()["message"] and "ANJIAN_SMTP_HOST" in r.json()["message"]
    assert r.json()["errors"][0]["field"] == "preferences[0].channels"
    r = put(admin, "/api/admin/role-preferences/officer", {"preferences": [{"template": "*", "channels": ["wecom"]}]})
    assert r.status_code == 422 and "企业微信群机器人渠道尚未配置" in r.json()["message"]
    # Configured: the preference is accepted and followed.
    assert put(admin, "/api/admin/channels/email",
               {"settings": {"host": "smtp.example.gov.cn", "from_address": "anjian@example.gov.cn"}}).status_code == 200
    r = put(officer, ME, {"preferences": [{"template": "*", "channels": ["inbox", "email"]}]})
    assert r.status_code == 200, r.text
    assert r.json()["preferences"][0]["unavailable_channels"] == []
    assert enqueue_for(db, clock, world.officer, "reminder", "before") == ["email", "inbox"]
    # The configuration removed later: the preference is kept but flagged, and e-mail is not used.
    r = admin.http.delete("/api/admin/channels/email")
    assert r.status_code == 200 and r.json()["preferences_using"] == 1 and "暂不通过该渠道发送" in r.json()["preferences_warning"]
    [pref] = officer.get(ME).json()["preferences"]
    assert pref["unavailable_channels"] == ["email"] and "电子邮件渠道已不再配置" in pref["warning"]
    assert enqueue_for(db, clock, world.officer, "reminder", "after") == ["inbox"]


def test_unconfigured_channels_are_warned_about_once_at_start_up(db, monkeypatch, caplog):
    import logging

    monkeypatch.setattr(channel_usage, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="anjian.notifications"):
        assert channel_usage.warn_unconfigured_at_startup(db, Settings(webhook_url="http://127.0.0.1:9/h")) == [
            "email", "wecom", "dingtalk"]
        channel_usage.warn_unconfigured_at_startup(db, Settings())
    [record] = [r for r in caplog.records if r.name == "anjian.notifications"]
    assert "email (set ANJIAN_SMTP_HOST)" in record.getMessage() and "webhook" not in record.getMessage()


# ---------------------------------------------------------------- senders loaded ahead where a channel sends outside


LOAD_SENDERS = """
import json, sys
from cases.platform.config import get_settings
from cases.platform.db import get_database
from notifications.channels.usage import load_senders_if_configured
with get_database().session() as s:
    names = load_senders_if_configured(s, get_settings())
print(json.dumps({"channels": names, "apprise": "apprise" in sys.modules}))
"""


def _load_senders_in_fresh_process(db, tmp_path, **env) -> dict:
    root = Path(__file__).resolve().parents[1]
    base = {k: v for k, v in os.environ.items() if not k.startswith("ANJIAN_")}
    done = subprocess.run([sys.executable, "-c", LOAD_SENDERS], capture_output=True, text=True, cwd=root, timeout=120,
                          env={**base, "ANJIAN_DATABASE_URL": db.url, "ANJIAN_DATA_DIR": str(tmp_path),
                               "PYTHONPATH": str(root), **env})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_delivering_process_loads_its_senders_ahead_only_where_a_channel_sends_outside(db, world, clock,
                                                                                        app_settings, tmp_path):
    """The delivery lane's first step (workflows/loop.py): with a channel that sends outside
    configured, apprise and its plugins are loaded at start-up instead of on the way of the first
    message; with none (the demo: every message to the in-app inbox) nothing is loaded."""
    assert _load_senders_in_fresh_process(db, tmp_path) == {"channels": [], "apprise": False}
    assert _load_senders_in_fresh_process(db, tmp_path, ANJIAN_WEBHOOK_URL="http://127.0.0.1:9/hook") == {
        "channels": ["webhook"], "apprise": True}
    # Saved by an administrator: enabled counts, disabled does not (over the environment's setting).
    with db.transaction() as s:
        channel_config.save_config(s, "dingtalk", {"token": "dingtoken"}, enabled=True, now=clock.now(),
                                   user_id=world.admin.id, settings=app_settings)
        channel_config.save_config(s, "webhook", None, enabled=False, now=clock.now(), user_id=world.admin.id,
                                   settings=app_settings)
    with db.session() as s:
        assert channel_usage.load_senders_if_configured(s, app_settings.model_copy(
            update={"webhook_url": "http://127.0.0.1:9/hook"})) == ["dingtalk"]
