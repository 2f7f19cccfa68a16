"""The benchmark tables: their content, never their timings (the wall clock is not asserted)."""

from dlcourse import bench


def test_lesson_table_runs_the_lesson_and_reports_its_targets(tmp_path):
    rows = bench.lesson_table(["spiral"], "quick", out=str(tmp_path))
    assert [r["lesson"] for r in rows] == ["spiral"]
    assert rows[0]["passed"] is True and rows[0]["seconds"] > 0
    table = bench.format_lesson_table(rows)
    assert "| spiral |" in table and "| pass |" in table and "**total**" in table


def test_budget_overrun_and_failure_are_shown():
    rows = [{"lesson": "a", "seconds": 12.0, "budget_s": 10, "threads": 1, "passed": False}]
    table = bench.format_lesson_table(rows)
    assert "| a | 12.0 | 10 | 1 | NO | FAIL |" in table


def test_machine_line_names_the_machine():
    line = bench.machine_line()
    assert "logical CPUs" in line and "torch" in line and "load average" in line
