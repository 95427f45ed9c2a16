"""The commands that sign or check signatures: approve (a signed approval), history (--verify:
the chain, the signed checkpoints and the witness; --export: JSON Lines), and the checkpoint of
the ledger's head signed after every command that wrote to it (trust/)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console
from rich.text import Text

from provisioner.cli.tables import history_table
from provisioner.deploy import approval
from provisioner.deploy.observer import escaped, printable
from provisioner.errors import EXIT_FAILED, EXIT_OK, ApprovalError, InputError, ProvisionerError
from provisioner.ledger import export
from provisioner.ledger.ledger import Ledger, open_ledger
from provisioner.source.model import load_source
from provisioner.trust import approvals as trust_approvals
from provisioner.trust import binding, checkpoints, statements
from provisioner.trust.principals import same
from provisioner.trust.signers import APPROVE, KEY_ENV, default_key, namespace, signing_key
from provisioner.trust.signers import for_env as signers_for
from provisioner.trust.signers import for_ledger as signers_for_ledger

# Commands that write to the ledger: their head is signed after them, when a key is at hand.
WRITERS = frozenset({"apply", "plan", "approve", "promote", "rollback", "gate", "verify", "drift"})


def cmd_approve(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    env = loaded.environment(args.env)
    signers = signers_for(args.env, env)
    ledger = open_ledger()
    if env.approval_required:
        note = binding.check(args.env, env, ledger.name)
        if note:
            console.print(escaped(note))
    plans = ledger.entries(kind=approval.PLAN, env=args.env, run_id=args.plan_id)
    if not plans:
        raise InputError(f"no plan {args.plan_id!r} for {args.env} in the ledger")
    signer = statements.signer(signing_key(args.key), signers, namespace(APPROVE, args.env))
    try:
        planner = trust_approvals.planner(args.env, plans[-1], signers)
    except ValueError as exc:
        raise ApprovalError(f"{args.env}: plan {args.plan_id} cannot be approved: {exc}") from None
    if same(planner, signer.principal):
        raise ApprovalError(
            f"{args.env}: plan {args.plan_id} was planned by {planner}; an approval must come "
            f"from someone else (self-approval), not from {signer.principal}"
        )
    signed = signer.sign(trust_approvals.approval_fields(args.env, plans[-1], args.reason))
    entry = ledger.append(
        approval.APPROVAL,
        args.env,
        {
            "plan_id": args.plan_id,
            "approver": signer.principal,
            "planner": planner,
            "reason": args.reason,
            **signed,
        },
    )
    console.print(
        f"{args.env}: plan {escaped(args.plan_id)} approved by {escaped(signer.principal)} "
        f"(entry {entry.id}, signed; signers: {escaped(str(signers))})"
    )
    if args.reason:
        console.print(f"reason: {escaped(args.reason)}")
    return EXIT_OK


def cmd_history(args: argparse.Namespace, console: Console) -> int:
    if args.out is not None and not args.export:
        raise InputError("history --out FILE goes with --export")
    if args.strict and not args.verify:
        raise InputError("history --strict goes with --verify")
    if args.export and args.verify:
        raise InputError("history: --verify or --export, one at a time")
    ledger = open_ledger()
    if args.export:
        return _export(ledger, args.out, console)
    if args.verify:
        return _verify(ledger, console, strict=args.strict)
    console.print(history_table(ledger.runs(env=args.env, limit=args.limit)))
    return EXIT_OK


def _verify(ledger: Ledger, console: Console, *, strict: bool) -> int:
    signers = signers_for_ledger()
    report = checkpoints.verify(ledger, signers)
    problems = ledger.verify() + report.problems
    count = len(ledger.chain()[0])
    if report.unsigned:
        first = count - report.unsigned + 1
        unsigned = (
            f"{report.unsigned} entries after the last signed checkpoint "
            f"(entries {first} to {count}) are not signed"
        )
        if strict:
            problems.append(unsigned)
        else:
            report.notes.append(unsigned + " (--strict fails on them)")
    for problem in problems:
        console.print(Text(printable(problem), style="red"), soft_wrap=True)
    for note in report.notes:
        console.print(Text(printable(note)), soft_wrap=True)
    console.print(Text(f"signers: {signers}"), soft_wrap=True)
    if report.signed_head is not None:  # printed for CI logs: the team's copy of the head
        console.print(Text(printable(f"signed head: {report.signed_head}")), soft_wrap=True)
    if problems:
        console.print(f"[red]ledger {escaped(ledger.where)}: {len(problems)} problem(s)[/]")
        return EXIT_FAILED
    console.print(f"[green]ledger {escaped(ledger.where)}: intact[/], {count} entries")
    return EXIT_OK


def _export(ledger: Ledger, out: Path | None, console: Console) -> int:
    lines = export.lines(ledger)
    if out is None:
        for line in lines:  # data, not markup: written as it is
            console.file.write(line + "\n")
        return EXIT_OK
    export.write(out, lines)
    console.print(f"{len(lines)} entries written to {escaped(str(out))}")
    return EXIT_OK


def sign_ledger_head(args: argparse.Namespace, say: Console) -> None:
    """After a command that wrote to the ledger: sign a checkpoint of its head with the
    writer's key, if they have one listed for the ledger. Never fails the command: a head left
    unsigned shows as unsigned entries in `history --verify`."""
    if args.command not in WRITERS:
        return
    explicit = getattr(args, "key", None) is not None or bool(os.environ.get(KEY_ENV))
    try:
        key = signing_key(args.key) if explicit else default_key()
        if key is None:
            return
        signers = signers_for_ledger()
        if not explicit and not _listed(key, signers.path):
            return  # ~/.ssh/id_ed25519 of someone not in the file: not even tried
        with open_ledger() as ledger:
            point = checkpoints.sign_head(ledger, key, signers)
    except ApprovalError as exc:  # the key is not listed for the ledger
        if explicit:
            say.print(Text(printable(f"ledger head not signed: {exc}")), soft_wrap=True)
        return
    except (ProvisionerError, ValueError, OSError) as exc:
        say.print(Text(printable(f"warning: ledger head not signed: {exc}")), soft_wrap=True)
        return
    if point is not None:
        say.print(Text(printable(f"ledger head signed: {point}")), soft_wrap=True)


def _listed(key: Path, signers: Path) -> bool:
    """Whether the public half next to `key` appears in the signers file: a lookup that decides
    whether to try signing at all (ssh-keygen decides whether it counts)."""
    public = key if key.suffix == ".pub" else key.with_name(key.name + ".pub")
    try:
        fields = public.read_text(encoding="utf-8").split()
        listed = signers.read_text(encoding="utf-8")
    except (OSError, UnicodeError):
        return False
    blob = fields[1:2]  # "ssh-ed25519 AAAA... comment": the key itself
    return bool(blob) and blob[0] in listed
