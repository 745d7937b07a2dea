"""``utm6g simulate``: a run writes its outputs; every mistake is one line naming the field, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main

TINY = Path(__file__).resolve().parents[2] / "scenarios" / "shenzhen-nanshan" / "tiny.yaml"


def test_a_short_run_writes_log_metrics_and_report(tmp_path, capsys):
    out = tmp_path / "run"
    args = [
        "simulate",
        str(TINY),
        "--duration",
        "120",
        "--out",
        str(out),
        "--quiet",
        "--set",
        "cdr.lookahead_s=45",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "flights requested / flown / landed" in printed and str(out / "report.html") in printed
    assert (out / "log" / "events.parquet").is_file()
    assert json.loads((out / "metrics.json").read_text())["flights"]["requested"] > 0
    assert "<img" in (out / "report.html").read_text()
    assert main(args) == 2
    assert "already holds a run (pass --overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--set", "cdr.lookahed_s=3"], "cdr.lookahed_s: unknown key"),
        (["--set", "cdr.lookahead_s=-1"], "cdr.lookahead_s: "),
        (["--set", "cdr.lookahead_s"], "expected <dotted.key>=<value>"),
        (["--duration", "-5"], "duration_s"),
    ],
)
def test_bad_overrides_are_one_line_errors(tmp_path, capsys, extra, message):
    assert main(["simulate", str(TINY), "--out", str(tmp_path / "x"), "--quiet", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("utm6g simulate: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_a_missing_scenario_file_is_named(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "nope.yaml"), "--quiet"]) == 2
    assert "nope.yaml" in capsys.readouterr().err
