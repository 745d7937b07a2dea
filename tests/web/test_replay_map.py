"""The web map replaying a recorded run in a real browser: it draws what the log holds, follows the slider,
a click on a vehicle and an incident, and never reaches off the machine.

Oracles are independent of the page: the run's event log read with sim.eventlog.read_log (the state rows at
exactly t) and sim.incidents.find_incidents.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa

from sim.eventlog import MODES, read_log
from sim.incidents import find_incidents

REPLAY = "utm6g.replay.read"
LAYERS = ["vehicles", "trails", "links", "intents", "geofences", "hubs", "cells", "sites", "coverage"]
CLEAR_PX = 14.0  # a vehicle clicked in the test has no other marker this close


def states_at(run: Path, t_s: float) -> pa.Table:
    """The log's state rows at exactly ``t_s``."""
    return read_log(run / "log", window_s=(t_s, t_s)).states


def busiest_time(run: Path) -> float:
    """The sample time with the most vehicles airborne."""
    t = read_log(run / "log", columns=["t_s"]).states["t_s"].to_numpy()
    times, counts = np.unique(t, return_counts=True)
    return float(times[np.argmax(counts)])


def slide_to(map_page, t_s: float) -> None:
    """Move #time-slider as a user's drag does: its value, then input and change events."""
    map_page.js(
        "(t) => { const s = document.getElementById('time-slider'); s.value = String(t);"
        " s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change')); }",
        t_s,
    )


def clickable(map_page, rows: pa.Table) -> dict:
    """A logged row whose marker is on the open map (not under a panel) with no other marker near it."""
    xy = np.column_stack([rows["x_m"].to_numpy(), rows["y_m"].to_numpy()]).tolist()
    screen = np.array(
        map_page.js(
            "(xy) => xy.map(([x, y]) => { const [sx, sy] = utm6g.project(x, y);"
            " const hit = document.elementFromPoint(sx, sy);"
            " return [sx, sy, hit && hit.id === 'map' ? 1 : 0]; })",
            xy,
        )
    )
    gaps = np.linalg.norm(screen[:, None, :2] - screen[None, :, :2], axis=-1)
    np.fill_diagonal(gaps, np.inf)
    ok = np.flatnonzero((screen[:, 2] == 1) & (gaps.min(axis=1) > CLEAR_PX))
    assert len(ok), "no vehicle stands clear on the map"
    row = rows.slice(int(ok[0]), 1).to_pylist()[0]
    return row | {"sx": float(screen[ok[0], 0]), "sy": float(screen[ok[0], 1])}


def test_the_map_draws_the_logged_vehicles_and_follows_slider_click_and_incident(
    map_page, server, runs_root, mint, artifacts
):
    """At each time the page draws exactly the vehicles the log holds; a click opens the vehicle's panel
    with its logged altitude and mode; an incident button pauses just before the incident on party a."""
    run = runs_root / "busy"
    page = map_page.open(f"{server.url}/#run=busy&token={mint('e2e', REPLAY)}")
    assert "token" not in map_page.js("location.href")  # moved to sessionStorage, off the address bar
    assert map_page.js("utm6g.mode") == "replay" and map_page.js("utm6g.run") == "busy"

    t_peak = busiest_time(run)
    assert map_page.js(f"utm6g.seek({t_peak})") is True
    at = states_at(run, t_peak)
    assert at.num_rows >= 40
    assert map_page.js("utm6g.drawn") == at.num_rows
    assert map_page.js("utm6g.drawnFlights") == sorted(at["flight"].to_pylist())
    map_page.page.screenshot(path=artifacts / "map-e2e.png")

    t_slid = t_peak - 57.0
    slide_to(map_page, t_slid)
    page.wait(f"utm6g.t === {t_slid} && utm6g.pending === 0")
    at = states_at(run, t_slid)
    assert map_page.js("utm6g.drawn") == at.num_rows > 0
    assert map_page.js("utm6g.drawnFlights") == sorted(at["flight"].to_pylist())

    row = clickable(map_page, at)
    map_page.page.mouse.click(row["sx"], row["sy"])
    page.wait(
        f"utm6g.selected === {row['flight']} && document.getElementById('panel-flight').textContent === "
        f"'{row['flight']}' && document.getElementById('panel-altitude').textContent.endsWith(' m')"
    )
    assert abs(float(map_page.text("#panel-altitude").removesuffix(" m")) - row["z_m"]) <= 1.0
    assert map_page.text("#panel-state") == MODES[row["mode"]]
    assert re.match(r"(\d+\.\d ms|lost|no report)", map_page.text("#panel-latency"))
    assert map_page.text("#panel-operator") and map_page.text("#panel-link")

    incident = find_incidents(read_log(run / "log", columns=[]))[0]
    t_min = float(read_log(run / "log", columns=["t_s"]).states["t_s"].to_numpy().min())
    map_page.page.click(f'button.incident[data-incident="{incident.id}"]')
    t_shown = max(t_min, incident.start_s - 10.0)
    page.wait(
        f"utm6g.t === {t_shown} && utm6g.pending === 0 && !utm6g.playing && utm6g.selected === {incident.a}"
        f" && document.getElementById('panel-flight').textContent === '{incident.a}'"
    )
    assert incident.start_s - 10.0 <= map_page.js("utm6g.t") < incident.start_s
    assert map_page.js("utm6g.drawn") == states_at(run, t_shown).num_rows
    time.sleep(0.3)  # the panel's detail for the new time
    map_page.page.screenshot(path=artifacts / "map-incident.png")
    assert map_page.js("document.getElementById('status').dataset.kind") != "error", map_page.status()
    assert not map_page.errors


def test_the_map_makes_no_request_off_this_machine(map_page, server, mint):
    """Offline operations room: through load, 2 s of play at 10x, every layer toggled (coverage too) and a
    vehicle opened, every request goes to the serving host and none fails or is refused."""
    urls: list[str] = []
    failed: list[str] = []
    refused: list[str] = []
    browser_page = map_page.page
    browser_page.on("request", lambda r: urls.append(r.url))
    browser_page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
    browser_page.on("response", lambda r: r.status >= 400 and refused.append(f"{r.status} {r.url}"))
    map_page.open(f"{server.url}/#run=busy&token={mint('offline', REPLAY)}")

    browser_page.select_option("#speed", "10")
    t_before = map_page.js("utm6g.t")
    browser_page.click("#play")
    time.sleep(2.0)
    assert map_page.js("utm6g.playing") and map_page.js("utm6g.t") > t_before + 5.0
    browser_page.click("#play")
    map_page.wait("!utm6g.playing && utm6g.pending === 0")

    for name in LAYERS:
        box = f"#layer-{name}"
        was = browser_page.is_checked(box)
        browser_page.set_checked(box, not was)
        if name == "coverage":
            map_page.wait("!document.getElementById('coverage-legend').hidden")
        browser_page.set_checked(box, was)
    browser_page.select_option("#coverage-link", "ul")

    map_page.js("utm6g.select(utm6g.drawnFlights[0])")
    map_page.wait("document.getElementById('panel-altitude').textContent.endsWith(' m')")
    time.sleep(0.5)
    assert map_page.js("utm6g.framesRequested") >= 2
    assert map_page.js("utm6g.tilesDrawn") == 0  # no tile_url: no background
    assert map_page.js("document.getElementById('tile-credit').hidden")
    hosts = {urlsplit(u).hostname for u in urls}
    assert urls and hosts <= {"127.0.0.1", "localhost"}, hosts
    assert not failed and not refused, failed + refused
    assert not map_page.errors
