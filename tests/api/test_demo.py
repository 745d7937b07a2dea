"""``utm6g demo`` (what ``make demo`` runs): the scripted operator session passes against a real server."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_session_runs_every_step_as_scripted():
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "demo"], capture_output=True, text=True, cwd=ROOT, timeout=180
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "UNEXPECTED" not in out
    assert "[201] ok  skyport-deliveries plans" in out
    assert "[409] ok  metro-air plans qianhai-cbd -> oct-vertiport" in out
    assert "alternative time_shift" in out
    assert "reason geofence" in out and "ZGSZCTR" in out
    assert "state Nonconforming with an off-nominal volume" in out
    assert "notification nonconforming" in out
    assert out.count("ends its flight") == 2
