"""The results of ``make bench``: rows of ratios and goals, as Markdown, JSON and a PNG chart."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Row:
    """One benchmark line: ours vs its baseline, the ratio, the goal, and whether it was met."""

    name: str
    ours: float | None
    """None: not measured (``why`` says why)."""
    baseline: float | None
    unit: str
    ratio: float | None
    goal: str
    met: bool | None
    """None: no goal, or not measured."""
    why: str = ""
    baseline_label: str = "baseline"
    noise: str = ""
    """The run-to-run noise of this comparison, e.g. ``±0.31 ms`` (empty: not estimated)."""
    within_noise: bool = False
    """The difference is no larger than the noise: reported as such, not as a ratio."""

    def ratio_text(self) -> str:
        if self.within_noise:
            return f"within noise ({self.noise})"
        if self.ratio is None:
            return "—"
        return f"{self.ratio:.2f}x" + (f" (noise {self.noise})" if self.noise else "")


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    python: str
    system: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @classmethod
    def here(cls) -> Machine:
        cpu = platform.processor() or "unknown CPU"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        return cls(
            cpu=cpu,
            cores=os.cpu_count() or 0,
            python=sys.version.split()[0],
            system=f"{platform.system()} {platform.release()}",
            load_before=os.getloadavg(),
        )

    def describe(self) -> str:
        return (
            f"{self.cores} × {self.cpu}, {self.system}, Python {self.python}; load average "
            f"{self.load_before[0]:.2f} before, {self.load_after[0]:.2f} after "
            f"(started {self.started})"
        )


def _number(value: float | None, unit: str = "") -> str:
    if value is None or value != value:  # None or NaN: not measured
        return "—"
    whole = float(value).is_integer() and unit == "calls"
    text = f"{value:.0f}" if whole or abs(value) >= 100 else f"{value:.2f}"
    return f"{text} {unit}".strip()


def _verdict(row: Row) -> str:
    if row.met is None:
        return "—"
    return "met" if row.met else "**missed**"


def markdown(rows: Sequence[Row], machine: Machine, extra: Sequence[str] = ()) -> str:
    lines = [
        "| benchmark | qbizfed | baseline | ratio | goal | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        baseline = _number(r.baseline, r.unit)
        if r.baseline is not None:
            baseline = f"{baseline} ({r.baseline_label})"
        lines.append(
            f"| {r.name} | {_number(r.ours, r.unit)} | {baseline} | {r.ratio_text()} | "
            f"{r.goal} | {_verdict(r)} |"
        )
    lines += ["", f"Machine: {machine.describe()}.", ""]
    notes = [f"- {r.name}: {_verdict(r)}. {r.why}".rstrip() for r in rows if r.why]
    if notes:
        lines += ["Notes:", "", *notes, ""]
    lines += list(extra)
    return "\n".join(lines).rstrip() + "\n"


def write_json(path: Path, rows: Sequence[Row], machine: Machine, details: dict[str, Any]) -> None:
    document = {"machine": asdict(machine), "rows": [asdict(r) for r in rows], "details": details}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def write_chart(path: Path, rows: Sequence[Row]) -> None:
    """One small panel per benchmark with a baseline: qbizfed and baseline side by side."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r.baseline is not None and r.ours is not None]
    columns = 3
    rows_needed = max(1, -(-len(shown) // columns))
    figure, axes = plt.subplots(rows_needed, columns, figsize=(4 * columns, 3 * rows_needed))
    flat = list(axes.flat)  # always an array: ``columns`` is 3
    for axis, row in zip(flat, shown, strict=False):
        assert row.baseline is not None
        assert row.ours is not None
        bars = axis.bar(
            [row.baseline_label, "qbizfed"], [row.baseline, row.ours], color=["#999999", "#2b6cb0"]
        )
        axis.bar_label(bars, fmt="%.3g", fontsize=8)
        axis.set_title(row.name, fontsize=8, wrap=True)
        axis.set_ylabel(row.unit, fontsize=8)
        axis.tick_params(labelsize=8)
    for axis in flat[len(shown) :]:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
