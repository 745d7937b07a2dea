"""``utm6g sweep`` and ``utm6g capacity`` end to end on the tiny scenario; mistakes are one line, status 2."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from api.cli import main

TINY = Path(__file__).resolve().parents[2] / "scenarios" / "shenzhen-nanshan" / "tiny.yaml"


def test_a_sweep_then_its_capacity_report(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["sweep", str(TINY), "--grid", "demand.scale=0.5,1", "--seeds", "2", "--duration", "60"]
    assert main([*args, "--workers", "2", "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith(f"4 runs (0 already done, 0 failed): {out / 'runs.parquet'}")
    table = pq.read_table(out / "runs.parquet")
    assert (
        table["grid.demand.scale"].to_pylist() == [0.5, 0.5, 1.0, 1.0]
        and table["seed"].to_pylist() == [7, 8] * 2
    )
    assert main([*args, "--out", str(out), "--quiet"]) == 0  # resumed: nothing left to run
    assert capsys.readouterr().out.startswith("4 runs (4 already done, 0 failed)")
    assert main(["capacity", str(out), "--safety", "los_per_flight_hour<=1"]) == 0
    printed = capsys.readouterr().out
    assert (
        "safety target: los_per_flight_hour <= 1" in printed and f"page: {out / 'capacity.html'}" in printed
    )
    assert (out / "capacity.html").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["sweep", str(TINY), "--grid", "cdr.lookahed_s=5,10"],
            "utm6g sweep: error: --grid cdr.lookahed_s: unknown key",
        ),
        (["sweep", str(TINY), "--grid", "demand.scale"], "utm6g sweep: error: --grid"),
        (["sweep", str(TINY), "--seeds", "0"], "utm6g sweep: error: --seeds: must be an integer >= 1"),
        (["capacity", "{tmp}"], "utm6g capacity: error: "),
        (["capacity", "{tmp}", "--safety", "los<<1"], "utm6g capacity: error: --safety: "),
    ],
    ids=["bad-key", "no-values", "no-seeds", "not-a-sweep", "bad-safety"],
)
def test_mistakes_are_one_line(tmp_path, capsys, args, message):
    assert main([a.format(tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_workers_and_dask_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as refused:
        main(["sweep", str(TINY), "--workers", "2", "--dask", "local"])
    assert refused.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
