"""bench/harness.py: the benchmark table's pass/fail logic, its formatting and the exit status.

No timings here: these are the parts of `make bench` that could go wrong silently (a missed
target printed as "pass", a broken benchmark that exits 0)."""

import pytest

from bench.harness import (
    Compare,
    Result,
    Status,
    exit_status,
    format_markdown,
    format_table,
    median,
    percentile,
)


def test_a_figure_at_its_limit_passes_and_one_above_fails():
    at = Result("latency", 50.0, "ms", limit=50.0, compare=Compare.AT_MOST)
    above = Result("latency", 50.01, "ms", limit=50.0, compare=Compare.AT_MOST)
    assert at.status == Status.PASS
    assert above.status == Status.FAIL


def test_an_equality_target_fails_on_any_difference():
    assert Result("calls", 0, limit=0, compare=Compare.EQUAL).status == Status.PASS
    assert Result("calls", 1, limit=0, compare=Compare.EQUAL).status == Status.FAIL


def test_a_target_without_a_value_is_an_error_not_a_pass():
    assert Result("ratio", None, limit=1.5, compare=Compare.AT_MOST).status == Status.ERROR
    assert Result("ratio", float("nan"), limit=1.5, compare=Compare.AT_MOST).failed


def test_printed_figures_and_skipped_ones_do_not_fail_the_run():
    printed = Result("throughput", 1234.0, "rows/s")
    skipped = Result("postgres", None, limit=50, compare=Compare.AT_MOST, skipped="no server")
    assert printed.status == Status.INFO
    assert skipped.status == Status.SKIPPED
    assert exit_status([printed, skipped]) == 0


def test_one_missed_target_or_broken_benchmark_makes_the_exit_status_1():
    passing = Result("calls", 0, limit=0, compare=Compare.EQUAL)
    missed = Result("ms", 80.0, limit=50.0, compare=Compare.AT_MOST)
    broken = Result("suite", None, error="ValueError: boom")
    assert exit_status([passing]) == 0
    assert exit_status([passing, missed]) == 1
    assert exit_status([passing, broken]) == 1


def test_a_run_that_measured_nothing_does_not_pass():
    assert exit_status([]) == 1


def test_the_table_shows_each_figure_with_its_target_and_result_and_numbers_its_notes():
    results = [
        Result("dashboard ÷ one call", 1.0625, "×", 1.5, Compare.AT_MOST, decimals=2, note="n1"),
        Result("/keys/ server time", 88.61, "ms", 50.0, Compare.AT_MOST),
        Result("throughput", 70656.4, "rows/s", decimals=0),
        Result("postgres p95", None, "ms", 50.0, Compare.AT_MOST, skipped="no PostgreSQL"),
    ]
    lines = format_table(results).splitlines()
    assert lines[0].split() == ["#", "figure", "measured", "target", "result"]
    assert lines[2].split()[-3:] == ["≤", "1.50×", "pass"]
    assert "1.06×" in lines[2]
    assert lines[3].split()[-6:] == ["88.6", "ms", "≤", "50.0", "ms", "FAIL"]
    assert lines[4].split()[-4:] == ["70,656", "rows/s", "printed", "info"]
    assert lines[5].split()[-5:] == ["—", "≤", "50.0", "ms", "skipped"]
    assert lines[-2:] == ["[1] n1", "[4] no PostgreSQL"]


def test_the_markdown_table_has_one_row_per_figure():
    results = [Result("a", 1, limit=0, compare=Compare.EQUAL), Result("b", 2.5, "ms")]
    lines = format_markdown(results).splitlines()
    assert len(lines) == 4
    assert lines[2] == "| 1 | a | 1.0 | = 0.0 | FAIL |"


def test_a_result_survives_the_trip_from_the_child_process():
    result = Result("x", 3.0, "ms", 50.0, Compare.AT_MOST, note="p95 4 ms")
    assert Result.from_dict(result.to_dict()) == result


def test_p95_is_a_measured_sample_by_nearest_rank():
    samples = list(range(1, 21))  # 1..20
    assert percentile(samples, 95) == 19
    assert percentile(samples, 100) == 20
    assert percentile([7.0], 95) == 7.0
    assert percentile([3, 1, 2], 50) == 2


def test_median_of_an_even_count_is_the_mean_of_the_middle_two():
    assert median([4, 1, 3, 2]) == 2.5
    assert median([5, 1, 3]) == 3


def test_statistics_refuse_no_samples():
    with pytest.raises(ValueError):
        percentile([], 95)
    with pytest.raises(ValueError):
        median([])
