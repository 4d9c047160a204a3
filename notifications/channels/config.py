"""Saved channel configuration: the fields each channel takes, their validation, secrets masked and
encrypted, the environment's values as the fallback (the admin API and the delivery's setup)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.platform.config import Settings
from cases.models import ChannelConfig
from notifications.channels import secrets as channel_secrets
from notifications.channels import outbound
from notifications.channels.send import CHANNEL_NAMES, ChannelConfigError, _plugin, channel_url, validate_url


# ---------------------------------------------------------------- saved channel configuration

CONFIGURABLE = ("email", "webhook", "wecom", "dingtalk")
SECRET_MASK = "******"  # what GET shows for a secret; sending it back keeps the stored value
_CONFIGURED_KEY = "anjian.configured_channels"  # session.info: the channels in use, cached per transaction


@dataclass(frozen=True)
class ConfigField:
    name: str
    label: str
    kind: str = "str"  # str / int
    required: bool = False
    secret: bool = False


CONFIG_FIELDS: dict[str, tuple[ConfigField, ...]] = {
    "email": (ConfigField("host", "SMTP服务器", required=True), ConfigField("port", "SMTP端口", kind="int"),
              ConfigField("from_address", "发件人地址", required=True), ConfigField("user", "SMTP用户名"),
              ConfigField("password", "SMTP密码", secret=True)),
    "webhook": (ConfigField("url", "Webhook地址", required=True),),
    "wecom": (ConfigField("key", "机器人Key", required=True, secret=True),
              ConfigField("endpoint", "自定义接口地址")),
    "dingtalk": (ConfigField("token", "机器人access_token", required=True, secret=True),
                 ConfigField("secret", "加签密钥", secret=True), ConfigField("endpoint", "自定义接口地址")),
}

# Environment settings behind each field (what applies while nothing is saved).
_ENV_FIELDS = {
    "email": {"host": "smtp_host", "port": "smtp_port", "from_address": "smtp_from", "user": "smtp_user",
              "password": "smtp_password"},
    "webhook": {"url": "webhook_url"},
    "wecom": {"key": "wecom_webhook_key"},
    "dingtalk": {"token": "dingtalk_token"},
}

_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
                   r"|^\[[0-9A-Fa-f:.]+\]$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$|^[^@\s<>]+@localhost$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


def _label(channel: str) -> str:
    return CHANNEL_NAMES.get(channel, channel)


def _http_url(channel: str, key: str, label: str, value: str, schemes=("http", "https")) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ChannelConfigError(f"{_label(channel)}渠道配置无效：{label}应为以 {' 或 '.join(s + '://' for s in schemes)} "
                                 f"开头、带主机名的地址", key)
    return value


# Fields that hold a URL (may carry credentials): encrypted at rest like secrets, shown with mask_url.
URL_FIELDS = {"url", "endpoint"}


def _encrypted_fields(channel: str) -> set[str]:
    return {f.name for f in CONFIG_FIELDS[channel] if f.secret or f.name in URL_FIELDS}


def validate_config(channel: str, values: dict[str, Any] | None, *, enabled: bool = True,
                    previous: dict[str, Any] | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Check a channel configuration an administrator wants to save; returns it normalised.

    Our own checks first (fields, types, host names, addresses), then apprise must accept the
    URL built from it, then every host it names must resolve to an allowed address
    (:mod:`notifications.channels.outbound`, the allow-list of ``settings``). Raises
    :class:`ChannelConfigError` with a Chinese message naming the field. A secret sent back as
    ``SECRET_MASK`` (a URL sent back as shown, masked) keeps the ``previous`` value. A disabled
    channel may be saved without settings; whatever it has is still checked.
    """
    if channel not in CONFIGURABLE:
        raise ChannelConfigError(f"未知的通知渠道“{channel}”，可配置的渠道：{'、'.join(CONFIGURABLE)}", "name")
    values = dict(values or {})
    fields = {f.name: f for f in CONFIG_FIELDS[channel]}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ChannelConfigError(f"{_label(channel)}渠道配置无效：不支持配置项“{'、'.join(unknown)}”，"
                                 f"可用的配置项：{'、'.join(fields)}", unknown[0])
    out: dict[str, Any] = {}
    for name, f in fields.items():
        value = values.get(name)
        if f.secret and value == SECRET_MASK:
            value = (previous or {}).get(name)
            if not value:
                raise ChannelConfigError(f"{_label(channel)}渠道配置无效：请重新填写{f.label}", name)
        old = (previous or {}).get(name)
        if name in URL_FIELDS and isinstance(value, str) and isinstance(old, str) and value != old \
                and value.strip() == channel_secrets.mask_url(old):
            value = old  # the masked URL GET showed, sent back unchanged
        if name in URL_FIELDS and isinstance(value, str) and channel_secrets.MASK in value:
            raise ChannelConfigError(f"{_label(channel)}渠道配置无效：{f.label}中含有被隐藏的内容（{channel_secrets.MASK}），"
                                     "请填写完整地址", name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if f.kind == "int":
            if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
                raise ChannelConfigError(f"{_label(channel)}渠道配置无效：{f.label}应为整数", name)
            value = int(value)
        elif not isinstance(value, str):
            raise ChannelConfigError(f"{_label(channel)}渠道配置无效：{f.label}应为文本", name)
        else:
            value = value.strip()
        out[name] = value
    if not enabled and not out:
        return out
    for f in fields.values():
        if f.required and f.name not in out:
            raise ChannelConfigError(f"{_label(channel)}渠道配置无效：缺少{f.label}（{f.name}）", f.name)
    if channel == "email":
        if not _HOST.match(out["host"]):
            raise ChannelConfigError(f"电子邮件渠道配置无效：SMTP服务器“{out['host']}”不是合法的主机名或IP地址", "host")
        if not 1 <= out.get("port", 25) <= 65535:
            raise ChannelConfigError("电子邮件渠道配置无效：SMTP端口应在1到65535之间", "port")
        if not _EMAIL.match(out["from_address"]):
            raise ChannelConfigError(f"电子邮件渠道配置无效：发件人地址“{out['from_address']}”不是合法的电子邮箱", "from_address")
        if out.get("password") and not out.get("user"):
            raise ChannelConfigError("电子邮件渠道配置无效：填写了SMTP密码但没有用户名", "user")
    elif channel == "webhook":
        _http_url(channel, "url", "Webhook地址", out["url"], ("http", "https", "json", "jsons"))
    else:
        key = "key" if channel == "wecom" else "token"
        if not _TOKEN.match(out[key]):
            raise ChannelConfigError(f"{_label(channel)}渠道配置无效：{fields[key].label}只能包含字母、数字、下划线和连字符", key)
        if out.get("secret") and not _TOKEN.match(out["secret"]):
            raise ChannelConfigError("钉钉群机器人渠道配置无效：加签密钥只能包含字母、数字、下划线和连字符", "secret")
        if out.get("endpoint"):
            _http_url(channel, "endpoint", "自定义接口地址", out["endpoint"])
    setup = overlay(Settings(), {channel: (True, out)})
    url = channel_url(channel, setup.settings, address="check@example.com")
    main = {"email": "host", "webhook": "url", "wecom": "key", "dingtalk": "token"}[channel]
    channel_secrets.install_log_filter()  # apprise logs a token it refuses: masked
    try:
        with channel_secrets.sending_secrets([out[f.name] for f in fields.values() if f.secret and f.name in out]
                                             + channel_secrets.url_secrets(url)):
            validate_url(channel, url)
    except ChannelConfigError as exc:
        exc.field = exc.field or main
        raise
    if channel == "email" or channel == "webhook" or out.get("endpoint"):  # a host the administrator chose
        plugin = _plugin(channel, url, setup.endpoints)
        key = main if channel in ("email", "webhook") else "endpoint"
        label = fields[key].label
        try:
            outbound.policy_for(settings).check_all(outbound.plugin_targets(channel, plugin))
        except outbound.OutboundRefused as exc:
            raise ChannelConfigError(f"{_label(channel)}渠道配置无效：{label}——{exc.reason}", key) from None
    return out


@dataclass
class ChannelSetup:
    """What delivery uses: the settings with saved configurations applied, the channels an
    administrator disabled, and endpoint overrides saved for the bots."""

    settings: Settings
    disabled: set[str] = field(default_factory=set)
    endpoints: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # channel → database / environment / none
    errors: dict[str, str] = field(default_factory=dict)  # channel → why its saved secrets cannot be used


def overlay(settings: Settings, configs: dict[str, tuple[bool, dict[str, Any]]]) -> ChannelSetup:
    """Apply saved configurations (channel → (enabled, values)) over ``settings``."""
    updates: dict[str, Any] = {}
    disabled: set[str] = set()
    endpoints: dict[str, str] = {}
    for name, (enabled, values) in configs.items():
        if name not in CONFIGURABLE:
            continue
        if not enabled:
            disabled.add(name)
            continue
        if name == "email":
            updates.update(smtp_host=values.get("host", ""), smtp_port=int(values.get("port") or 25),
                           smtp_from=values.get("from_address") or settings.smtp_from,
                           smtp_user=values.get("user", ""), smtp_password=values.get("password", ""))
        elif name == "webhook":
            updates["webhook_url"] = values.get("url", "")
        elif name == "wecom":
            updates["wecom_webhook_key"] = values.get("key", "")
        elif name == "dingtalk":
            token = values.get("token", "")
            # apprise reads a signing secret from the user part: dingtalk://SECRET@TOKEN
            updates["dingtalk_token"] = f"{values['secret']}@{token}" if values.get("secret") and token else token
        if values.get("endpoint"):
            endpoint = values["endpoint"]
            if name == "dingtalk" and "{token}" not in endpoint:
                endpoint += ("&" if "?" in endpoint else "?") + "access_token={token}"
            endpoints[name] = endpoint
    sources = {}
    for name in CONFIGURABLE:
        if name in configs:
            sources[name] = "database"
        else:
            sources[name] = "environment" if any(getattr(settings, attr) for key, attr in _ENV_FIELDS[name].items()
                                                 if key not in ("port", "from_address")) else "none"
    return ChannelSetup(settings=settings.model_copy(update=updates), disabled=disabled, endpoints=endpoints,
                        sources=sources)


def saved_values(row: ChannelConfig, settings: Settings) -> dict[str, Any]:
    """A saved configuration with its secrets decrypted (raises channel_secrets.ChannelKeyError)."""
    return channel_secrets.decrypt_values(dict(row.settings or {}), settings, channel_label=_label(row.name))


def load_setup(session: Session, settings: Settings) -> ChannelSetup:
    """The environment settings with every saved channel configuration applied (secrets decrypted;
    a channel whose secrets cannot be decrypted is listed in ``errors`` and sends nothing)."""
    configs, errors = {}, {}
    for c in session.scalars(select(ChannelConfig)):
        try:
            configs[c.name] = (c.enabled, saved_values(c, settings))
        except channel_secrets.ChannelKeyError as exc:
            configs[c.name], errors[c.name] = (c.enabled, {}), str(exc)
    setup = overlay(settings, configs)
    setup.errors = errors
    return setup


def env_values(channel: str, settings: Settings) -> dict[str, Any]:
    """A channel's environment settings, in the field names of a saved configuration."""
    return {key: getattr(settings, attr) for key, attr in _ENV_FIELDS[channel].items()
            if getattr(settings, attr) not in ("", None)}


def masked(channel: str, values: dict[str, Any]) -> dict[str, Any]:
    """What administrators see: secrets as ``SECRET_MASK``, URLs with password and secret query
    values hidden (:func:`channel_secrets.mask_url`); a value still encrypted (cannot be
    decrypted) as ``SECRET_MASK``."""
    secrets = {f.name for f in CONFIG_FIELDS[channel] if f.secret}
    out = {}
    for k, v in values.items():
        if v and (k in secrets or channel_secrets.is_encrypted(v)):
            out[k] = SECRET_MASK
        elif k in URL_FIELDS and isinstance(v, str):
            out[k] = channel_secrets.mask_url(v)
        else:
            out[k] = v
    return out


def describe(session: Session, channel: str, settings: Settings) -> dict[str, Any]:
    """A channel's configuration as administrators see it (secrets masked)."""
    if channel not in CONFIGURABLE:
        raise ChannelConfigError(f"未知的通知渠道“{channel}”，可配置的渠道：{'、'.join(CONFIGURABLE)}", "name")
    row = session.get(ChannelConfig, channel)
    fields = [{"name": f.name, "label": f.label, "type": f.kind, "required": f.required, "secret": f.secret}
              for f in CONFIG_FIELDS[channel]]
    if row is not None:
        error = None
        try:
            values = saved_values(row, settings)
        except channel_secrets.ChannelKeyError as exc:
            values, error = dict(row.settings or {}), str(exc)
        return {"name": channel, "label": _label(channel), "source": "database", "enabled": row.enabled,
                "settings": masked(channel, values), "fields": fields, "error": error,
                "updated_at": row.updated_at, "updated_by_id": row.updated_by_id,
                **_preferences_note(session, channel, row.enabled)}
    env = env_values(channel, settings)
    configured = any(k in env for k in ("host", "url", "key", "token"))
    return {"name": channel, "label": _label(channel), "source": "environment" if configured else "none",
            "enabled": configured, "settings": masked(channel, env) if configured else {}, "fields": fields,
            "error": None, "updated_at": None, "updated_by_id": None, **_preferences_note(session, channel, configured)}


def _preferences_note(session: Session, channel: str, in_use: bool) -> dict[str, Any]:
    """How many saved preferences name the channel, and — when it is not in use — a flag saying
    that those preferences are not followed on it."""
    from cases.models import NotificationPreference

    n = sum(1 for p in session.scalars(select(NotificationPreference)) if channel in (p.channels or []))
    warning = (f"有{n}条通知偏好选择了{_label(channel)}，该渠道未配置或已停用，这些偏好暂不通过该渠道发送"
               if n and not in_use else None)
    return {"preferences_using": n, "preferences_warning": warning}


def save_config(session: Session, channel: str, values: dict[str, Any] | None, *, enabled: bool, now: datetime,
                user_id: int | None, settings: Settings | None = None) -> ChannelConfig:
    """Validate (raises :class:`ChannelConfigError`) and save a channel's configuration, its secrets
    and URLs encrypted with the channel key of ``settings`` (default: the environment's)."""
    from cases.platform.config import get_settings

    settings = settings or get_settings()
    row = session.get(ChannelConfig, channel) if channel in CONFIGURABLE else None
    previous = None
    if row is not None:
        try:
            previous = saved_values(row, settings)
        except channel_secrets.ChannelKeyError:
            previous = None  # unreadable: masked secrets must be entered again
    clean = validate_config(channel, values, enabled=enabled, previous=previous, settings=settings)
    try:
        stored = channel_secrets.encrypt_values(clean, _encrypted_fields(channel), settings)
    except channel_secrets.ChannelKeyError as exc:
        raise ChannelConfigError(f"{_label(channel)}渠道配置不能保存：{exc}") from None
    if row is None:
        row = ChannelConfig(name=channel)
        session.add(row)
    row.settings, row.enabled, row.updated_at, row.updated_by_id = stored, enabled, now, user_id
    session.flush()
    session.info.pop(_CONFIGURED_KEY, None)
    return row


def delete_config(session: Session, channel: str) -> bool:
    row = session.get(ChannelConfig, channel)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    session.info.pop(_CONFIGURED_KEY, None)
    return True
