"""`anjian` command line: serve, db upgrade, demo, user add/deactivate/activate/password, calendar load,
notify test."""
from __future__ import annotations

import argparse
import getpass
import json
import sys

from sqlalchemy import select


def _db():
    from cases.platform.db import get_database

    return get_database()


def cmd_db_upgrade(args) -> int:
    from cases.platform.config import get_settings
    from cases.platform.migrate import upgrade
    from cases.reference import load_reference_data

    upgrade(get_settings().effective_database_url, args.revision)
    with _db().transaction() as s:
        load_reference_data(s)
    print("数据库已升级到最新版本")
    return 0


def cmd_demo(args) -> int:
    from cases.platform.clock import now
    from cases.demo import load_demo

    from cases.platform.config import get_settings
    from cases.platform.security import SigningKeyError, resolve_signing_key

    try:  # a development start: generate the data dir's signing key now (once), for `anjian serve`
        resolve_signing_key(get_settings())
    except SigningKeyError as exc:
        print(f"提示：{exc}", file=sys.stderr)
    with _db().transaction() as s:
        counts = load_demo(s, now=now(), n_cases=args.cases)
    print(f"演示数据已就绪：{counts['cases']} 个案件；用户 officer / supervisor / admin / enterprise，密码 demo")
    return 0


def cmd_user_add(args) -> int:
    from cases.platform.clock import now
    from cases.platform.errors import ValidationFailed
    from cases.ledger.identifiers import LEVEL_RANK  # noqa: F401
    from cases.platform.identity import check_new_user
    from cases.models import Jurisdiction, User
    from cases.platform.security import hash_password

    password = args.password or getpass.getpass("密码：")
    with _db().transaction() as s:
        if s.get(Jurisdiction, args.jurisdiction) is None:
            print(f"行政区划代码“{args.jurisdiction}”不存在", file=sys.stderr)
            return 2
        try:
            names = check_new_user(s, username=args.username, display_name=args.name or args.username,
                                   password=password, role=args.role, enterprise_id=args.enterprise_id)
        except ValidationFailed as exc:
            print(exc.message, file=sys.stderr)
            return 2
        s.add(User(username=names["username"], display_name=names["display_name"], role=args.role,
                   jurisdiction_code=args.jurisdiction, enterprise_id=args.enterprise_id,
                   password_hash=hash_password(password), active=True, created_at=now(),
                   email=args.email, phone=args.phone))
    print(f"已创建用户 {names['username']}（{args.role}，{args.jurisdiction}）")
    return 0


def cmd_user_active(args) -> int:
    """`anjian user deactivate|activate USERNAME`: every token of a deactivated user ends at once."""
    from cases.platform.clock import now
    from cases.platform.errors import NotFound
    from cases.platform.sessions import set_active_by_username

    active = args.user_command == "activate"
    try:
        with _db().transaction() as s:
            user = set_active_by_username(s, args.username, active, now())
            name = user.username
    except NotFound as exc:
        print(exc.message, file=sys.stderr)
        return 2
    print(f"已{'启用' if active else '停用'}用户 {name}" + ("" if active else "（其所有登录令牌已失效）"))
    return 0


def _read_new_password() -> str:
    if not sys.stdin.isatty():  # piped: the first line
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("新密码：")
    if getpass.getpass("再次输入新密码：") != first:
        raise ValueError("两次输入的密码不一致")
    return first


def cmd_user_password(args) -> int:
    """`anjian user password USERNAME`: the new password from the prompt (or the first line of stdin)."""
    from cases.platform.clock import now
    from cases.platform.errors import NotFound, ValidationFailed
    from cases.platform.sessions import set_password_by_username

    try:
        password = _read_new_password()
        with _db().transaction() as s:
            user = set_password_by_username(s, args.username, password, now())
            name = user.username
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except (NotFound, ValidationFailed) as exc:
        print(exc.message, file=sys.stderr)
        return 2
    print(f"已重置用户 {name} 的密码（其所有登录令牌已失效）")
    return 0


def cmd_calendar_load(args) -> int:
    from cases.calendar.calendar_store import read_notice_file
    from cases.platform.clock import now
    from cases.clocks.deadlines import load_calendar_year

    data = read_notice_file(args.file)
    try:
        with _db().transaction() as s:
            result = load_calendar_year(s, data, loaded_by=args.by, now=now())
    except ValueError as exc:
        print(f"载入失败：{exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_backup(args) -> int:
    from cases.platform.backup import BackupError, backup
    from cases.platform.config import get_settings

    try:
        result = backup(get_settings(), args.file)
    except BackupError as exc:
        print(f"备份失败：{exc}", file=sys.stderr)
        return 2
    counts = result["counts"]
    print(f"已备份到 {result['file']}：{counts.get('cases', 0)} 个案件、{counts.get('case_events', 0)} 条记录、"
          f"{counts.get('documents', 0)} 份文书（{result['files']} 个数据文件）、{counts.get('timers', 0)} 个定时器；"
          "签名密钥不在备份中，请另行保管")
    return 0


def cmd_restore(args) -> int:
    from cases.platform.backup import BackupError, restore
    from cases.platform.config import get_settings

    try:
        result = restore(get_settings(), args.file, force=args.force)
    except BackupError as exc:
        print(f"恢复失败：{exc}", file=sys.stderr)
        return 2
    counts = result["counts"]
    print(f"已从 {args.file}（备份于 {result['created_at']}）恢复：{counts.get('cases', 0)} 个案件、"
          f"{counts.get('case_events', 0)} 条记录、{counts.get('documents', 0)} 份文书、{counts.get('timers', 0)} 个定时器，"
          "已逐项核对")
    return 0


def cmd_serve(args) -> int:
    from anjian.runner import serve

    return serve(with_prefect=not args.no_prefect, host=args.host, port=args.port, workers=args.workers,
                 access_log=False if args.no_access_log else None)


def cmd_worker(args) -> int:
    from workflows.serve import run_worker

    return run_worker(name=args.name, sweep_interval=args.sweep_interval, digest=not args.no_digest)


def cmd_notify_test(args) -> int:
    from cases.platform.clock import now
    from notifications.channels.send import CHANNEL_NAMES
    from notifications.delivery.service import send_test

    endpoints = {args.channel: args.endpoint} if args.endpoint else None
    result = send_test(args.channel, now=now(), to=args.to, db=_db(), endpoints=endpoints)
    label = CHANNEL_NAMES.get(args.channel, args.channel)
    if result.ok:
        print(f"测试消息已通过{label}发送成功。")
        print(f"渠道响应：{result.response}")
        return 0
    print(f"测试消息发送失败（{label}）：{result.response}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    # Every command that writes messages (demo, calendar load, workers) honours channel preferences.
    import notifications.delivery.preferences  # noqa: F401
    p = argparse.ArgumentParser(prog="anjian", description="安监：建设工程安全监管案件系统")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("serve", help="启动服务（API、Prefect 服务器与定时流程）")
    sp.add_argument("--host", default=None)
    sp.add_argument("--port", type=int, default=None)
    sp.add_argument("--no-prefect", action="store_true", help="只启动 API")
    sp.add_argument("--workers", type=int, default=1, help="API 工作进程数（默认 1）")
    sp.add_argument("--no-access-log", action="store_true", help="不记录每个请求的访问日志（生产模式默认不记录，改为结构化请求日志）")
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("worker", help="启动一个定时器/升级流程工作进程（扩展部署）")
    sp.add_argument("--name", default=None, help="工作进程名称（记录在每次升级触发上）")
    sp.add_argument("--sweep-interval", type=float, default=None, help="定时器扫描间隔（秒，默认取 ANJIAN_SWEEP_INTERVAL_SECONDS）")
    sp.add_argument("--no-digest", action="store_true", help="不承担每日督办汇总")
    sp.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="数据库").add_subparsers(dest="db_command", required=True)
    sp = db.add_parser("upgrade", help="执行数据库迁移并载入基础数据")
    sp.add_argument("revision", nargs="?", default="head")
    sp.set_defaults(func=cmd_db_upgrade)

    sp = sub.add_parser("backup", help="备份数据库与文书文件到一个归档文件（服务运行时也可执行）")
    sp.add_argument("file", help="备份文件路径，如 /srv/backup/anjian-20261126.tar.gz")
    sp.set_defaults(func=cmd_backup)

    sp = sub.add_parser("restore", help="从备份文件恢复到空数据库（先停止服务）")
    sp.add_argument("file")
    sp.add_argument("--force", action="store_true", help="目标数据库已有数据时仍然覆盖")
    sp.set_defaults(func=cmd_restore)

    sp = sub.add_parser("demo", help="载入演示数据（演示用）")
    sp.add_argument("--cases", type=int, default=200)
    sp.set_defaults(func=cmd_demo)

    user = sub.add_parser("user", help="用户").add_subparsers(dest="user_command", required=True)
    sp = user.add_parser("add", help="新增用户")
    sp.add_argument("username")
    sp.add_argument("--role", required=True, choices=["officer", "supervisor", "admin", "enterprise"])
    sp.add_argument("--jurisdiction", required=True, help="行政区划代码，如 320508")
    sp.add_argument("--name")
    sp.add_argument("--password")
    sp.add_argument("--enterprise-id", type=int)
    sp.add_argument("--email")
    sp.add_argument("--phone")
    sp.set_defaults(func=cmd_user_add)
    for name, text in (("deactivate", "停用用户（其所有登录令牌立即失效）"), ("activate", "重新启用用户")):
        sp = user.add_parser(name, help=text)
        sp.add_argument("username")
        sp.set_defaults(func=cmd_user_active)
    sp = user.add_parser("password", help="重置用户密码（从提示输入或标准输入第一行读取；其所有登录令牌失效）")
    sp.add_argument("username")
    sp.set_defaults(func=cmd_user_password)

    cal = sub.add_parser("calendar", help="法定节假日").add_subparsers(dest="calendar_command", required=True)
    sp = cal.add_parser("load", help="载入某年国务院放假安排（YAML/JSON）")
    sp.add_argument("file")
    sp.add_argument("--by", default="cli")
    sp.set_defaults(func=cmd_calendar_load)

    notify = sub.add_parser("notify", help="通知").add_subparsers(dest="notify_command", required=True)
    sp = notify.add_parser("test", help="立即通过某个渠道发送一条测试消息（使用实际生效的渠道配置）")
    sp.add_argument("--channel", required=True, choices=["email", "webhook", "wecom", "dingtalk", "inbox"])
    sp.add_argument("--to", default=None, help="email：收件邮箱地址；inbox：接收用户的用户名")
    sp.add_argument("--endpoint", default=None,
                    help="wecom/dingtalk：改用此接口地址（私有网关），如 http://gw/cgi-bin/webhook/send?key={key}")
    sp.set_defaults(func=cmd_notify_test)

    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
