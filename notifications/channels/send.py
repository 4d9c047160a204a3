"""Sending one rendered message through one channel, with apprise.

Channels: ``email`` (SMTP, ``mailto://`` / ``mailtos://``), ``webhook`` (generic JSON, ``json://`` /
``jsons://``), ``wecom`` (企业微信群机器人, ``wecombot://``), ``dingtalk`` (钉钉群机器人,
``dingtalk://``) and ``inbox`` (the outbox row itself: nothing to send).

URLs are built from settings (``ANJIAN_SMTP_*``, ``ANJIAN_WEBHOOK_URL``, ``ANJIAN_WECOM_WEBHOOK_KEY``,
``ANJIAN_DINGTALK_TOKEN``) and checked with apprise before use: an invalid configuration is refused
with a Chinese message (:class:`ChannelConfigError`) by :func:`validate_settings` / :func:`validate_url`.

apprise's WeCom and DingTalk plugins hard-code the vendor host. ``endpoints`` lets a caller (tests,
a private gateway) point them elsewhere: ``{"wecom": "http://127.0.0.1:9/cgi-bin/webhook/send?key={key}",
"dingtalk": "http://127.0.0.1:9/robot/send?access_token={token}"}``; the vendor payload is unchanged.

Administrators can save a channel's configuration in the database (``channel_configs``, API
``/api/admin/channels/{name}``): :func:`validate_config` checks it at save time (our own checks,
then apprise) and refuses it with a Chinese message; :func:`load_setup` overlays the saved
configurations on the environment settings for delivery (a saved configuration replaces that
channel's environment settings entirely; a disabled one turns the channel off).

Outbound safety (issue 8): every host a channel connects to is checked after DNS resolution at
save time and again right before each send (notifications/channels/outbound.py; ``ANJIAN_OUTBOUND_ALLOW``
for an intranet gateway), and apprise is told not to follow redirects. Saved secrets and URLs are
encrypted at rest and masked on read, in receipts and in logs (notifications/channels/secrets.py).
"""
from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from cases.platform.config import Settings
from notifications.channels import secrets as channel_secrets
from notifications.channels import outbound

CHANNELS = ("inbox", "email", "webhook", "wecom", "dingtalk")
BOT_CHANNELS = ("wecom", "dingtalk")  # subject to quiet hours
CHANNEL_NAMES = {"inbox": "站内信", "email": "电子邮件", "webhook": "Webhook", "wecom": "企业微信群机器人",
                 "dingtalk": "钉钉群机器人"}


class ChannelConfigError(ValueError):
    """A channel is not configured, or configured with a URL apprise refuses."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class SendResult:
    ok: bool
    response: str  # what the provider said (apprise's log of the exchange, secrets masked), kept as the receipt
    final: bool = False  # True: retrying cannot help (the target address is forbidden)


def validate_url(channel: str, url: str) -> str:
    import apprise  # here, not at the top: the derive process imports this module and never sends

    name = CHANNEL_NAMES.get(channel, channel)
    if not url:
        raise ChannelConfigError(f"{name}渠道未配置地址")
    if not apprise.Apprise().add(url):
        raise ChannelConfigError(f"{name}渠道配置无效：无法识别的通知地址“{_redact(url)}”，请检查协议、主机和密钥")
    return url


def _redact(url: str) -> str:
    head, sep, rest = url.partition("://")
    return f"{head}{sep}…" if sep and len(rest) > 4 else url


def webhook_url(settings: Settings, dedupe_key: str | None = None) -> str:
    url = settings.webhook_url.strip()
    if url.startswith("http://"):
        url = "json://" + url[len("http://"):]
    elif url.startswith("https://"):
        url = "jsons://" + url[len("https://"):]
    if dedupe_key and url:
        # Receivers can drop a second copy sent after a worker crash (see docs/notifications.md).
        url += ("&" if "?" in url else "?") + urlencode({"+X-Anjian-Dedupe-Key": dedupe_key})
    return url


def email_url(settings: Settings, to: str) -> str:
    if not settings.smtp_host:
        return ""
    ssl = settings.smtp_port == 465
    auth = ""
    if settings.smtp_user:
        auth = f"{quote(settings.smtp_user, safe='')}:{quote(settings.smtp_password, safe='')}@"
    params = {"from": settings.smtp_from, "to": to, "smtp": settings.smtp_host,
              "mode": "ssl" if ssl else ("starttls" if settings.smtp_user else "insecure")}
    return f"{'mailtos' if ssl else 'mailto'}://{auth}{settings.smtp_host}:{settings.smtp_port}?{urlencode(params)}"


def channel_url(channel: str, settings: Settings, *, address: str | None = None,
                dedupe_key: str | None = None) -> str:
    if channel == "email":
        if not address:
            raise ChannelConfigError("收件人没有电子邮箱地址")
        return email_url(settings, address)
    if channel == "webhook":
        return webhook_url(settings, dedupe_key)
    if channel == "wecom":
        return f"wecombot://{settings.wecom_webhook_key}" if settings.wecom_webhook_key else ""
    if channel == "dingtalk":
        return f"dingtalk://{settings.dingtalk_token}" if settings.dingtalk_token else ""
    raise ChannelConfigError(f"未知的通知渠道“{channel}”")


def validate_settings(settings: Settings) -> list[str]:
    """Check every configured channel; returns the configured channel names, raises on a bad one."""
    configured = ["inbox"]
    if settings.smtp_host:
        validate_url("email", email_url(settings, "check@example.com"))
        configured.append("email")
    for channel, value in (("webhook", settings.webhook_url), ("wecom", settings.wecom_webhook_key),
                           ("dingtalk", settings.dingtalk_token)):
        if value:
            validate_url(channel, channel_url(channel, settings))
            configured.append(channel)
    return configured


def load_senders() -> None:
    """Import apprise and load its plugins now (~0.4 s of CPU, ~15 MiB): otherwise the first message
    a process sends waits for them (after a restart, the first transition's webhook took 1.8 s
    instead of 0.1–0.4 s: docs/performance.md, "Issue 9, session 27")."""
    import apprise

    apprise.Apprise.instantiate("json://localhost/", asset=apprise.AppriseAsset(async_mode=False))


def _plugin(channel: str, url: str, endpoints: dict[str, str] | None):
    import apprise

    # async_mode off: the plugin runs in the calling thread, under outbound.guard (a context variable)
    plugin = apprise.Apprise.instantiate(url, asset=apprise.AppriseAsset(async_mode=False))
    if not plugin:
        validate_url(channel, url)  # raises with the Chinese message
        raise ChannelConfigError(f"{CHANNEL_NAMES.get(channel, channel)}渠道配置无效")
    override = (endpoints or {}).get(channel)
    if override and channel == "wecom":
        plugin.api_url = override.format(key=plugin.key)
    elif override and channel == "dingtalk":
        plugin.notify_url = override
    plugin.redirects = False  # a 3xx is a failure: never follow a redirect to an address not checked
    return plugin


def send(channel: str, url: str, *, subject: str, short_text: str, html: str,
         attachments: dict[str, bytes] | None = None, endpoints: dict[str, str] | None = None,
         policy: outbound.Policy | None = None) -> SendResult:
    """Send through apprise; never raises for a provider failure (returns ok=False with the log).

    Every target host is checked first (``policy``, default: the environment's allow-list): a
    forbidden or unresolvable address is refused before anything is sent (``final`` when forbidden).
    """
    plugin = _plugin(channel, url, endpoints)
    policy = policy or outbound.policy_for()
    channel_secrets.install_log_filter()
    known = channel_secrets.url_secrets(url, plugin)
    try:
        policy.check_all(outbound.plugin_targets(channel, plugin))
    except outbound.OutboundRefused as exc:
        return _refused(channel, exc, known)
    # The connection itself is pinned to checked addresses too (a second DNS answer is checked again).
    with channel_secrets.sending_secrets(known), outbound.guard(policy) as guard:
        result = _notify(plugin, channel, subject=subject, short_text=short_text, html=html, attachments=attachments)
    if guard.refused:
        return _refused(channel, guard.refused[0], known)
    return result


def _refused(channel: str, exc: outbound.OutboundRefused, known: list[str]) -> SendResult:
    logging.getLogger("anjian.notifications").warning("outbound %s refused: %s (%s)", channel, exc.reason,
                                                      channel_secrets.redact(exc.detail, known))
    return SendResult(ok=False, response=exc.reason, final=not exc.transient)


def _notify(plugin, channel: str, *, subject: str, short_text: str, html: str,
            attachments: dict[str, bytes] | None) -> SendResult:
    import apprise

    ap = apprise.Apprise()
    ap.add(plugin)
    tmpdir = None
    attach = None
    if attachments:
        tmpdir = tempfile.mkdtemp(prefix="anjian-attach-")
        attach = apprise.AppriseAttachment()
        for name, data in attachments.items():
            path = os.path.join(tmpdir, name)
            with open(path, "wb") as fh:
                fh.write(data)
            attach.add(path)
    if channel == "email":
        body, fmt = html, apprise.NotifyFormat.HTML
    else:
        body, fmt = short_text, apprise.NotifyFormat.TEXT
    try:
        with apprise.LogCapture(level=logging.INFO) as log:
            try:
                ok = bool(ap.notify(body=body, title=subject, body_format=fmt, attach=attach))
            except Exception as exc:  # a plugin bug must not kill the worker
                ok = False
                logging.getLogger("apprise").error("exception: %s", exc)
            response = channel_secrets.redact(log.getvalue().strip())
    finally:
        if tmpdir:
            for name in os.listdir(tmpdir):
                os.unlink(os.path.join(tmpdir, name))
            os.rmdir(tmpdir)
    return SendResult(ok=ok, response=response[-4000:] or ("accepted" if ok else "failed without details"))


