"""What each command does: glue between the parsed arguments, the library and the console."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict

from rich.console import Console
from rich.text import Text

from provisioner import fingerprint, inventory, localhosts, parity, paths, secrets, verify
from provisioner.errors import EXIT_DRIFT, EXIT_FAILED, EXIT_OK
from provisioner.model import LoadedSource, LocalProvider, load_source
from provisioner.progress import (
    LiveProgress,
    diff_table,
    fingerprint_table,
    live_diff_table,
    print_changes,
    summary_table,
)
from provisioner.runner import RunRequest, RunResult, run_playbook


def run(args: argparse.Namespace, console: Console) -> int:
    handler: Callable[[argparse.Namespace, Console], int] = HANDLERS[args.command]
    return handler(args, console)


def _say(console: Console) -> Callable[[str], None]:
    return lambda line: console.print(Text(f"• {line}", style="dim"))


def _generate(loaded: LoadedSource, envs: list[str] | None, console: Console) -> None:
    generated = inventory.render_all(loaded, envs)
    for path in inventory.write(generated):
        console.print(Text(f"• wrote {paths.display(path)}", style="dim"))


def cmd_inventory(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    if args.check:
        problems = inventory.check(inventory.render_all(loaded, args.envs or None))
        for problem in problems:
            console.print(Text(problem, style="red"))
        if problems:
            console.print("inventories are stale: run `python provision.py inventory`")
            return EXIT_FAILED
        console.print("inventories are current")
        return EXIT_OK
    _generate(loaded, args.envs or None, console)
    return EXIT_OK


def _run_site(
    args: argparse.Namespace, console: Console, check: bool, start_hosts: bool
) -> RunResult:
    """Validate, generate, (start local hosts,) and run site.yml with live progress."""
    loaded = load_source(args.source)
    env = loaded.environment(args.env)
    _generate(loaded, None, console)
    if start_hosts and isinstance(env.provider, LocalProvider):
        localhosts.up(args.env, env, _say(console))
    vault = secrets.vault_for(args.env, env)
    request = RunRequest(
        env=args.env,
        limit=getattr(args, "limit", None),
        tags=getattr(args, "tags", None),
        check=check,
        verbosity=getattr(args, "verbose", 0),
        vault_args=tuple(vault.cmdline()),
    )
    with LiveProgress(console, args.env, len(env.hosts), verbose=request.verbosity > 0) as live:
        result = run_playbook(request, on_event=live.on_event)
    console.print(summary_table(result))
    result.write_summary(paths.state_dir("runs", args.env) / "last-run.json")
    return result


def cmd_apply(args: argparse.Namespace, console: Console) -> int:
    result = _run_site(args, console, check=args.check, start_hosts=True)
    if args.check:
        print_changes(console, result.changes)
    if result.succeeded:
        verb = "would change" if args.check else "changed"
        console.print(f"[green]{args.env}: ok[/], {result.changed} tasks {verb}")
        return EXIT_OK
    console.print(f"[red]{args.env}: {result.status}[/]; artifacts in {result.artifacts}")
    return EXIT_FAILED


def cmd_drift(args: argparse.Namespace, console: Console) -> int:
    """Check mode with diffs against the live hosts: exit 3 when anything would change."""
    result = _run_site(args, console, check=True, start_hosts=False)
    print_changes(console, result.changes)
    if not result.succeeded:
        console.print(f"[red]{args.env}: drift check incomplete ({result.status})[/]")
        return EXIT_FAILED
    if result.changes:
        hosts = sorted({c.host for c in result.changes})
        console.print(
            f"[yellow]{args.env}: drift on {len(hosts)} host(s): {', '.join(hosts)}; "
            f"{len(result.changes)} task(s) would change[/]"
        )
        return EXIT_DRIFT
    console.print(f"[green]{args.env}: no drift[/]")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    env = loaded.environment(args.env)
    _generate(loaded, None, console)
    return verify.run(args.env, env, junit_xml=args.junit_xml)


def _fingerprints(
    loaded: LoadedSource, env_name: str, console: Console
) -> dict[str, fingerprint.HostPrint]:
    env = loaded.environment(env_name)
    vault = secrets.vault_for(env_name, env)
    with LiveProgress(console, env_name, len(env.hosts)) as live:
        prints, _ = fingerprint.collect(env_name, tuple(vault.cmdline()), on_event=live.on_event)
    return prints


def cmd_fingerprint(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    loaded.environment(args.env)
    _generate(loaded, None, console)
    prints = _fingerprints(loaded, args.env, console)
    if args.json:
        console.print_json(json.dumps({host: asdict(p) for host, p in prints.items()}))
    else:
        console.print(fingerprint_table(args.env, prints))
    return EXIT_OK


def cmd_diff(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    envs = [args.env_a, args.env_b]
    for name in envs:
        loaded.environment(name)
    if args.live:
        return _live_diff(args, loaded, envs, console)
    found = parity.differences(loaded, envs)
    violations = [d for d in found if not d.allowed]
    if args.json:
        console.print_json(
            json.dumps({"environments": envs, "differences": [d.as_dict() for d in found]})
        )
    else:
        console.print(diff_table(envs, found))
        console.print(
            f"{len(found)} differences between {envs[0]} and {envs[1]}, "
            f"{len(violations)} not allowed by the parity contract"
        )
    return EXIT_FAILED if violations else EXIT_OK


def _live_diff(
    args: argparse.Namespace, loaded: LoadedSource, envs: list[str], console: Console
) -> int:
    _generate(loaded, None, console)
    prints = {env: _fingerprints(loaded, env, console) for env in envs}
    found = fingerprint.compare(loaded, envs, prints)
    unexplained = [d for d in found if not d.explained]
    if args.json:
        console.print_json(
            json.dumps({"environments": envs, "differences": [d.as_dict() for d in found]})
        )
    else:
        console.print(live_diff_table(envs, found))
        console.print(
            f"{len(found)} live differences between {envs[0]} and {envs[1]}, "
            f"{len(unexplained)} not explained by the parity contract"
        )
    return EXIT_FAILED if unexplained else EXIT_OK


def cmd_up(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    env = loaded.environment(args.env)
    _generate(loaded, None, console)
    localhosts.up(args.env, env, _say(console))
    console.print(f"{args.env}: {len(env.hosts)} local hosts up")
    return EXIT_OK


def cmd_down(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    env = loaded.environment(args.env)
    if not isinstance(env.provider, LocalProvider):
        console.print(f"{args.env} runs on real servers: nothing local to remove")
        return EXIT_OK
    localhosts.down(args.env, _say(console))
    console.print(f"{args.env}: local hosts removed")
    return EXIT_OK


def cmd_image(args: argparse.Namespace, console: Console) -> int:
    console.print(localhosts.ensure_image(_say(console)))
    return EXIT_OK


HANDLERS: dict[str, Callable[[argparse.Namespace, Console], int]] = {
    "apply": cmd_apply,
    "inventory": cmd_inventory,
    "verify": cmd_verify,
    "diff": cmd_diff,
    "drift": cmd_drift,
    "fingerprint": cmd_fingerprint,
    "up": cmd_up,
    "down": cmd_down,
    "image": cmd_image,
}
