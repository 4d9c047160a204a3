"""Outbound notifications cannot be turned against the network, and channel secrets stay secret
(issue 8, item 4) — on both databases, over real HTTP, with real loopback listeners.

* SSRF: channel targets are checked after DNS resolution when an administrator saves a channel
  (422, Chinese message naming the field) and again before every send; the loopback listeners
  here prove that nothing arrives unless the target is allowed (ANJIAN_OUTBOUND_ALLOW).
* DNS rebinding: a name that resolved to a public address when saved and to loopback when used is
  refused at send time. The answers come from a resolver injected into the checker
  (``outbound.set_resolver``, a seam — the check itself is the real one); no external resolver is
  asked and /etc/hosts is not touched. No traffic goes to any non-loopback address: a public
  answer is only ever *checked*, never connected to.
* Secrets: masked on read (API), encrypted at rest (the raw row), a wrong key reported clearly.
* Receipts: non-administrators see 已发送 / 发送失败 / 待发送 and a time, nothing of the transport.
"""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import delete, select, text

from cases.platform.config import Settings
from cases.models import ChannelConfig, DeliveryAttempt, OutboxMessage
from notifications.channels import config as channel_config
from notifications.channels import secrets as channel_secrets
from notifications.channels import usage as channel_usage
from notifications.channels import send as channels
from notifications.delivery import service as delivery
from notifications.channels import outbound

KEY = "outbound-test-channel-key-0123456789abcdef"
REMINDER = {"task": "完成隐患整改", "days_left": 2, "light": "yellow", "deadline_at": "2026-11-30T16:00:00+00:00",
            "due_date": "2026-11-30", "deadline_provisional": False}
# Spellings of loopback, link-local, private and metadata addresses an attacker would try.
FORBIDDEN_URLS = [
    "http://127.0.0.1:{port}/hook", "http://localhost:{port}/hook", "http://0x7f000001:{port}/hook",
    "http://2130706433:{port}/hook", "http://0177.0.0.1:{port}/hook", "http://127.1:{port}/hook",
    "http://[::1]:{port}/hook", "http://[::ffff:127.0.0.1]:{port}/hook", "http://[0:0:0:0:0:ffff:7f00:1]:{port}/x",
    "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/", "http://10.0.0.1/hook", "http://172.16.5.4/hook",
    "http://192.168.1.1/hook", "http://100.64.0.1/hook", "http://0.0.0.0:{port}/hook", "http://[::]:{port}/hook",
    "http://224.0.0.1/hook", "http://[fe80::1%25lo]:{port}/hook", "http://[fc00::1]/hook", "http://240.0.0.1/h",
    "json://127.0.0.1:{port}/hook", "jsons://[::1]:{port}/hook",
]


class Listener:
    """A loopback HTTP server recording every request; answers 200, or a redirect to ``redirect_to``."""

    def __init__(self, redirect_to: str | None = None) -> None:
        self.requests: list[dict] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                listener.requests.append({"path": self.path, "body": body})
                if redirect_to:
                    self.send_response(302)
                    self.send_header("Location", redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_POST = do_GET = _any

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    ln = Listener()
    yield ln
    ln.stop()


@pytest.fixture
def smtp_listener():
    class Handler:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = Handler()
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    yield port, handler
    ctl.stop()


@pytest.fixture
def resolver():
    """Fake DNS answers for names under ``.rebind.test`` (the seam in notifications/channels/outbound.py);
    every other name goes to the system resolver as usual."""
    answers: dict[str, list[str]] = {}

    def resolve(host: str, port: int) -> list[str]:
        if host.endswith(".rebind.test"):
            if host not in answers:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return list(answers[host])
        return outbound.system_resolver(host, port)

    previous = outbound.set_resolver(resolve)
    yield answers
    outbound.set_resolver(previous)


@pytest.fixture
def case(api, world, db, clock):
    officer = api(world.officer)
    c = officer.post("/api/cases", json={"kind": "hazard", "title": "3号楼临边防护缺失", "project_id": world.p1.id,
                                         "description": "3号楼5层临边未设置防护栏杆", "location": "3号楼5层"}).json()
    c = officer.act(c, "register", enterprise_id=world.e1.id, severity="general", requirements="立即整改").json()
    with db.transaction() as s:
        s.execute(delete(OutboxMessage))
    return c


def _row(db, clock, case_id, user, channel="webhook", template="reminder", variables=REMINDER) -> int:
    with db.transaction() as s:
        m = OutboxMessage(dedupe_key=f"t:{template}:{user.id}:{channel}", case_id=case_id, template=template,
                          recipient_user_id=user.id, recipient_address=user.email if channel == "email" else None,
                          channel=channel, variables=variables, urgent=False, status="pending", attempts=0,
                          next_attempt_at=clock.now(), created_at=clock.now())
        s.add(m)
        s.flush()
        return m.id


def _msg(db, mid) -> OutboxMessage:
    with db.session() as s:
        return s.get(OutboxMessage, mid)


def _attempts(db, mid) -> list[DeliveryAttempt]:
    with db.session() as s:
        return list(s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.message_id == mid)
                              .order_by(DeliveryAttempt.id)))


def _put(client, name, settings, enabled=True):
    return client.http.put(f"/api/admin/channels/{name}", json={"enabled": enabled, "settings": settings})


# ---------------------------------------------------------------- the address check itself


@pytest.mark.parametrize("host", ["127.0.0.1", "0x7f000001", "2130706433", "0177.0.0.1", "127.1", "localhost", "::1",
                                  "::ffff:127.0.0.1", "::127.0.0.1", "2002:7f00:1::1", "64:ff9b::7f00:1",
                                  "169.254.169.254", "fd00:ec2::254", "100.100.100.200", "10.1.2.3", "172.31.0.1",
                                  "192.168.0.1", "100.64.0.1", "0.0.0.0", "::", "224.0.0.1", "ff02::1",
                                  "fe80::1%lo", "fc00::1", "198.18.0.1", "192.0.2.1", "255.255.255.255"])
def test_forbidden_addresses_in_every_spelling(host):
    with pytest.raises(outbound.OutboundRefused) as err:
        outbound.Policy().check(host, 80)
    assert not err.value.transient and "不允许发送" in err.value.reason
    assert host.split("%")[0] not in err.value.reason  # the reason names no address


def test_public_addresses_pass_and_the_allow_list_is_explicit():
    # Literal addresses: "resolving" them asks nobody and nothing is connected to.
    assert outbound.Policy().check("8.8.8.8", 443) and outbound.Policy().check("2001:4860:4860::8888", 443)
    allow = outbound.parse_allow("10.20.0.0/16, 127.0.0.1:2525, [::1]:8080, gw.gov.internal:8443")
    def resolve(host, port):  # addresses are themselves; the gateway's name points at an internal address
        return ["10.99.0.1"] if host.endswith(".internal") else outbound.system_resolver(host, port)

    policy = outbound.Policy(allow=allow, resolver=resolve)
    assert policy.check("10.20.3.4", 80)
    assert policy.check("127.0.0.1", 2525) and policy.check("::ffff:127.0.0.1", 2525)
    assert policy.check("::1", 8080) and policy.check("GW.gov.internal.", 8443) == []
    for host, port in (("127.0.0.1", 25), ("::1", 80), ("gw.gov.internal", 80), ("10.21.0.1", 80)):
        with pytest.raises(outbound.OutboundRefused):
            policy.check(host, port)
    for bad in ("10.0.0.0/33", "host:port", "[::1]x", "bad host!"):
        with pytest.raises(ValueError, match="ANJIAN_OUTBOUND_ALLOW"):
            outbound.parse_allow(bad)


def test_an_unresolvable_name_is_refused_as_transient(resolver):
    with pytest.raises(outbound.OutboundRefused) as err:
        outbound.Policy.from_settings(Settings()).check("nowhere.rebind.test", 80)
    assert err.value.transient and err.value.reason == "目标主机名无法解析"


# ---------------------------------------------------------------- refused when saved


def test_ssrf_targets_are_refused_when_a_channel_is_saved(api, db, world, listener):
    admin = api(world.admin)
    for template in FORBIDDEN_URLS:
        url = template.format(port=listener.port)
        r = _put(admin, "webhook", {"url": url})
        assert r.status_code == 422, (url, r.text)
        body = r.json()
        assert body["errors"][0]["field"] == "settings.url" and "Webhook渠道配置无效" in body["message"], body
        # refused by the address check, or before it by apprise (which cannot parse e.g. 0177.0.0.1)
        assert "Webhook地址——目标地址" in body["message"] or "无法识别的通知地址" in body["message"], body
    for name, settings, field in (
            ("email", {"host": "127.0.0.1", "port": listener.port, "from_address": "a@b.cn"}, "host"),
            ("email", {"host": "0x7f000001", "from_address": "a@b.cn"}, "host"),
            ("email", {"host": "[::1]", "from_address": "a@b.cn"}, "host"),
            ("email", {"host": "169.254.169.254", "from_address": "a@b.cn"}, "host"),
            ("wecom", {"key": "k1", "endpoint": f"http://127.0.0.1:{listener.port}/send?key={{key}}"}, "endpoint"),
            ("dingtalk", {"token": "t1", "endpoint": f"http://[::1]:{listener.port}/robot/send"}, "endpoint")):
        r = _put(admin, name, settings)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == f"settings.{field}", (settings, r.text)
        assert "不允许发送" in r.json()["message"]
    with db.session() as s:
        assert s.scalars(select(ChannelConfig)).all() == []
    assert listener.requests == []


def test_dns_rebinding_is_refused_at_send_time(api, db, world, clock, case, listener, resolver, live_server):
    """Saved while the name resolved to a public address; used after it changed to loopback."""
    resolver["hooks.rebind.test"] = ["93.184.216.34"]  # checked only: nothing is sent at save time
    r = _put(api(world.admin), "webhook", {"url": f"http://hooks.rebind.test:{listener.port}/hook"})
    assert r.status_code == 200, r.text
    resolver["hooks.rebind.test"] = ["93.184.216.34", "127.0.0.1"]  # one bad answer is enough
    mid = _row(db, clock, case["id"], world.officer)
    settings = live_server.server.config.app.state.settings
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {"failed": 1}
    m = _msg(db, mid)
    assert m.status == "failed" and m.attempts == 1  # final: retrying cannot make it allowed
    [attempt] = _attempts(db, mid)
    assert attempt.status == "failed" and "不允许发送" in attempt.error and "127.0.0.1" not in attempt.error
    assert listener.requests == []


def test_a_second_dns_answer_at_connection_time_is_checked_too(db, world, clock, case, listener, smtp_listener):
    """TTL-0 rebinding: the check before the send sees a public address, the library's own lookup
    a moment later gets loopback. The connection is pinned to checked addresses, so the second
    answer is checked as well and nothing arrives (without the pin, both listeners would get it)."""
    port, smtp = smtp_listener
    calls: list[str] = []

    def flip(host: str, port_: int) -> list[str]:  # first answer public, then the real one (loopback)
        calls.append(host)
        return ["93.184.216.34"] if len(calls) % 2 == 1 else outbound.system_resolver(host, port_)

    previous = outbound.set_resolver(flip)
    try:
        env = Settings(channel_key=KEY, webhook_url=f"json://localhost:{listener.port}/hook", smtp_host="localhost",
                       smtp_port=port, smtp_from="anjian@test.local")
        hook = _row(db, clock, case["id"], world.officer, "webhook")
        mail = _row(db, clock, case["id"], world.contact, "email")
        assert delivery.deliver_pending(db, clock.now(), settings=env) == {"failed": 2}
    finally:
        outbound.set_resolver(previous)
    assert len(calls) == 4  # two lookups per message: the check, then the connection
    for mid in (hook, mail):
        m = _msg(db, mid)
        assert m.status == "failed" and "不允许发送" in m.last_error, m.last_error
    assert listener.requests == [] and smtp.messages == []


# ---------------------------------------------------------------- refused at send time


def test_nothing_reaches_a_loopback_listener_that_is_not_allowed(db, world, clock, case, listener, smtp_listener):
    port, smtp = smtp_listener
    env = Settings(channel_key=KEY, webhook_url=f"json://127.0.0.1:{listener.port}/hook", smtp_host="127.0.0.1",
                   smtp_port=port, wecom_webhook_key="k1", dingtalk_token="t1")
    hook = _row(db, clock, case["id"], world.officer, "webhook")
    mail = _row(db, clock, case["id"], world.contact, "email")
    bots = {"wecom": f"http://127.0.0.1:{listener.port}/send?key={{key}}",
            "dingtalk": f"http://[::1]:{listener.port}/robot/send?access_token={{token}}"}
    urgent = [_row(db, clock, case["id"], world.officer, ch) for ch in bots]
    counts = delivery.deliver_pending(db, clock.now(), settings=env, endpoints=bots)
    assert counts == {"failed": 4}, counts
    for mid in (hook, mail, *urgent):
        m = _msg(db, mid)
        assert m.status == "failed" and "不允许发送" in m.last_error, m.last_error
    assert listener.requests == [] and smtp.messages == []
    # The command-line test refuses the same way.
    result = delivery.send_test("webhook", now=clock.now(), db=db, settings=env)
    assert not result.ok and "不允许发送" in result.response and listener.requests == []


def test_an_allowed_gateway_gets_the_messages_and_nothing_else_does(db, world, clock, case, listener,
                                                                    smtp_listener):
    other = Listener()
    port, smtp = smtp_listener
    try:
        env = Settings(channel_key=KEY, webhook_url=f"json://localhost:{listener.port}/hook", smtp_host="127.0.0.1",
                       smtp_port=port, smtp_from="anjian@test.local", wecom_webhook_key="k1",
                       outbound_allow=f"localhost:{listener.port}, 127.0.0.1:{port}")
        hook = _row(db, clock, case["id"], world.officer, "webhook")
        mail = _row(db, clock, case["id"], world.contact, "email")
        bot = _row(db, clock, case["id"], world.officer, "wecom")  # another port on loopback: not allowed
        counts = delivery.deliver_pending(db, clock.now(), settings=env,
                                          endpoints={"wecom": f"http://127.0.0.1:{other.port}/send?key={{key}}"})
        assert counts == {"sent": 2, "failed": 1}, counts
        assert _msg(db, hook).status == "sent" and _msg(db, mail).status == "sent" and _msg(db, bot).status == "failed"
        assert [r["path"] for r in listener.requests] == ["/hook"] and len(smtp.messages) == 1
        assert other.requests == []
    finally:
        other.stop()


def test_redirects_are_not_followed(db, world, clock, case, listener):
    hop = Listener(redirect_to=f"http://127.0.0.1:{listener.port}/metadata")
    try:
        env = Settings(channel_key=KEY, webhook_url=f"json://127.0.0.1:{hop.port}/hook",
                       outbound_allow=f"127.0.0.1:{hop.port}")
        mid = _row(db, clock, case["id"], world.officer)
        assert delivery.deliver_pending(db, clock.now(), settings=env) == {"retry": 1}
        assert len(hop.requests) == 1 and listener.requests == []
        assert "302" in _msg(db, mid).last_error
    finally:
        hop.stop()


# ---------------------------------------------------------------- secrets


def test_secrets_are_masked_when_read_and_kept_when_sent_back(api, db, world, allow_outbound, listener):
    settings = allow_outbound("127.0.0.1")
    admin = api(world.admin)
    url = f"http://hookuser:pa55-w0rd@127.0.0.1:{listener.port}/hook?token=t0p-s3cret&team=safety"
    r = _put(admin, "webhook", {"url": url})
    assert r.status_code == 200, r.text
    shown = r.json()["settings"]["url"]
    assert shown == f"http://hookuser:****@127.0.0.1:{listener.port}/hook?token=****&team=safety"
    r = _put(admin, "email", {"host": "127.0.0.1", "port": 2525, "from_address": "a@b.cn", "user": "mailer",
                              "password": "smtp-pa55"})
    assert r.status_code == 200, r.text
    r = _put(admin, "dingtalk", {"token": "dingt0kenABC", "secret": "SECs1gnXYZ"})
    assert r.status_code == 200, r.text
    for path in ("/api/admin/channels", "/api/admin/channels/webhook", "/api/admin/channels/email",
                 "/api/admin/channels/dingtalk"):
        body = admin.get(path).text
        for secret in ("pa55-w0rd", "t0p-s3cret", "smtp-pa55", "dingt0kenABC", "SECs1gnXYZ"):
            assert secret not in body, (path, secret)
    # What GET showed, sent back unchanged, keeps the stored secrets; a half-masked URL is refused.
    shown_webhook = admin.get("/api/admin/channels/webhook").json()["settings"]
    assert _put(admin, "webhook", shown_webhook).status_code == 200
    r = _put(admin, "webhook", {"url": shown_webhook["url"].replace("team=safety", "team=other")})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "settings.url"
    with db.session() as s:
        assert channel_config.saved_values(s.get(ChannelConfig, "webhook"), settings)["url"] == url
    # Environment configuration is masked the same way.
    assert admin.http.delete("/api/admin/channels/webhook").status_code == 200
    env = Settings(webhook_url="https://u:envpass@hooks.example.com/x?access_token=envtok", dingtalk_token="dtok")
    with db.session() as s:
        text_ = json.dumps(channel_config.describe(s, "webhook", env), default=str)
        assert "envpass" not in text_ and "envtok" not in text_ and "hooks.example.com" in text_


def test_secrets_are_encrypted_at_rest_and_a_wrong_key_is_reported(api, db, world, clock, case, allow_outbound,
                                                                    listener, live_server):
    settings = allow_outbound("127.0.0.1")
    admin = api(world.admin)
    url = f"http://127.0.0.1:{listener.port}/hook?-token=r4w-t0ken"  # apprise: "-name" is a query parameter of the POST
    assert _put(admin, "webhook", {"url": url}).status_code == 200
    assert _put(admin, "email", {"host": "127.0.0.1", "from_address": "a@b.cn", "user": "u",
                                 "password": "r4w-pa55"}).status_code == 200
    with db.session() as s:
        raw = " ".join(str(v) for v in s.execute(text("SELECT settings FROM channel_configs")).scalars())
    assert "r4w-t0ken" not in raw and "r4w-pa55" not in raw and channel_secrets.PREFIX in raw
    # It is delivered with the right key.
    mid = _row(db, clock, case["id"], world.officer)
    assert delivery.deliver_pending(db, clock.now(), settings=settings) == {"sent": 1}
    assert listener.requests[0]["path"] == "/hook?token=r4w-t0ken"  # decrypted and used
    # Another key: the channels say their secrets cannot be decrypted; nothing else breaks.
    state = live_server.server.config.app.state  # restored by allow_outbound
    state.settings = wrong = Settings(**{**settings.model_dump(), "channel_key": "a-completely-different-key-0123456"})
    r = admin.get("/api/admin/channels/webhook")
    assert r.status_code == 200 and "无法解密" in r.json()["error"] and "ANJIAN_CHANNEL_KEY" in r.json()["error"]
    assert "r4w" not in r.text
    assert admin.get("/api/admin/channels").status_code == 200
    assert api(world.officer).get(f"/api/cases/{case['id']}").status_code == 200
    r = _put(admin, "email", {"host": "127.0.0.1", "from_address": "a@b.cn", "user": "u",
                              "password": channel_config.SECRET_MASK})
    assert r.status_code == 422 and "请重新填写SMTP密码" in r.json()["message"]
    listener.requests.clear()
    with db.transaction() as s:
        s.execute(delete(OutboxMessage))
    mid = _row(db, clock, case["id"], world.officer)
    assert delivery.deliver_pending(db, clock.now(), settings=wrong) == {"retry": 1}
    assert "无法解密" in _msg(db, mid).last_error and listener.requests == []


def test_plaintext_rows_keep_working_and_are_encrypted_at_start_up(db, clock):
    settings = Settings(channel_key=KEY, outbound_allow="127.0.0.1")
    with db.transaction() as s:  # as saved before encryption existed
        s.add(ChannelConfig(name="wecom", enabled=True, settings={"key": "legacy-key-1"}, updated_at=clock.now()))
    with db.session() as s:
        assert channel_config.load_setup(s, settings).settings.wecom_webhook_key == "legacy-key-1"
    channel_usage.warn_unconfigured_at_startup(db, settings)
    assert channel_usage.encrypt_legacy(db, settings) == []  # done once: nothing left in plaintext
    with db.session() as s:
        row = s.get(ChannelConfig, "wecom")
        assert "legacy-key-1" not in json.dumps(row.settings) and channel_secrets.is_encrypted(row.settings["key"])
        assert channel_config.load_setup(s, settings).settings.wecom_webhook_key == "legacy-key-1"


def test_production_without_a_channel_key_refuses_to_save_secrets(db, clock, tmp_path):
    prod = Settings(env="production", data_dir=tmp_path, outbound_allow="127.0.0.1")
    with db.transaction() as s, pytest.raises(channels.ChannelConfigError, match="ANJIAN_CHANNEL_KEY"):
        channel_config.save_config(s, "wecom", {"key": "k1"}, enabled=True, now=clock.now(), user_id=None, settings=prod)
    assert not (tmp_path / channel_secrets.KEY_FILE_NAME).exists()
    dev = Settings(data_dir=tmp_path)
    with db.transaction() as s:
        channel_config.save_config(s, "wecom", {"key": "k1"}, enabled=True, now=clock.now(), user_id=None, settings=dev)
    key_file = tmp_path / channel_secrets.KEY_FILE_NAME
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_redaction_of_logs_and_texts(caplog):
    import logging

    channel_secrets.install_log_filter()
    with caplog.at_level(logging.INFO, logger="apprise"):
        with channel_secrets.sending_secrets(["Exact-S3cret"]):
            logging.getLogger("apprise").warning("POST http://u:pw123@h/x?access_token=abc123&a=1 said Exact-S3cret")
    [record] = caplog.records
    message = record.getMessage()
    assert "pw123" not in message and "abc123" not in message and "Exact-S3cret" not in message
    assert "a=1" in message and "http://u:****@h/x" in message


# ---------------------------------------------------------------- receipts


def test_receipts_for_non_admins_carry_no_transport_detail(api, db, world, clock, case, listener):
    env = Settings(channel_key=KEY, webhook_url=f"json://127.0.0.1:{listener.port}/hook")  # not allowed: refused
    mine = _row(db, clock, case["id"], world.contact)
    theirs = _row(db, clock, case["id"], world.officer)
    assert delivery.deliver_pending(db, clock.now(), settings=env) == {"failed": 2}
    for user, ids in ((world.contact, {mine}), (world.officer, {mine, theirs})):
        r = api(user).get(f"/api/cases/{case['id']}/messages")
        assert r.status_code == 200
        items = [i for i in r.json()["items"] if i["id"] in ids]
        assert {i["id"] for i in items} == ids
        for item in items:
            assert item["status"] == "failed" and item["status_label"] == "发送失败"
            assert not {"last_error", "provider_response", "dedupe_key", "next_attempt_at"} & set(item)
            [receipt] = item["receipts"]
            assert set(receipt) == {"attempt", "status", "status_label", "at"} and receipt["status_label"] == "发送失败"
        assert "不允许" not in r.text and "127.0.0.1" not in r.text and "内网" not in r.text
    r = api(world.admin).get(f"/api/cases/{case['id']}/messages")
    [item] = [i for i in r.json()["items"] if i["id"] == mine]
    assert "不允许发送" in item["last_error"] and item["receipts"][0]["error"]
