"""Which notification channels are in use (environment or saved configuration), and the warnings
when one is not configured."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.platform.config import Settings
from cases.models import ChannelConfig
from notifications.channels import secrets as channel_secrets
from notifications.channels.config import CONFIGURABLE, ChannelSetup, _CONFIGURED_KEY, _encrypted_fields, _label, load_setup, overlay


# ---------------------------------------------------------------- which channels are in use

# The setting that turns each channel on (environment), named in the start-up warning and in errors.
CHANNEL_SETTINGS = {"email": "ANJIAN_SMTP_HOST", "webhook": "ANJIAN_WEBHOOK_URL",
                    "wecom": "ANJIAN_WECOM_WEBHOOK_KEY", "dingtalk": "ANJIAN_DINGTALK_TOKEN"}

_warned = False


def configured(setup: ChannelSetup) -> set[str]:
    """The channels messages can go out on: the inbox, and every channel configured in the environment
    or saved by an administrator and not disabled. Nothing is written for any other channel."""
    return {"inbox"} | {name for name in CONFIGURABLE
                        if setup.sources.get(name, "none") != "none" and name not in setup.disabled}


def configured_in(session: Session, settings: Settings | None = None) -> set[str]:
    """:func:`configured` for the settings in force (``get_settings()`` + saved configurations), cached
    on the session (one read per transaction; :func:`save_config` / :func:`delete_config` drop it)."""
    cached = session.info.get(_CONFIGURED_KEY)
    if cached is None:
        from cases.platform.config import get_settings

        rows = {c.name: (c.enabled, {}) for c in session.scalars(select(ChannelConfig))}  # no secrets needed
        cached = configured(overlay(settings or get_settings(), rows))
        session.info[_CONFIGURED_KEY] = cached
    return cached


def load_senders_if_configured(session: Session, settings: Settings | None = None) -> list[str]:
    """A process about to deliver: where a channel that sends outside is configured (not the inbox),
    load the senders now, at start-up, rather than on the way of the first message
    (``channels.load_senders``). None (the demo: every message to the in-app inbox): nothing loaded.
    Returns those channels."""
    from notifications.channels.send import load_senders

    active = configured_in(session, settings)
    names = [name for name in CONFIGURABLE if name in active]
    if names:
        load_senders()
    return names


def not_configured_message(channel: str) -> str:
    """What a person is told about a channel nobody configured (Chinese, naming the channel)."""
    return (f"{_label(channel)}渠道尚未配置，不能选择（请系统管理员配置{_label(channel)}渠道："
            f"环境变量 {CHANNEL_SETTINGS.get(channel, '')} 或“通知渠道配置”）")


def warn_unconfigured(active: set[str], *, logger: logging.Logger | None = None, force: bool = False) -> list[str]:
    """Log once per process which channels are not configured and therefore not used, with the
    setting that would turn each on. Returns the channels named (empty when all are configured)."""
    global _warned
    missing = [name for name in CONFIGURABLE if name not in active]
    if missing and (force or not _warned):
        _warned = True
        (logger or logging.getLogger("anjian.notifications")).warning(
            "notification channels not configured and not used: %s; messages go to the in-app inbox "
            "(configure with the environment variable or PUT /api/admin/channels/{name})",
            ", ".join(f"{name} (set {CHANNEL_SETTINGS[name]})" for name in missing))
    return missing


def encrypt_legacy(db, settings: Settings) -> list[str]:
    """Encrypt secrets saved in plaintext before encryption existed (run at start-up); returns the
    channels rewritten. A missing key (production) leaves them as they are, logged."""
    done: list[str] = []

    def plaintext(row: ChannelConfig) -> bool:
        names = _encrypted_fields(row.name) if row.name in CONFIGURABLE else set()
        return any(isinstance((row.settings or {}).get(k), str) and row.settings[k]
                   and not channel_secrets.is_encrypted(row.settings[k]) for k in names)

    with db.session() as s:  # a read first: no write lock taken at every start for nothing
        if not any(plaintext(row) for row in s.scalars(select(ChannelConfig))):
            return done
    with db.transaction() as s:
        for row in s.scalars(select(ChannelConfig)):
            if not plaintext(row):
                continue
            try:
                row.settings = channel_secrets.encrypt_values(dict(row.settings), _encrypted_fields(row.name),
                                                              settings)
            except channel_secrets.ChannelKeyError as exc:
                logging.getLogger("anjian.notifications").error("channel %s secrets left unencrypted: %s",
                                                                row.name, exc)
                continue
            done.append(row.name)
    return done


def warn_unconfigured_at_startup(db, settings: Settings) -> list[str]:
    """Start-up: the warning above for the settings and saved configurations in force, after
    encrypting plaintext secrets left from before (:func:`encrypt_legacy`). Never raises
    (a database not migrated yet only means the saved configurations are not known)."""
    logger = logging.getLogger("anjian.notifications")
    try:
        encrypt_legacy(db, settings)
    except Exception as exc:  # noqa: BLE001
        logger.warning("saved channel secrets not checked for encryption: %s", exc)
    try:
        with db.session() as s:
            setup = load_setup(s, settings)
        for name, error in setup.errors.items():
            logger.error("channel %s: saved secrets cannot be decrypted (check ANJIAN_CHANNEL_KEY): %s", name, error)
        active = configured(setup)
    except Exception:  # noqa: BLE001
        active = configured(overlay(settings, {}))
    return warn_unconfigured(active)
