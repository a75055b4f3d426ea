"""Summaries of timing samples: percentiles (nearest rank), and comparisons with their noise."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in 0..100 (no interpolation)."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latency:
    """Milliseconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of_seconds(cls, samples: Sequence[float]) -> Latency:
        ms = [s * 1000 for s in samples]
        return cls(
            count=len(ms),
            p50=percentile(ms, 50),
            p95=percentile(ms, 95),
            p99=percentile(ms, 99),
            max=max(ms) if ms else math.nan,
        )

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def brief(self) -> str:
        return f"p50 {self.p50:.1f} ms, p95 {self.p95:.1f} ms, p99 {self.p99:.1f} ms"


@dataclass(frozen=True)
class Difference:
    """``ours - baseline`` for samples taken interleaved, with the run's own noise.

    The samples are cut into ``blocks`` consecutive blocks (in the order they were
    taken); the spread of the per-block differences of medians is the run-to-run noise
    of this very comparison. A difference no larger than that is *within noise*: it is
    reported as such, never as a ratio, since its sign could flip on the next run.
    """

    value: float
    noise: float
    blocks: int

    @property
    def within_noise(self) -> bool:
        return abs(self.value) <= self.noise

    def brief(self, unit: str = "ms") -> str:
        if self.within_noise:
            return f"within noise ({self.value:+.2f} {unit}, noise ±{self.noise:.2f} {unit})"
        return f"{self.value:+.2f} {unit} (noise ±{self.noise:.2f} {unit})"


def half_range(values: Sequence[float]) -> float:
    return (max(values) - min(values)) / 2 if values else math.nan


def median_difference(
    ours: Sequence[float], baseline: Sequence[float], *, blocks: int = 5
) -> Difference:
    """Difference of medians of two interleaved series, and its block-to-block noise."""
    count = min(len(ours), len(baseline))
    blocks = max(1, min(blocks, count))
    size = count // blocks if blocks else 0
    per_block = [
        percentile(ours[i * size : (i + 1) * size], 50)
        - percentile(baseline[i * size : (i + 1) * size], 50)
        for i in range(blocks)
    ]
    value = percentile(ours, 50) - percentile(baseline, 50)
    return Difference(value=value, noise=half_range(per_block), blocks=blocks)


@dataclass(frozen=True)
class RatioWithNoise:
    """A ratio of totals over alternating phases, with the spread of the per-phase ratios.

    A ratio whose distance from 1 is no larger than that spread is *within noise*.
    """

    ratio: float
    noise: float
    phases: int

    @property
    def within_noise(self) -> bool:
        return abs(self.ratio - 1) <= self.noise

    def brief(self) -> str:
        if self.within_noise:
            return f"within noise (no difference beyond ±{self.noise:.2f} of 1x)"
        return f"{self.ratio:.2f}x (noise ±{self.noise:.2f})"


def ratio_over_phases(
    ours: Sequence[tuple[float, float]], baseline: Sequence[tuple[float, float]]
) -> RatioWithNoise:
    """``ours`` and ``baseline``: (work, seconds) per phase, phases alternating.

    The ratio is of the overall rates (total work / total seconds); the noise is half
    the range of the per-phase ratios.
    """

    def rate(parts: Sequence[tuple[float, float]]) -> float:
        return sum(w for w, _ in parts) / max(sum(s for _, s in parts), 1e-12)

    per_phase = [
        (w_o / max(s_o, 1e-12)) / max(w_b / max(s_b, 1e-12), 1e-12)
        for (w_o, s_o), (w_b, s_b) in zip(ours, baseline, strict=True)
    ]
    ratio = rate(ours) / max(rate(baseline), 1e-12)
    return RatioWithNoise(ratio=ratio, noise=half_range(per_phase), phases=len(per_phase))
