"""Latency summaries: p50, p99 and mean in milliseconds, and the difference to a baseline."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

# quality.md: a command's round trip at most this much above the echo baseline
TARGET_P50_ABOVE_MS = 3.0
TARGET_P99_ABOVE_MS = 10.0


@dataclass(frozen=True)
class Summary:
    """One series of round trips, in milliseconds."""

    n: int
    p50: float
    p99: float
    mean: float
    min: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Summary:
        """p50 is the median; p99 the 99th of the 100-quantiles, interpolated between
        samples ("inclusive": the minimum and maximum are the 0th and 100th)."""
        ms = [s * 1000 for s in seconds]
        if len(ms) < 2:
            raise ValueError("a summary needs at least two samples")
        p99 = statistics.quantiles(ms, n=100, method="inclusive")[98]
        return cls(len(ms), statistics.median(ms), p99, statistics.fmean(ms), min(ms), max(ms))

    def above(self, baseline: Summary) -> tuple[float, float]:
        """(p50 - baseline p50, p99 - baseline p99) in milliseconds."""
        return self.p50 - baseline.p50, self.p99 - baseline.p99

    def meets_target(self, baseline: Summary) -> bool:
        p50, p99 = self.above(baseline)
        return p50 <= TARGET_P50_ABOVE_MS and p99 <= TARGET_P99_ABOVE_MS

    def as_json(self, baseline: Summary | None = None) -> dict[str, object]:
        data: dict[str, object] = {k: round(v, 4) for k, v in asdict(self).items()}
        data["n"] = self.n
        if baseline is not None:
            p50, p99 = self.above(baseline)
            data["p50_above_echo"] = round(p50, 4)
            data["p99_above_echo"] = round(p99, 4)
            data["meets_target"] = self.meets_target(baseline)
        return data


def table(rows: dict[str, Summary], baseline: str, cpu_ms: dict[str, tuple[float, float]]) -> str:
    """A plain-text table, the baseline first; figures in ms. `cpu_ms`: the mean CPU
    time per round trip of the answering process and of the XMPP server."""
    base = rows[baseline]
    head = (
        f"{'':8}{'n':>6}{'p50':>9}{'p99':>9}{'mean':>9}{'max':>9}{'cpu':>8}{'server':>8}"
        f"{'p50-echo':>10}{'p99-echo':>10}  target"
    )
    lines = [head]
    for name, row in rows.items():
        cells = (
            f"{name:8}{row.n:>6}{row.p50:>9.3f}{row.p99:>9.3f}{row.mean:>9.3f}{row.max:>9.2f}"
            f"{cpu_ms[name][0]:>8.3f}{cpu_ms[name][1]:>8.3f}"
        )
        if name == baseline:
            lines.append(f"{cells}{'—':>10}{'—':>10}  baseline")
            continue
        p50, p99 = row.above(base)
        verdict = "met" if row.meets_target(base) else "MISSED"
        lines.append(f"{cells}{p50:>+10.3f}{p99:>+10.3f}  {verdict}")
    return "\n".join(lines)
