"""The benchmark harness: results, their targets, the table, and the exit status.

Kept free of Django so the suite's tests can check it (tests/test_bench_harness.py): a table
that says "pass" for a missed target, or an exit status of 0 after a failure, would hide a
regression silently.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import StrEnum


class Compare(StrEnum):
    AT_MOST = "<="  # pass when value <= limit
    EQUAL = "=="  # pass when value == limit
    PRINTED = "printed"  # no target: the figure is reported only


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "FAIL"
    INFO = "info"  # printed only
    SKIPPED = "skipped"  # could not be measured here (e.g. no PostgreSQL): not a failure
    ERROR = "ERROR"  # the benchmark itself broke: a failure


@dataclass
class Result:
    """One figure of the table."""

    figure: str
    value: float | None
    unit: str = ""
    limit: float | None = None
    compare: Compare = Compare.PRINTED
    decimals: int = 1
    note: str = ""
    skipped: str = ""  # why it was not measured
    error: str = ""  # why the benchmark broke

    @property
    def status(self) -> Status:
        if self.error:
            return Status.ERROR
        if self.skipped:
            return Status.SKIPPED
        if self.compare == Compare.PRINTED:
            return Status.INFO
        if self.value is None or self.limit is None or math.isnan(self.value):
            return Status.ERROR
        if self.compare == Compare.AT_MOST:
            return Status.PASS if self.value <= self.limit else Status.FAIL
        return Status.PASS if self.value == self.limit else Status.FAIL

    @property
    def failed(self) -> bool:
        return self.status in (Status.FAIL, Status.ERROR)

    def measured_text(self) -> str:
        if self.error:
            return "error"
        if self.skipped or self.value is None:
            return "—"
        return _with_unit(f"{self.value:,.{self.decimals}f}", self.unit)

    def target_text(self) -> str:
        if self.compare == Compare.PRINTED or self.limit is None:
            return "printed"
        sign = "≤" if self.compare == Compare.AT_MOST else "="
        return f"{sign} " + _with_unit(f"{self.limit:,.{self.decimals}f}", self.unit)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Result:
        return cls(**{**data, "compare": Compare(data.get("compare", Compare.PRINTED))})


def _with_unit(number: str, unit: str) -> str:
    if not unit:
        return number
    return f"{number}{unit}" if unit in ("×", "%") else f"{number} {unit}"


# --- statistics ---------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile: the smallest sample with at least p % of the samples at or
    below it (p95 of 20 samples is the 19th smallest). Never interpolates, so it is always a
    time that was measured."""
    if not values:
        raise ValueError("no samples")
    if not 0 < p <= 100:
        raise ValueError("p is a percentage in (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def median(values: list[float]) -> float:
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


# --- the table ----------------------------------------------------------------------------------

HEADERS = ("#", "figure", "measured", "target", "result")


def table_rows(results: list[Result]) -> list[tuple[str, ...]]:
    return [
        (str(index), result.figure, result.measured_text(), result.target_text(), result.status)
        for index, result in enumerate(results, 1)
    ]


def format_table(results: list[Result]) -> str:
    """A plain-text table, then one line per note (numbered like the rows)."""
    rows = table_rows(results)
    widths = [max(len(row[i]) for row in [HEADERS, *rows]) for i in range(len(HEADERS))]

    def line(cells) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    out = [line(HEADERS), line("-" * width for width in widths)]
    out += [line(row).rstrip() for row in rows]
    notes = []
    for index, result in enumerate(results, 1):
        for text in (result.error, result.skipped, result.note):
            if text:
                notes.append(f"[{index}] {text}")
    if notes:
        out += ["", *notes]
    return "\n".join(out)


def format_markdown(results: list[Result]) -> str:
    """The same table as Markdown (for the README)."""
    out = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    out += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    return "\n".join(out)


def exit_status(results: list[Result]) -> int:
    """1 when a target was missed or a benchmark broke (or nothing ran), else 0."""
    if not results:
        return 1
    return 1 if any(result.failed for result in results) else 0
