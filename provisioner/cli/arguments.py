"""Command-line parsing: the commands, their options and the help text; nothing else lives here.

`provision.py ENV` is short for `provision.py apply ENV`. Exit codes: see EPILOG.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provisioner import paths

COMMANDS = {
    "apply": "provision an environment: generate, start local hosts, run playbooks/site.yml",
    "inventory": "generate inventories/<env>/ from the source of truth (or --check them)",
    "verify": "run the shared testinfra suite against an environment's hosts",
    "drift": "report every task that would change on the hosts, with diffs (exit 3 on drift)",
    "fingerprint": "read the hosts: packages, units, sockets, sysctl, users, config files, "
    "service settings",
    "diff": "what differs between two environments (variables, or --live the hosts), and may it",
    "plan": "dry run saved as a plan (what would change, with diffs) that can be approved",
    "approve": "approve a plan: another person may then apply it (environments that need it)",
    "history": "list recorded runs (plan, apply, verify, drift...), or --verify the ledger",
    "show": "everything recorded about one run: who, what, per-host stats, every diff",
    "gate": "the post-deploy gate: health, verification suite, load test (exit 5 if it fails)",
    "rollback": "switch every app host back to its previous release (or --to RELEASE)",
    "promote": "apply an environment with the bundle that passed the one it is promoted from",
    "quarantine": "is the bundle held since the gate rolled it back? (--lift it, with a reason)",
    "trust": "record the SSH host keys of a real environment's servers in known_hosts/<env>",
    "up": "start a local environment's hosts (podman containers) without provisioning",
    "down": "remove a local environment's hosts and network",
    "image": "build the local images (hosts, execution nodes) from Debian's packages",
    "cache": "start the package cache for local hosts (apt-cacher-ng) and show how it is used",
    "executors": "start a local environment's execution nodes, or --setup real hosts as ones",
    "report": "write the web report (runs, parity, plans, drift, evidence) as a static site",
    "serve": "serve the web report on 127.0.0.1, regenerated as the ledger changes",
}

EPILOG = """\
examples:
  provision.py staging                 provision staging (same as: provision.py apply staging)
  provision.py staging --check         show what would change, change nothing
  provision.py inventory --check       fail when inventories/ is stale
  provision.py verify staging          test staging's hosts with the shared suite
  provision.py down qa                 remove qa's local hosts
  provision.py diff staging prod       what differs between staging and prod, and may it
  provision.py diff staging prod --live  the same, read from the hosts, with line diffs
  provision.py diff prod --since-last-apply
                                       what changed on prod's hosts since its last good deploy
  provision.py plan prod               save what a prod apply would change, as a plan
  provision.py approve prod PLAN_ID    (someone else) approve it; then: provision.py prod
  provision.py gate staging            health, verification and load test of staging
  provision.py rollback staging        every app host back to its previous release
  provision.py promote staging prod    apply prod with the bundle that passed staging
  provision.py quarantine prod --lift --reason "the gate failed on a flaky load test"
                                       deploy a bundle the gate rolled back again (recorded)
  provision.py staging --executor ssh://root@198.18.2.250
                                       run Ansible on an execution node (ansible-runner worker)
  provision.py staging --executors ssh://root@198.18.2.250,ssh://root@198.18.2.249
                                       split the hosts over two nodes, one result
  provision.py history --verify        check the run ledger's hash chain and signatures
  provision.py history --export        the ledger as JSON Lines, for a SIEM
  provision.py report                  write the web report to .state/report/ (open index.html)
  provision.py serve --port 8080       the same pages on http://127.0.0.1:8080/, kept current
  provision.py executors staging       start and set up 2 local execution nodes for staging
  provision.py executors --setup ssh://admin@runner1.example.com
                                       make a real host an execution node

exit codes: 0 success, 1 a host failed or was unreachable (or the environment is locked),
            2 bad input or usage, 3 drift found (drift), 4 refused by the approval or
            promotion gate, 5 the post-deploy gate failed (rolled back if the release changed),
            6 a host is short of capacity (pre-flight; nothing changed),
            130/143 interrupted (Ctrl-C / SIGTERM)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="provision.py",
        description="Provision qa, staging and prod identically from one source of truth.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--source",
        type=Path,
        default=paths.DEFAULT_SOURCE,
        metavar="PATH",
        help="source of truth to read (default: environments.yml)",
    )
    common.add_argument(
        "--key",
        type=Path,
        metavar="PATH",
        help="SSH key to sign with: a private key, or a public key whose private half is in "
        "ssh-agent (default: $PROVISION_SIGNING_KEY, else ~/.ssh/id_ed25519)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    apply = sub.add_parser(
        "apply", parents=[common], help=COMMANDS["apply"], description=COMMANDS["apply"]
    )
    apply.add_argument("env", help="environment name, e.g. staging")
    apply.add_argument("--limit", help="only these hosts or groups (Ansible pattern)")
    apply.add_argument("--tags", help="only tasks with these tags, e.g. common")
    apply.add_argument(
        "--full",
        action="store_true",
        help="run every host, also those unchanged since the last good apply (which an apply "
        "otherwise skips)",
    )
    apply.add_argument(
        "--check",
        action="store_true",
        help="dry run: report what would change, with diffs, change nothing",
    )
    apply.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="print Ansible's output (repeat for more)",
    )
    apply.add_argument(
        "--accept-live-differences",
        metavar="REASON",
        help="apply although the approved plan found unexplained live differences from the "
        "environment this one is promoted from (the reason and the differences are recorded)",
    )
    _add_executor_options(apply)

    inventory = sub.add_parser(
        "inventory", parents=[common], help=COMMANDS["inventory"], description=COMMANDS["inventory"]
    )
    inventory.add_argument(
        "envs", nargs="*", metavar="ENV", help="environments to generate (default: all)"
    )
    inventory.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any generated file is stale"
    )

    verify = sub.add_parser(
        "verify", parents=[common], help=COMMANDS["verify"], description=COMMANDS["verify"]
    )
    verify.add_argument("env")
    verify.add_argument(
        "--junit-xml",
        type=Path,
        metavar="PATH",
        help="also write the results as JUnit XML (for CI)",
    )

    drift = sub.add_parser(
        "drift", parents=[common], help=COMMANDS["drift"], description=COMMANDS["drift"]
    )
    drift.add_argument("env")
    drift.add_argument("--limit", help="only these hosts or groups (Ansible pattern)")
    drift.add_argument("-v", "--verbose", action="count", default=0)
    _add_executor_options(drift)

    _add_diff_commands(sub, common)

    plan = sub.add_parser(
        "plan", parents=[common], help=COMMANDS["plan"], description=COMMANDS["plan"]
    )
    plan.add_argument("env")
    plan.add_argument("-v", "--verbose", action="count", default=0)
    _add_executor_options(plan)
    approve = sub.add_parser(
        "approve", parents=[common], help=COMMANDS["approve"], description=COMMANDS["approve"]
    )
    approve.add_argument("env")
    approve.add_argument("plan_id", metavar="PLAN_ID")
    approve.add_argument(
        "--reason", default="", metavar="TEXT", help="why (signed with the approval, shown with it)"
    )
    _add_history_command(sub)
    show = sub.add_parser("show", help=COMMANDS["show"], description=COMMANDS["show"])
    show.add_argument("run_id", metavar="RUN_ID")

    _add_release_commands(sub, common)

    trust = sub.add_parser(
        "trust", parents=[common], help=COMMANDS["trust"], description=COMMANDS["trust"]
    )
    trust.add_argument("env")

    for name in ("up", "down"):
        cmd = sub.add_parser(
            name, parents=[common], help=COMMANDS[name], description=COMMANDS[name]
        )
        cmd.add_argument("env")
    _add_image_and_cache_commands(sub)
    _add_executors_command(sub, common)
    _add_report_commands(sub, common)
    return parser


def _add_report_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    report = sub.add_parser(
        "report", parents=[common], help=COMMANDS["report"], description=COMMANDS["report"]
    )
    _add_out(report, "where to write it (default: .state/report/); replaces the report there")
    report.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 unless DIR holds a report whose index shows every environment",
    )
    serve = sub.add_parser(
        "serve", parents=[common], help=COMMANDS["serve"], description=COMMANDS["serve"]
    )
    serve.add_argument(
        "--port", type=int, default=8080, metavar="N", help="port on 127.0.0.1 (default 8080)"
    )
    _add_out(serve, "where the served site is written (default: .state/report/)")


def _add_history_command(sub: Any) -> None:
    history = sub.add_parser("history", help=COMMANDS["history"], description=COMMANDS["history"])
    history.add_argument("env", nargs="?", help="only this environment")
    history.add_argument(
        "--verify",
        action="store_true",
        help="check the hash chain, the signed checkpoints and the witness in .state: exit 1 "
        "and name every edited, deleted or re-chained entry",
    )
    history.add_argument(
        "--strict",
        action="store_true",
        help="with --verify: entries after the last signed checkpoint fail it too",
    )
    history.add_argument(
        "--export",
        action="store_true",
        help="write every entry as JSON Lines (for a SIEM), with its checkpoint if signed there",
    )
    history.add_argument(
        "--out", type=Path, metavar="FILE", help="with --export: write here (default: stdout)"
    )
    history.add_argument(
        "--limit", type=_count(1, 10_000), default=50, help="how many runs (default 50)"
    )


def _add_out(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--out", type=Path, default=paths.REPORT, metavar="DIR", help=what)


def _add_image_and_cache_commands(sub: Any) -> None:
    sub.add_parser("image", help=COMMANDS["image"], description=COMMANDS["image"])
    cache = sub.add_parser("cache", help=COMMANDS["cache"], description=COMMANDS["cache"])
    cache.add_argument(
        "--optional",
        action="store_true",
        help="exit 0 when the cache cannot start (it says why; hosts then use the mirror)",
    )


def _add_executors_command(sub: Any, common: argparse.ArgumentParser) -> None:
    executors = sub.add_parser(
        "executors",
        parents=[common],
        help=COMMANDS["executors"],
        description=COMMANDS["executors"]
        + ". Prints the nodes' ssh:// URLs; their host keys go to .state/executors/known_hosts.",
    )
    executors.add_argument("env", nargs="?", metavar="ENV", help="a local environment")
    executors.add_argument(
        "--count", type=int, metavar="N", help="how many local execution nodes (default 2)"
    )
    executors.add_argument(
        "--setup",
        nargs="+",
        metavar="URL",
        help="set up these hosts instead, each ssh://[user@]host[:port]",
    )
    executors.add_argument(
        "--index",
        action="store_true",
        help="the nodes install from their own package index instead of this machine's wheels",
    )


def _add_executor_options(parser: argparse.ArgumentParser) -> None:
    """Where Ansible runs (default: the environment's `executor` in the source, else here)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--executor",
        dest="executors",
        metavar="URL",
        help="run Ansible on this execution node (ssh://[user@]host[:port]); 'local': here",
    )
    where.add_argument(
        "--executors",
        dest="executors",
        metavar="URL,URL,...",
        help="split the hosts into one slice per execution node and run the slices in parallel",
    )


def _add_release_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """gate, rollback, promote: what happens around a deploy."""
    gate = sub.add_parser(
        "gate", parents=[common], help=COMMANDS["gate"], description=COMMANDS["gate"]
    )
    gate.add_argument("env")
    rollback = sub.add_parser(
        "rollback", parents=[common], help=COMMANDS["rollback"], description=COMMANDS["rollback"]
    )
    rollback.add_argument("env")
    rollback.add_argument(
        "--to", metavar="RELEASE", help="this release (still on the hosts) instead of the previous"
    )
    held = sub.add_parser(
        "quarantine",
        parents=[common],
        help=COMMANDS["quarantine"],
        description=COMMANDS["quarantine"],
    )
    held.add_argument("env")
    held.add_argument(
        "--lift",
        action="store_true",
        help="let the next apply deploy the held bundle again (needs --reason; recorded)",
    )
    held.add_argument("--reason", metavar="TEXT", help="why it may be deployed again")
    promote = sub.add_parser(
        "promote", parents=[common], help=COMMANDS["promote"], description=COMMANDS["promote"]
    )
    promote.add_argument("source_env", metavar="FROM")
    promote.add_argument("env", metavar="TO")
    promote.add_argument("-v", "--verbose", action="count", default=0)
    promote.add_argument("--full", action="store_true", help="as for apply: run every host")
    promote.add_argument(
        "--accept-live-differences",
        metavar="REASON",
        help="as for apply: go on despite the plan's unexplained live differences (recorded)",
    )


def with_default_command(argv: list[str]) -> list[str]:
    """`provision.py staging ...` means `provision.py apply staging ...`."""
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        return ["apply", *argv]
    return argv


def _add_diff_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """diff and fingerprint: what differs, in the source or on the hosts."""
    diff = sub.add_parser(
        "diff", parents=[common], help=COMMANDS["diff"], description=COMMANDS["diff"]
    )
    diff.add_argument("env_a", metavar="ENV_A")
    diff.add_argument("env_b", metavar="ENV_B", nargs="?", help="(not with --since-last-apply)")
    diff.add_argument("--json", action="store_true", help="print JSON instead of a table")
    diff.add_argument(
        "--live",
        action="store_true",
        help="compare the hosts' fingerprints instead of the configured variables",
    )
    diff.add_argument(
        "--since-last-apply",
        action="store_true",
        help="compare ENV_A's hosts now with their fingerprint at its last gated apply",
    )

    fingerprint = sub.add_parser(
        "fingerprint",
        parents=[common],
        help=COMMANDS["fingerprint"],
        description=COMMANDS["fingerprint"],
    )
    fingerprint.add_argument("env")
    fingerprint.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _count(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high]. A bare int let 99999999999999999999
    through to SQLite, which cannot hold it (OverflowError, a traceback)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse
