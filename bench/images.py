"""Image benchmark: the local images built one after the other against side by side.

    .venv/bin/python -m bench.images [--repeat 2]

What `provision.py image` (and so the `image` stage of `make test`) does on a machine without
the images: build the hosts' image (Debian 12) and the execution nodes' (Debian 13), each a
debootstrap through the package cache. Alternated `--repeat` times, each round on no image:

  (one by one)  localhosts.ensure_image for each image in turn: what the tool did before
  (side by side) localhosts.ensure_images: both builds at once

Prints the medians and the ratio (above 1.00x: side by side is faster). The images are removed
before each round and left built at the end. The package cache is as the machine has it (warm
after the first round): the first round's figures include its downloads. A round that failed is
named in red, no ratio is printed and the exit code is 1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from bench.run import machine
from provisioner.errors import HostError
from provisioner.hosts import execnodes, localhosts

IMAGES = (localhosts.HOST_IMAGE, execnodes.EXEC_IMAGE)


def remove_images() -> None:
    for image in IMAGES:
        for name in (localhosts.image_tag(image), f"{image.repo}:latest"):
            localhosts.podman("rmi", "-f", name, check=False)


def one_by_one() -> None:
    for image in IMAGES:
        localhosts.ensure_image(image=image)


def side_by_side() -> None:
    localhosts.ensure_images(IMAGES)


def timed(build: Callable[[], None]) -> float | str:
    """Seconds to build both images from none, or why the build failed."""
    remove_images()
    started = time.monotonic()
    try:
        build()
    except HostError as exc:
        return str(exc).splitlines()[0]
    return time.monotonic() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.images", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--repeat", type=int, default=2, help="alternated rounds (default 2)")
    args = parser.parse_args(argv)
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    os.umask(0o077)
    console = Console(highlight=False)
    console.print(f"machine: {machine()}")
    variants = {"one by one": one_by_one, "side by side": side_by_side}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    failed: list[str] = []
    for round_ in range(1, max(1, args.repeat) + 1):
        for name, build in variants.items():
            took = timed(build)
            if isinstance(took, str):
                failed.append(f"round {round_}, {name}: {took}")
                continue
            seconds[name].append(took)
            console.print(f"round {round_}: {name} {took:.1f} s")
    console.print(f"machine after: {machine()}")
    for line in failed:
        console.print(f"[bold red]bench: FAILED: {line}[/]")
    if failed:
        return 1
    before, after = (statistics.median(seconds[name]) for name in variants)
    console.print(
        f"both images, medians of {len(seconds['side by side'])}: one by one {before:.1f} s, "
        f"side by side {after:.1f} s: {before / after:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
