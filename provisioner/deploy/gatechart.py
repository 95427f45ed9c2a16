"""The picture of a stepped gate run: latency percentiles and error rate against the offered
load, and the hosts' CPU and the database's connections against the same axis (PNG).

matplotlib with its Agg backend (no display) and its bundled DejaVu font: nothing is
downloaded, and the same input draws the same picture. Reads the steps as the ledger records
them (StepResult.as_dict), so a recorded run can be drawn again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

WIDTH_IN, HEIGHT_IN, DPI = 10, 7, 100  # 1000 x 700 pixels


def draw(steps: list[dict[str, Any]], out: Path, *, title: str) -> Path:
    """Write the chart of `steps` to `out` (atomically: a reader never sees half a PNG)."""
    if not steps:
        raise ValueError("no step to draw")
    # Imported here: matplotlib (and numpy) take a third of a second, which every command
    # that draws no chart (a no-op apply, `history`) would pay at start-up.
    import matplotlib as mpl  # noqa: PLC0415 - see above

    mpl.use("Agg")  # before pyplot: no display on a CI runner or over ssh
    from matplotlib import pyplot as plt  # noqa: PLC0415 - see above

    offered = [float(step["offered"]) for step in steps]
    figure, (latency, hosts) = plt.subplots(
        2, 1, sharex=True, figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI
    )
    try:
        latency.plot(offered, [s["p50_ms"] for s in steps], "o-", label="p50 latency")
        latency.plot(offered, [s["p95_ms"] for s in steps], "o-", label="p95 latency")
        latency.set_ylabel("latency (ms)")
        latency.set_ylim(bottom=0)
        errors = latency.twinx()
        errors.plot(
            offered, [100 * s["error_rate"] for s in steps], "x--", color="red", label="errors"
        )
        errors.set_ylabel("errors (%)")
        errors.set_ylim(bottom=0)
        _legend(latency, errors)
        names = sorted({host for step in steps for host in step.get("hosts", {})})
        for host in names:
            readings = [step.get("hosts", {}).get(host, {}) for step in steps]
            hosts.plot(
                offered, [_percent(r.get("cpu")) for r in readings], "o-", label=f"{host} CPU"
            )
            if any("db_share" in r for r in readings):
                hosts.plot(
                    offered,
                    [_percent(r.get("db_share")) for r in readings],
                    "s--",
                    label=f"{host} db connections / max",
                )
        hosts.set_ylabel("% of capacity")
        hosts.set_ylim(0, 100)
        hosts.set_xlabel("offered load (requests/s)")
        if names:
            hosts.legend(loc="upper left", fontsize="small")
        figure.suptitle(title, fontsize="small", wrap=True)
        partial = out.with_name(out.name + ".partial")
        figure.savefig(partial, format="png", dpi=DPI)
        os.replace(partial, out)
    finally:
        plt.close(figure)
    return out


def _percent(value: Any) -> float:
    return float("nan") if value is None else 100 * float(value)  # nan: a gap in the line


def _legend(*axes: Any) -> None:
    handles, labels = [], []
    for axis in axes:
        found = axis.get_legend_handles_labels()
        handles += found[0]
        labels += found[1]
    axes[0].legend(handles, labels, loc="upper left", fontsize="small")
