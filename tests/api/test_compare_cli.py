"""``utm6g compare``: one scenario under several comms profiles, side by side; mistakes are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main

TINY = Path(__file__).resolve().parents[2] / "scenarios" / "shenzhen-nanshan" / "tiny.yaml"


def test_profiles_run_side_by_side_with_the_same_traffic(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", str(TINY), "--profiles", "ideal,5g-fr1", "--duration", "90", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["ideal", "5g-fr1"]
    latency = next(line for line in printed if line.startswith("report latency p50 / p99 (ms)"))
    assert "0.0 / 0.0" in latency  # ideal: instant
    metrics = json.loads((out / "comparison.json").read_text())
    assert metrics["ideal"]["network"] is None
    assert metrics["5g-fr1"]["network"]["reports"]["latency_ms"]["p50"] > 5.0  # dynamic grant: > 5 ms
    assert metrics["ideal"]["flights"]["requested"] == metrics["5g-fr1"]["flights"]["requested"]
    for profile in ("ideal", "5g-fr1"):
        assert (out / profile / "report.html").is_file() and (out / profile / "log").is_dir()
    assert (out / "comparison.md").read_text().startswith("|  | ideal | 5g-fr1 |")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--profiles", "ideal,6g"], "comms.profile: unknown profile '6g'"),
        (["--profiles", "ideal,ideal"], "--profiles: give distinct comma-separated profiles"),
        (["--workers", "0"], "--workers: must be >= 1"),
        (["--set", "comms.link.iot_db=-3"], "comms.link.iot_db: must be >= 0"),
    ],
)
def test_mistakes_are_one_line_before_any_run(tmp_path, capsys, extra, message):
    out = tmp_path / "cmp"
    assert main(["compare", str(TINY), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()
