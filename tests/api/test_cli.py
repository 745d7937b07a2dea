"""``utm6g airspace``, the foundation's main job, run as a user runs it (the installed console script)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from api.cli import main

ROOT = Path(__file__).resolve().parents[2]
REGION = ROOT / "scenarios" / "shenzhen-nanshan" / "region.yaml"
AT = "2026-12-31T15:30:00Z"  # during the temporary fireworks closure SZBAYFW


def _utm6g(*args: str) -> subprocess.CompletedProcess:
    """Run the installed console script (falls back to ``python -m api.cli`` outside a venv)."""
    script = Path(sys.executable).with_name("utm6g")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    result = _utm6g("airspace", str(REGION), "--out", str(out), "--at", AT)
    return result, out


def test_demo_prints_the_summary(demo):
    result, _ = demo
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "Cells: 40 x 40 of 500 m (20 km x 20 km) x 5 layers = 8000 cell-layers" in text
    assert re.search(r"PROHIBITED\s+3 \(3 active\)", text)
    assert re.search(r"CONDITIONAL\s+2 \(1 active\)", text)  # the stadium zone is off on Thursday nights
    assert "Hubs: 8 (5 delivery_hub, 3 vertiport)" in text
    assert "Route xili-univ-town -> shekou-seaworld on d30-60" in text


def test_demo_writes_geojson_with_every_kind_of_feature(demo):
    _, out = demo
    doc = json.loads((out / "airspace.geojson").read_text())
    kinds = [f["properties"]["kind"] for f in doc["features"]]
    assert kinds.count("cell") == 40 * 40
    assert kinds.count("geofence") == 7
    assert kinds.count("delivery_hub") + kinds.count("vertiport") == 8
    assert kinds.count("corridor") >= 1
    fireworks = next(f for f in doc["features"] if f["properties"].get("identifier") == "SZBAYFW")
    assert fireworks["properties"]["active"] is True
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert 113.8 < lon < 114.1 and 22.4 < lat < 22.7


def test_demo_writes_a_png_map(demo):
    _, out = demo
    png = (out / "airspace.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 50_000  # a drawn map, not an empty canvas


def test_route_and_layer_can_be_chosen(tmp_path, capsys):
    code = main(
        [
            "airspace",
            str(REGION),
            "--out",
            str(tmp_path),
            "--at",
            AT,
            "--route",
            "qianhai-cbd",
            "oct-vertiport",
        ]
    )
    assert code == 0
    assert "Route qianhai-cbd -> oct-vertiport on d30-60" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--route", "qianhai-cbd", "atlantis"],
            "hub 'atlantis' is not in region Shenzhen-Nanshan (hitech-park",
        ),
        (["--layer", "d0-10"], "d0-10"),
        (["--at", "tomorrow"], "--at: is not an RFC 3339 date-time ('tomorrow')"),
    ],
)
def test_bad_arguments_give_one_line_errors(tmp_path, capsys, args, message):
    code = main(["airspace", str(REGION), "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("utm6g airspace: error: ")
    assert message in err
    assert err.count("\n") == 1


def test_a_broken_region_file_is_one_line_naming_the_field(tmp_path):
    bad = tmp_path / "region.yaml"
    bad.write_text(REGION.read_text().replace("cell_size_m: 500", "cell_size_m: -5"))
    result = _utm6g("airspace", str(bad), "--out", str(tmp_path))
    assert result.returncode == 2
    assert "grid.cell_size_m" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "airspace.png").exists()


def test_no_route_is_a_clear_error(tmp_path, capsys):
    """Shekou Sea World sits between the HKSAR boundary and the terminals; a wall of zones cuts it off."""
    region = tmp_path / "region.yaml"
    wall = tmp_path / "wall.json"
    wall.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [
                                [
                                    [113.83, 22.50],
                                    [114.03, 22.50],
                                    [114.03, 22.51],
                                    [113.83, 22.51],
                                    [113.83, 22.50],
                                ]
                            ],
                            "layer": {
                                "lower": 0,
                                "lowerReference": "AGL",
                                "upper": 9999,
                                "upperReference": "AGL",
                                "uom": "m",
                            },
                        },
                        "properties": {
                            "identifier": "WALL",
                            "country": "CHN",
                            "type": "PROHIBITED",
                            "variant": "COMMON",
                            "zoneAuthority": [],
                        },
                    }
                ],
            }
        )
    )
    region.write_text(REGION.read_text().replace("  - geozones.ed318.json", f"  - {wall}"))
    code = main(["airspace", str(region), "--out", str(tmp_path), "--route", "shekou-seaworld", "taoyuan"])
    err = capsys.readouterr().err
    assert code == 2
    assert "WALL" in err, err
