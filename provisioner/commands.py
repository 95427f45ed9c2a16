"""What each command does: glue between the parsed arguments, the library and the console."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from rich.console import Console
from rich.text import Text

from provisioner import inventory, localhosts, paths, secrets, verify
from provisioner.errors import EXIT_FAILED, EXIT_OK
from provisioner.model import LoadedSource, LocalProvider, load_source
from provisioner.progress import LiveProgress, summary_table
from provisioner.runner import RunRequest, run_playbook


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


def cmd_apply(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    env = loaded.environment(args.env)
    _generate(loaded, None, console)
    if isinstance(env.provider, LocalProvider):
        localhosts.up(args.env, env, _say(console))
    vault = secrets.vault_for(args.env, env)
    request = RunRequest(
        env=args.env,
        limit=args.limit,
        tags=args.tags,
        check=args.check,
        verbosity=args.verbose,
        vault_args=tuple(vault.cmdline()),
    )
    with LiveProgress(console, args.env, len(env.hosts), verbose=args.verbose > 0) as live:
        result = run_playbook(request, on_event=live.on_event)
    console.print(summary_table(result))
    result.write_summary(paths.state_dir("runs", args.env) / "last-run.json")
    if result.succeeded:
        verb = "would change" if args.check else "changed"
        console.print(f"[green]{args.env}: ok[/], {result.changed} tasks {verb}")
        return EXIT_OK
    console.print(f"[red]{args.env}: {result.status}[/]; artifacts in {result.artifacts}")
    return EXIT_FAILED


def cmd_verify(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    env = loaded.environment(args.env)
    _generate(loaded, None, console)
    return verify.run(args.env, env, junit_xml=args.junit_xml)


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
    "up": cmd_up,
    "down": cmd_down,
    "image": cmd_image,
}
