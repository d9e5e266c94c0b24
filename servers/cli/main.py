"""The `paygate` command.

    paygate up                                   the whole gateway (servers/runtime/launcher.py)
    paygate migrate                              schema to the newest revision
    paygate serve --role api --listen HOST:PORT  one role in the foreground (api, worker,
                                                 vault, acquirer, web, demo, stripe)
    paygate vault rotate [--keep-data-keys]      re-wrap data keys, re-encrypt card data
    paygate fx load FILE                         store an FX rates file (docs/ledger.md)
    paygate settle --date D                      settle day D (the worker's daily batch)
    paygate payouts run                          automatic payouts after settlements
    paygate disputes resolve                     close disputes whose decision time came
    paygate reconcile --date D                   ledger vs payments vs the acquirer's file
    paygate limits set --merchant acct_... --class payments_create 1000/second
                                                 a merchant's own rate limits (none: defaults)
    paygate login | payments ... | keys ... | events tail
                                                 the merchant's commands (servers/cli/merchant)
    paygate tls selfsigned [--dir DIR]           a CA and a certificate for 127.0.0.1 and
                                                 localhost, for Envoy's TLS on a laptop

Configuration comes from the environment (servers/runtime/settings.py): DATABASE_URL, REDIS_URL,
PAYGATE_DATA_DIR, PAYGATE_HTTP_PORT, ...; `up`'s flags override the ports and folders.
Without DATABASE_URL, `migrate` and `serve` use the embedded PostgreSQL under
<data_dir>/pg: the one a running `paygate up` owns, or (`migrate` only) one they start
and stop themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from servers.cli import webhooks
from servers.cli.merchant import commands as merchant
from servers.runtime.logging_setup import json_line
from servers.runtime.settings import Settings

# Role -> "module:coroutine function" taking (settings, listen); imported only when chosen.
ROLES: dict[str, str] = {
    "api": "servers.roles.api:run",
    "worker": "servers.roles.worker.server:run",
    "vault": "servers.roles.vault.server:run",
    "acquirer": "servers.roles.acquirer:run",
    "psp": "servers.roles.psp:run",
    "web": "servers.roles.web.server:run",
    "demo": "servers.roles.web.demo:run",
    "stripe": "servers.roles.stripe:run",
}
# Roles that never open the database: `serve` does not look for one.
DATABASE_FREE_ROLES = frozenset({"acquirer", "psp", "demo", "stripe"})

RoleMain = Callable[[Settings, str], Coroutine[Any, Any, None]]


def _say(level: str, msg: str, **fields: Any) -> None:
    print(
        json_line(level, msg, logger="paygate.cli", **fields),
        file=sys.stderr if level == "error" else sys.stdout,
        flush=True,
    )


def role_main(role: str) -> RoleMain:
    module_name, _, function = ROLES[role].partition(":")
    main: RoleMain = getattr(importlib.import_module(module_name), function)
    return main


def _migrate(settings: Settings) -> int:
    from servers.runtime.embedded_postgres import embedded_postgres
    from servers.runtime.migrations import migrate_all

    if settings.database_url:
        asyncio.run(migrate_all(settings, settings.database_url))
        _say("info", "database migrated")
        return 0
    pg = embedded_postgres(settings)
    url = pg.attach()  # `paygate up` is running: its server, left running
    if url is not None:
        asyncio.run(migrate_all(settings, url))
        _say("info", "database migrated", database="embedded (running)")
        return 0
    url = pg.start()
    try:
        asyncio.run(migrate_all(settings, url))
    finally:
        pg.stop()
    _say("info", "database migrated", database="embedded")
    return 0


def _envoy_config(settings: Settings, out: Path) -> int:
    """What an Envoy of its own (a Kubernetes init container) runs: the same rendering as
    `paygate up`'s, upstreams and tracing from PAYGATE_ENVOY_* and PAYGATE_OTLP_ENDPOINT."""
    from servers.runtime import envoy_config

    written = envoy_config.write(settings, envoy_config.descriptor_path(), out)
    _say("info", "envoy configuration written", path=str(written))
    return 0


def _with_database(settings: Settings, role: str) -> Settings | None:
    """Settings whose database_url is set: DATABASE_URL, or the running embedded server.

    A split vault node needs only VAULT_DATABASE_URL.
    """
    if settings.database_url or (role == "vault" and settings.vault_database_url):
        return settings
    from servers.runtime.embedded_postgres import embedded_postgres

    url = embedded_postgres(settings).attach()
    if url is None:
        _say(
            "error",
            "DATABASE_URL is not set and no embedded PostgreSQL is running "
            f"under {Path(settings.data_dir) / 'pg'}: set it, or start `paygate up`",
        )
        return None
    return dataclasses.replace(settings, database_url=url)


def _serve(settings: Settings, role: str, listen: str) -> int:
    resolved = settings if role in DATABASE_FREE_ROLES else _with_database(settings, role)
    if resolved is None:
        return 2
    # uvloop: a faster event loop under the same asyncio API (grpc.aio and asyncpg run on it).
    import uvloop

    uvloop.run(role_main(role)(resolved, listen))
    return 0


def _vault(settings: Settings, argv: list[str]) -> int:
    from servers.cli import vault_rotate as rotate

    resolved = _with_database(settings, "vault")
    return 2 if resolved is None else rotate.main(argv, resolved)


def _ledger(settings: Settings, args: argparse.Namespace) -> int:
    from servers.cli import ledger as ledger_cli

    resolved = _with_database(settings, "ledger")
    if resolved is None:
        return 2
    url = resolved.database_url
    if args.command == "fx":
        return asyncio.run(ledger_cli.fx_load(url, args.file, _say))
    if args.command == "settle":
        return asyncio.run(ledger_cli.settle(url, args.date, _say))
    if args.command == "payouts":
        return asyncio.run(ledger_cli.run_payouts(url, _say))
    if args.command == "disputes":
        return asyncio.run(ledger_cli.resolve_disputes(url, _say))
    directory = args.acquirer_dir or ledger_cli.acquirer_dir(settings.data_dir)
    # With an acquirer role, its records are the acquirer's file (downloaded first).
    acquirer = (
        ledger_cli.AcquirerRole(
            settings.acquirer_target,
            settings.acquirer_service_token.reveal(),
            settings.acquirer_timeout,
            settings.orbit_url,
            settings.kora_url,
            settings.wallet_url,
            settings.netbanking_url,
        )
        if settings.acquirer_target
        else None
    )
    return asyncio.run(
        ledger_cli.run_reconcile(
            url,
            args.date,
            _say,
            files=list(args.acquirer_file),
            directory=directory,
            acquirer=acquirer,
        )
    )


def _limits(settings: Settings, args: argparse.Namespace) -> int:
    from servers.cli import limits as limits_cli

    resolved = _with_database(settings, "limits")
    if resolved is None:
        return 2
    return asyncio.run(
        limits_cli.set_limits(
            resolved.database_url, args.merchant, args.route_class, args.limits, _say
        )
    )


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _up(settings: Settings, args: argparse.Namespace) -> int:
    from servers.runtime.launcher import up

    overrides = {
        "data_dir": args.data_dir,
        "http_port": args.http_port,
        "grpc_port": args.grpc_port,
        "envoy_admin_port": args.admin_port,
        "api_processes": args.api_processes,
        "api_base_port": args.api_base_port,
        "web_port": args.web_port,
        "vault_processes": args.vault_processes,
    }
    settings = dataclasses.replace(
        settings, **{k: v for k, v in overrides.items() if v is not None}
    )
    if settings.api_processes < 1:
        _say("error", "--api-processes must be at least 1")
        return 2
    return up(settings)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="paygate", description="paygate payment gateway")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up", help="start the gateway: database, API, worker, web and Envoy (Ctrl-C stops it)"
    )
    up.add_argument("--data-dir", type=Path, help="folder for pg/, envoy.yaml, seed.json")
    up.add_argument("--http-port", type=int, help="REST/JSON and gRPC-Web port")
    up.add_argument("--grpc-port", type=int, help="native gRPC port")
    up.add_argument("--admin-port", type=int, help="Envoy admin port (127.0.0.1 only)")
    up.add_argument("--api-processes", type=int, help="number of API processes")
    up.add_argument("--api-base-port", type=int, help="port of the first API process")
    up.add_argument(
        "--web-port", type=int, help="port of the web process (3-D Secure page); 0: none"
    )
    up.add_argument(
        "--vault-processes",
        type=int,
        choices=(0, 1),
        help="1: the cardholder-data zone (vault role) in a process of its own; 0: in each",
    )

    commands.add_parser("migrate", help="bring the database schema to the newest revision")

    envoy = commands.add_parser(
        "envoy-config", help="render Envoy's configuration from the environment's settings"
    )
    envoy.add_argument("--out", type=Path, required=True, help="where to write envoy.yaml")

    vault = commands.add_parser("vault", help="vault maintenance")
    vault_commands = vault.add_subparsers(dest="vault_command", required=True)
    vault_commands.add_parser(
        "rotate",
        add_help=False,
        help="re-wrap data keys under the current KEK and re-encrypt old card data",
    )

    serve = commands.add_parser("serve", help="run one role in the foreground")
    serve.add_argument("--role", choices=sorted(ROLES), default="api")
    serve.add_argument("--listen", default="127.0.0.1:50061", help="HOST:PORT to listen on")

    fx = commands.add_parser("fx", help="FX rates")
    fx_commands = fx.add_subparsers(dest="fx_command", required=True, metavar="ACTION")
    load = fx_commands.add_parser("load", help="store the rates of a rates file (CSV)")
    load.add_argument("file", type=Path, help="base,quote,rate,as_of,source lines")

    settle = commands.add_parser("settle", help="settle one day (the daily batch)")
    settle.add_argument("--date", type=_day, required=True, help="the day, YYYY-MM-DD (UTC)")

    payouts = commands.add_parser("payouts", help="payouts")
    payouts_commands = payouts.add_subparsers(dest="payouts_command", required=True)
    payouts_commands.add_parser("run", help="automatic payouts after completed settlements")

    disputes = commands.add_parser("disputes", help="disputes")
    disputes_commands = disputes.add_subparsers(dest="disputes_command", required=True)
    disputes_commands.add_parser("resolve", help="close disputes whose decision time came")

    recon = commands.add_parser(
        "reconcile", help="compare the ledger, payments and the acquirer's file of a day"
    )
    recon.add_argument("--date", type=_day, required=True, help="the day, YYYY-MM-DD (UTC)")
    recon.add_argument(
        "--acquirer-file",
        type=Path,
        action="append",
        default=[],
        help="the acquirer's settlement file of the day (repeatable); default: the files "
        "of the day in --acquirer-dir (with PAYGATE_ACQUIRER_TARGET set, the acquirer "
        "role's records, downloaded there first)",
    )
    recon.add_argument(
        "--acquirer-dir", type=Path, help="folder of settlement files (default <data_dir>/acquirer)"
    )

    limits = commands.add_parser("limits", help="rate limits")
    limits_commands = limits.add_subparsers(dest="limits_command", required=True)
    limits_set = limits_commands.add_parser(
        "set", help="set a merchant's own limits for a route class (none: the defaults)"
    )
    limits_set.add_argument(
        "--merchant", action="append", required=True, help="acct_... (repeatable)"
    )
    limits_set.add_argument(
        "--class", dest="route_class", required=True, help="route class, e.g. payments_create"
    )
    limits_set.add_argument("limits", nargs="*", help="e.g. 1000/second 1000000/hour")
    tls = commands.add_parser("tls", help="certificates for Envoy's TLS")
    tls_commands = tls.add_subparsers(dest="tls_command", required=True, metavar="ACTION")
    selfsigned = tls_commands.add_parser(
        "selfsigned", help="write a development CA and a certificate for 127.0.0.1/localhost"
    )
    selfsigned.add_argument("--dir", type=Path, help="where to write (default <data_dir>/tls)")
    webhooks.add_commands(commands)
    merchant.add_commands(commands)
    return root


def _tls(settings: Settings, args: argparse.Namespace) -> int:
    from servers.runtime.tls import selfsigned

    files = selfsigned(args.dir or Path(settings.data_dir) / "tls")
    print(f"export PAYGATE_TLS_CERT_FILE={files.cert.resolve()}")
    print(f"export PAYGATE_TLS_KEY_FILE={files.key.resolve()}")
    print(f"# clients trust {files.ca.resolve()} (curl --cacert, PAYGATE_CA_FILE)")
    return 0


def _risk_rules_usable(settings: Settings) -> bool:
    """A rules file with a mistake stops the start before anything runs, naming the line."""
    from adapters.risk.rules_file import RulesFileError
    from servers.bootstrap.risk import ip_countries_of, rules_of

    try:
        rules_of(settings)
        ip_countries_of(settings)
    except RulesFileError as error:
        print(f"paygate: risk rules: {error}", file=sys.stderr)
        return False
    return True


def main(argv: Sequence[str] | None = None) -> None:
    args, rest = parser().parse_known_args(argv)
    settings = Settings.from_env()
    if args.command == "vault":
        sys.exit(_vault(settings, rest))
    if rest:
        parser().error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command in ("up", "serve") and not _risk_rules_usable(settings):
        sys.exit(2)
    if args.command == "up":
        code = _up(settings, args)
    elif args.command == "migrate":
        code = _migrate(settings)
    elif args.command == "envoy-config":
        code = _envoy_config(settings, args.out)
    elif args.command == "serve":
        code = _serve(settings, args.role, args.listen)
    elif args.command == "limits":
        code = _limits(settings, args)
    elif args.command == "tls":
        code = _tls(settings, args)
    elif args.command in merchant.COMMANDS:
        code = merchant.run(args)
    elif args.command in ("listen", "trigger", "webhooks"):
        code = webhooks.run(settings, args)
    else:
        code = _ledger(settings, args)
    sys.exit(code)


if __name__ == "__main__":
    main()
