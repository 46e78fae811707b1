"""`smartlinks`: the one command. Each role is one process, as `up` and a deployment run it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from core import config, logs
from smartlinks.roles import ROLES


def _cmd_migrate(args: argparse.Namespace, settings: config.Settings) -> int:
    from smartlinks.admin_tasks import migrate

    migrate(settings)
    return 0


def _cmd_secrets(args: argparse.Namespace, settings: config.Settings) -> int:
    if args.secrets_command == "new-key":
        from sync import crypto

        print(crypto.new_key())
        return 0
    from smartlinks.admin_tasks import rotate_secrets

    try:
        print(json.dumps(rotate_secrets(settings, args.new_key)))
    except ValueError as exc:
        print(f"smartlinks secrets rotate: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_org_create(args: argparse.Namespace, settings: config.Settings) -> int:
    from smartlinks.admin_tasks import create_org

    try:
        result = create_org(settings, args.name, args.email, args.password)
    except ValueError as exc:
        field = getattr(exc, "field", None)
        print(
            f"smartlinks org create: {'--' + field + ': ' if field else ''}{exc}", file=sys.stderr
        )
        return 2
    print(json.dumps(result))
    return 0


def _cmd_domain_verify(args: argparse.Namespace, settings: config.Settings) -> int:
    from admin.services.errors import ServiceError
    from smartlinks.admin_tasks import verify_domain

    try:
        result = verify_domain(settings, args.hostname, args.org)
    except ServiceError as exc:
        print(f"smartlinks domain verify: {exc.message}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


def _cmd_health(args: argparse.Namespace, settings: config.Settings) -> int:
    from smartlinks.health import check

    healthy, why = check(args.role, settings)
    print(f"{'healthy' if healthy else 'unhealthy'}: {why}")
    return 0 if healthy else 1


def settings_markdown() -> str:
    """The README's table of environment variables, generated from core.config.SETTINGS."""
    rows = ["| variable | default | what it does |", "| --- | --- | --- |"]
    for s in config.SETTINGS:
        default = f"`{s.default}`" if s.default else "(unset)"
        text = s.help.replace("|", "\\|")
        rows.append(f"| `{s.env}` | {default} | {text} |")
    return "\n".join(rows)


README_START, README_END = "<!-- settings:start -->\n", "<!-- settings:end -->"


def update_readme(path: Path) -> bool:
    """Replace the settings table between the README's markers; True when it changed."""
    text = path.read_text()
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    new = f"{head}{README_START}{settings_markdown()}\n{README_END}{tail}"
    if new != text:
        path.write_text(new)
    return new != text


def _cmd_settings(args: argparse.Namespace, settings: config.Settings) -> int:
    if args.update_readme:
        changed = update_readme(Path(args.update_readme))
        print(f"{args.update_readme}: {'updated' if changed else 'already up to date'}")
        return 0
    if args.markdown:
        print(settings_markdown())
        return 0
    for s in config.SETTINGS:  # the text in effect (load() has checked it)
        print(f"{s.env}={s.read(os.environ)}")
    return 0


def _cmd_up(args: argparse.Namespace, settings: config.Settings) -> int:
    from smartlinks.supervisor import up

    return up(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartlinks",
        description="Branded short links with per-contact field merge and click tracking.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("up", help="start everything in the foreground (Ctrl-C stops it)").set_defaults(
        func=_cmd_up
    )
    for role in ROLES:
        p = sub.add_parser(role.name, help=role.help)
        if role.name == "sync":
            p.add_argument(
                "--full",
                action="store_true",
                help="rebuild every record in Redis from Postgres, then go on",
            )
        if role.burst:
            p.add_argument("--burst", action="store_true", help=role.burst)
        p.set_defaults(func=role.run)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=_cmd_migrate)
    from smartlinks.health import ROLES as HEALTH_ROLES

    p = sub.add_parser("health", help="exit 0 when this host's ROLE process is healthy")
    p.add_argument("role", nargs="?", choices=HEALTH_ROLES, help="default: the one running here")
    p.set_defaults(func=_cmd_health)
    p = sub.add_parser("settings", help="list the environment settings and their values")
    p.add_argument("--markdown", action="store_true", help="the README's table of settings")
    p.add_argument(
        "--update-readme", metavar="PATH", help="rewrite the settings table in this README.md"
    )
    p.set_defaults(func=_cmd_settings)
    org = sub.add_parser("org", help="organisations").add_subparsers(
        dest="org_command", required=True
    )
    p = org.add_parser("create", help="create an organisation, its owner and an API token")
    p.add_argument("--name", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--password", required=True)
    p.set_defaults(func=_cmd_org_create)
    dom = sub.add_parser("domain", help="domains").add_subparsers(
        dest="domain_command", required=True
    )
    p = dom.add_parser("verify", help="mark a claimed domain verified without DNS (recorded)")
    p.add_argument("hostname")
    p.add_argument("--org", type=int, help="the organisation, when several claim the hostname")
    p.set_defaults(func=_cmd_domain_verify)
    secrets = sub.add_parser("secrets", help="the key that encrypts stored secrets").add_subparsers(
        dest="secrets_command", required=True
    )
    p = secrets.add_parser("rotate", help="re-encrypt stored secrets with the first key")
    p.add_argument(
        "--new-key", action="store_true", help="first make a new key (data folder key only)"
    )
    p.set_defaults(func=_cmd_secrets)
    secrets.add_parser("new-key", help="print a fresh key for SECRETS_KEY").set_defaults(
        func=_cmd_secrets
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    role = args.command if args.command not in ("org", "domain", "health", "secrets") else "cli"
    # Read once, here: a bad value stops the command before it starts anything.
    try:
        settings = config.load()
    except config.SettingsError as exc:
        print(f"smartlinks {args.command}: {exc}", file=sys.stderr)
        return 2
    logs.setup(role, settings.log_level)
    try:
        return int(args.func(args, settings) or 0)
    except config.SettingsError as exc:  # no database to be found, for one
        print(f"smartlinks {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
