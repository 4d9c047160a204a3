"""Where outbound notifications may go: every address a channel connects to is checked after DNS
resolution, when an administrator saves a channel and again right before each send.

Refused (unless allowed explicitly): loopback, link-local, private (RFC 1918, ULA fc00::/7,
CGNAT 100.64.0.0/10), unspecified, multicast, reserved and documentation ranges, IPv4 embedded in
IPv6 (``::ffff:127.0.0.1``, 6to4, Teredo, NAT64 are unwrapped and checked as IPv4) and the cloud
metadata addresses (169.254.169.254, 100.100.100.200, fd00:ec2::254, …). The host is resolved with
``socket.getaddrinfo`` and *every* address it resolves to is checked with :mod:`ipaddress` — odd
spellings (``0x7f000001``, ``2130706433``, ``0177.0.0.1``, ``127.1``, ``[::ffff:127.0.0.1]``,
``fe80::1%eth0``) are caught because the resolver turns them into the address they mean.

Allow-list (``ANJIAN_OUTBOUND_ALLOW``, comma separated) for an intranet gateway:

* ``10.20.0.0/16``, ``10.20.1.5``, ``[fd12::1]`` — resolved addresses in these networks are allowed;
  ``10.20.1.5:8080`` / ``[fd12::1]:25`` — only on that port;
* ``gw.gov.internal``, ``gw.gov.internal:8080`` — this host name (as configured, case-insensitive)
  is allowed whatever it resolves to (the operator vouches for the name).

Nothing is allowed by default, loopback included (``make run`` needs no outbound channel).

The check at send time is what stops DNS rebinding (a name public when saved, private when used),
and :func:`guard` pins the connection itself: while a message is sent, the HTTP and SMTP libraries
connect only to addresses this policy has checked (a second, different DNS answer is checked too).

``resolver`` is a seam for tests (a function ``host, port -> list of address strings``); the
default is :func:`system_resolver`.
"""
from __future__ import annotations

import ipaddress
import socket
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable, Iterable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

# Cloud metadata services, named even where a range below already covers them.
METADATA = tuple(ipaddress.ip_network(n) for n in (
    "169.254.169.254/32", "169.254.170.2/32", "100.100.100.200/32", "fd00:ec2::254/128", "fd00:ec2::23/128"))
# Ranges refused beyond what ipaddress calls non-global (kept explicit: CGNAT, benchmarking, 6to4 relay…).
EXTRA_FORBIDDEN = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.88.99.0/24", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
    "64:ff9b:1::/48", "100::/64", "2001:db8::/32", "fec0::/10", "ff00::/8"))
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class OutboundRefused(ValueError):
    """A target address is not allowed (or cannot be resolved). ``reason`` is neutral Chinese text
    (no address, no port state); ``detail`` adds what was resolved, for administrators' logs."""

    def __init__(self, reason: str, detail: str = "", *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.transient = transient  # True: could not resolve (worth retrying), False: forbidden


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def _embedded_v4(addr: Address) -> ipaddress.IPv4Address | None:
    if isinstance(addr, ipaddress.IPv4Address):
        return None
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    if addr in NAT64 or (int(addr) >> 32 == 0 and int(addr) > 1):  # NAT64, or deprecated ::a.b.c.d
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def forbidden(addr: Address) -> bool:
    """True for every address an outbound notification must not reach (see the module docstring)."""
    inner = _embedded_v4(addr)
    if inner is not None and (forbidden(inner) or addr.ipv4_mapped is not None or int(addr) >> 32 == 0):
        return forbidden(inner)  # ::ffff:a.b.c.d and ::a.b.c.d are a.b.c.d
    if any(addr in n for n in METADATA + EXTRA_FORBIDDEN if n.version == addr.version):
        return True
    return (not addr.is_global or addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_multicast
            or addr.is_reserved or addr.is_unspecified or (addr.version == 6 and addr.is_site_local))


def parse_address(text: str) -> Address:
    return ipaddress.ip_address(text.split("%", 1)[0].strip("[]"))


@dataclass(frozen=True)
class AllowEntry:
    network: Network | None = None
    host: str | None = None
    port: int | None = None

    def allows_host(self, host: str, port: int) -> bool:
        return self.host is not None and self.host == _norm(host) and self.port in (None, port)

    def allows_address(self, addr: Address, port: int) -> bool:
        if self.network is None or self.port not in (None, port):
            return False
        inner = _embedded_v4(addr)
        return (addr.version == self.network.version and addr in self.network) or (
            inner is not None and self.network.version == 4 and inner in self.network)


def _norm(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def parse_allow(text: str) -> tuple[AllowEntry, ...]:
    """Parse ``ANJIAN_OUTBOUND_ALLOW``; raises ValueError naming the bad entry."""
    entries = []
    for raw in (text or "").split(","):
        item = raw.strip()
        if not item:
            continue
        host, port = item, None
        if item.startswith("["):  # [v6] or [v6]:port
            inside, _, rest = item[1:].partition("]")
            host = inside
            if rest:
                if not rest.startswith(":") or not rest[1:].isdigit():
                    raise ValueError(f"ANJIAN_OUTBOUND_ALLOW 中的“{item}”无法识别")
                port = int(rest[1:])
        elif item.count(":") == 1:  # v4:port or host:port
            host, _, p = item.partition(":")
            if not p.isdigit():
                raise ValueError(f"ANJIAN_OUTBOUND_ALLOW 中的“{item}”端口无效")
            port = int(p)
        if port is not None and not 1 <= port <= 65535:
            raise ValueError(f"ANJIAN_OUTBOUND_ALLOW 中的“{item}”端口无效")
        try:
            entries.append(AllowEntry(network=ipaddress.ip_network(host, strict=False), port=port))
            continue
        except ValueError:
            pass
        name = _norm(host)
        if not name or any(not (c.isalnum() or c in "-.") for c in name):
            raise ValueError(f"ANJIAN_OUTBOUND_ALLOW 中的“{item}”既不是网段也不是主机名")
        entries.append(AllowEntry(host=name, port=port))
    return tuple(entries)


@dataclass(frozen=True)
class Policy:
    allow: tuple[AllowEntry, ...] = ()
    resolver: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def from_settings(cls, settings, resolver: Resolver | None = None) -> "Policy":
        return cls(allow=parse_allow(getattr(settings, "outbound_allow", "") or ""),
                   resolver=resolver or _default_resolver)

    def check(self, host: str, port: int) -> list[Address]:
        """The addresses ``host`` resolves to, all allowed; else :class:`OutboundRefused`."""
        name = _norm(host or "")
        if not name:
            raise OutboundRefused("目标地址缺少主机名")
        if any(e.allows_host(name, port) for e in self.allow):
            return []
        try:
            resolved = [parse_address(a) for a in self.resolver(name, port)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise OutboundRefused("目标主机名无法解析", f"{name}: {exc}", transient=True) from None
        if not resolved:
            raise OutboundRefused("目标主机名无法解析", name, transient=True)
        bad = [a for a in resolved if forbidden(a) and not any(e.allows_address(a, port) for e in self.allow)]
        if bad:
            raise OutboundRefused("目标地址属于本机、内网、保留或云平台元数据地址，不允许发送（如需经内网网关发送，"
                                  "请由运维人员在 ANJIAN_OUTBOUND_ALLOW 中明确放行）",
                                  f"{name}:{port} → {', '.join(map(str, bad))}")
        return resolved

    def check_all(self, targets: Iterable[tuple[str, int]]) -> None:
        for host, port in targets:
            self.check(host, port)


# Tests replace this (via set_resolver) to simulate DNS answers without touching /etc/hosts.
_default_resolver: Resolver = system_resolver


def set_resolver(resolver: Resolver | None) -> Resolver:
    """Install the resolver used by policies built from settings (None: the system's); returns the
    previous one. A seam for tests (DNS rebinding without an external resolver)."""
    global _default_resolver
    previous = _default_resolver
    _default_resolver = resolver or system_resolver
    return previous


def plugin_targets(channel: str, plugin) -> list[tuple[str, int]]:
    """The (host, port) an instantiated apprise plugin will connect to, read from the plugin itself
    (what apprise parsed, not our own reading of the URL)."""
    from urllib.parse import urlsplit

    if channel == "email":
        return [(plugin.smtp_host or plugin.host, int(plugin.port or 25))]
    if channel in ("wecom", "dingtalk"):
        url = plugin.api_url if channel == "wecom" else plugin.notify_url
        parts = urlsplit(url)
        return [(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))]
    if channel == "webhook":
        return [(str(plugin.host or ""), int(plugin.port or (443 if plugin.secure else 80)))]
    return []


# ---------------------------------------------------------------- the connection itself (pinning)
#
# The check before a send resolves the name; the HTTP / SMTP library would resolve it again when it
# connects, and a resolver answering differently the second time (TTL-0 rebinding) could slip an
# internal address through. While a send runs under ``guard(policy)``, the two places where apprise's
# libraries open a TCP connection — urllib3's ``create_connection`` (requests) and
# ``smtplib.SMTP._get_socket`` (SMTP and SMTPS) — resolve the host through the same policy and connect
# only to the addresses it checked (TLS still verifies the host name). Outside ``guard`` they behave as
# before: nothing else in the process is affected.

_active: ContextVar["Policy | None"] = ContextVar("anjian_outbound_policy", default=None)
_refused: ContextVar["list[OutboundRefused] | None"] = ContextVar("anjian_outbound_refused", default=None)
_installed = False


def _guarded_connect(original):
    def create_connection(address, *args, **kwargs):
        policy = _active.get()
        if policy is None:
            return original(address, *args, **kwargs)
        host, port = address[0], int(address[1])
        try:
            checked = policy.check(host, port)
        except OutboundRefused as exc:
            refused = _refused.get()
            if refused is not None:
                refused.append(exc)
            raise OSError(f"outbound connection refused by policy: {exc.reason}") from None
        if not checked:  # allowed by host name: the operator vouches for whatever it resolves to
            return original(address, *args, **kwargs)
        error: OSError | None = None
        for addr in checked:
            try:
                return original((str(addr), port), *args, **kwargs)
            except OSError as exc:
                error = exc
        raise error  # type: ignore[misc]

    create_connection.anjian_guard = True  # type: ignore[attr-defined]
    return create_connection


def install_guard() -> None:
    """Wrap the libraries' connection functions once (idempotent; inert outside :func:`guard`)."""
    global _installed
    if _installed:
        return
    import smtplib

    import urllib3.util.connection as u3

    if not getattr(u3.create_connection, "anjian_guard", False):
        u3.create_connection = _guarded_connect(u3.create_connection)
    if not getattr(smtplib.SMTP._get_socket, "anjian_guard", False):
        plain = _guarded_connect(lambda address, timeout, source_address=None:
                                 socket.create_connection(address, timeout, source_address))
        original_get_socket = smtplib.SMTP._get_socket

        def _get_socket(self, host, port, timeout):
            if _active.get() is None:
                return original_get_socket(self, host, port, timeout)
            if timeout is not None and not timeout:
                raise ValueError("Non-blocking socket (timeout=0) is not supported")
            return plain((host, port), timeout, self.source_address)

        _get_socket.anjian_guard = True  # type: ignore[attr-defined]
        smtplib.SMTP._get_socket = _get_socket
    _installed = True


class guard:  # noqa: N801 - a context manager
    """Within the block, every connection apprise's libraries open is checked by ``policy``;
    ``refused`` lists the refusals (the caller reports them instead of the library's error)."""

    def __init__(self, policy: "Policy") -> None:
        self.policy = policy
        self.refused: list[OutboundRefused] = []

    def __enter__(self) -> "guard":
        install_guard()
        self._tokens = (_active.set(self.policy), _refused.set(self.refused))
        return self

    def __exit__(self, *exc) -> bool:
        _active.reset(self._tokens[0])
        _refused.reset(self._tokens[1])
        return False


def policy_for(settings=None) -> Policy:
    """The policy of ``settings`` (default: the environment's). A malformed ANJIAN_OUTBOUND_ALLOW is
    logged and ignored: nothing internal is allowed then."""
    import logging

    from cases.platform.config import get_settings

    try:
        return Policy.from_settings(settings or get_settings())
    except ValueError as exc:
        logging.getLogger("anjian.notifications").error("ANJIAN_OUTBOUND_ALLOW ignored: %s", exc)
        return Policy()
