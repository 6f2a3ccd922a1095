"""The `helpdesk` command line: run, db upgrade, dept, staff, chat, demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import Config, ConfigError, config_path, load_config
from bot.imports import ImportFailed
from commands.errors import CommandError, UsageError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _add_config(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help="bot.yaml to use (default: $HELPDESK_CONFIG, then ./bot.yaml)",
    )


def _subparser(
    subs: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_: str
) -> argparse.ArgumentParser:
    parser = subs.add_parser(name, help=help_, description=help_)
    _add_config(parser, argparse.SUPPRESS)  # accepted after the subcommand too
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="helpdesk", description="A chat-first internal helpdesk on XMPP."
    )
    _add_config(parser, None)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _subparser(subs, "run", "run the bot and the scheduler; applies pending migrations first")
    db = _subparser(subs, "db", "database maintenance")
    db_subs = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    _subparser(db_subs, "upgrade", "apply pending migrations")
    dept = _subparser(subs, "dept", "departments (as the admin chat command)")
    dept_subs = dept.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = _subparser(dept_subs, "add", "add a department")
    add.add_argument("short", help="short name, used as @short in chat")
    add.add_argument("name", nargs="+", help="full name")
    _staff_parser(_subparser(subs, "staff", "staff members (as the admin chat command)"))
    chat = _subparser(subs, "chat", "a terminal XMPP chat with the bot as a staff member")
    chat.add_argument("--as", dest="login", required=True, help="the staff login to chat as")
    chat.add_argument(
        "--password",
        help="the account's XMPP password "
        "(default: $HELPDESK_CHAT_PASSWORD, the demo's accounts, or a prompt)",
    )
    _import_parser(_subparser(subs, "import", "the customer base: LDAP, the phone book"))
    demo = _subparser(subs, "demo", "a local Prosody, demo data and the bot, all on loopback")
    demo.add_argument("--dir", default=".demo", help="where the demo keeps its files")
    demo.add_argument(
        "--no-install",
        action="store_true",
        help="do not install Prosody with apt-get when it is missing",
    )
    return parser


def _import_parser(parser: argparse.ArgumentParser) -> None:
    subs = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    ldap = _subparser(subs, "ldap", "import customers (and the staff whitelist) from LDAP")
    ldap.add_argument("--dry-run", action="store_true", help="count, change nothing")
    book = _subparser(subs, "phonebook", "import a phone book and merge it with the customers")
    book.add_argument("file", type=Path, help=".csv (any common encoding), .xlsx or .docx")
    book.add_argument("--dry-run", action="store_true", help="count, change nothing")
    _subparser(subs, "review", "list the phone-book rows waiting for a decision")
    resolve = _subparser(subs, "resolve", "decide one row of the review list")
    resolve.add_argument("row", type=int, help="the row number from `helpdesk import review`")
    resolve.add_argument("decision", help="the customer id the row belongs to, or `new`")


def _import(config: Config, args: argparse.Namespace) -> str:
    from bot import imports

    if args.action == "ldap":
        return asyncio.run(imports.import_ldap(config, dry_run=args.dry_run))
    if args.action == "phonebook":
        if not args.file.is_file():
            raise imports.ImportFailed(f"{args.file}: no such file", usage=True)
        return asyncio.run(imports.import_phonebook(config, args.file, dry_run=args.dry_run))
    if args.action == "review":
        return asyncio.run(imports.review(config))
    return asyncio.run(imports.resolve(config, args.row, args.decision))


def _staff_parser(staff: argparse.ArgumentParser) -> None:
    subs = staff.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = _subparser(subs, "add", "add a staff member")
    add.add_argument("login")
    add.add_argument("jid")
    add.add_argument("role", help="admin, coordinator or user")
    add.add_argument("dept", help="home department")
    add.add_argument("extra", nargs="*", help="extra departments, as +dept")
    change = _subparser(subs, "set", "change one setting of a staff member")
    change.add_argument("login")
    change.add_argument("field", help="role, dept, phone, sms or lang")
    change.add_argument("value")
    off = _subparser(subs, "off", "remove a staff member's access (history is kept)")
    off.add_argument("login")


def _setup_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # slixmpp's debug log prints whole stanzas, the SASL exchange among them: never below INFO
    logging.getLogger("slixmpp").setLevel(logging.INFO if verbose else logging.WARNING)
    for chatty in ("alembic", "apscheduler"):
        logging.getLogger(chatty).setLevel(logging.INFO if verbose else logging.WARNING)


def _config(args: argparse.Namespace) -> Config:
    return load_config(config_path(args.config, os.environ))


def _admin_words(args: argparse.Namespace) -> tuple[str, list[str]]:
    if args.command == "dept":
        return "dept", ["add", args.short, *args.name]
    if args.action == "add":
        extras = ["+" + e.lstrip("+") for e in args.extra]
        return "staff", ["add", args.login, args.jid, args.role, args.dept, *extras]
    if args.action == "set":
        return "staff", ["set", args.login, args.field, args.value]
    return "staff", ["off", args.login]


async def _admin(config: Config, command: str, words: list[str]) -> str:
    from commands.core import Helpdesk
    from storage import migrate
    from storage.db import make_engine, make_sessions

    engine = make_engine(config.database.url)
    try:
        await migrate.upgrade(engine)
        core = Helpdesk(make_sessions(engine), language="en", timezone=config.schedule.timezone)
        return await core.run_admin(command, words)
    finally:
        await engine.dispose()


async def _db_upgrade(config: Config) -> str:
    from storage import migrate
    from storage.db import make_engine

    engine = make_engine(config.database.url)
    try:
        applied = await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    return f"applied: {', '.join(applied)}" if applied else "the database is up to date"


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from bot.demo import run_demo

        return run_demo(Path(args.dir), install=not args.no_install)
    if args.command == "chat":
        from bot.chat import run_chat

        return run_chat(args.config, args.login, args.password)
    config = _config(args)
    if args.command == "run":
        from bot.app import run

        asyncio.run(run(config))
        return EXIT_OK
    if args.command == "db":
        print(asyncio.run(_db_upgrade(config)))
        return EXIT_OK
    if args.command == "import":
        print(_import(config, args))
        return EXIT_OK
    print(asyncio.run(_admin(config, *_admin_words(args))))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"helpdesk: configuration: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CommandError as exc:
        print(f"helpdesk: {exc.params.get('text', exc.key)}", file=sys.stderr)
        cause = exc.__cause__
        return EXIT_USAGE if isinstance(cause, UsageError) else EXIT_FAILURE
    except ImportFailed as exc:
        print(f"helpdesk: {exc}", file=sys.stderr)
        return EXIT_USAGE if exc.usage else EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:  # a runtime failure: one line, the detail in the log
        logging.getLogger("helpdesk").debug("failed", exc_info=True)
        print(f"helpdesk: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
