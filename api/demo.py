"""``utm6g demo``: a scripted operator session against a real ``utm6g serve`` on loopback.

Two operators plan delivery flights in Shenzhen-Nanshan over HTTP: plans accepted, one refused with
alternatives (and the first alternative taken), one refused by the airport zone, one activated, telemetry, a
nonconformance and its recovery, notifications, and the flights ended. Each decision is printed as a line.
Layer: api.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx

from airspace.region import Region, load_region
from airspace.routes import RouteGraph
from api.keys import mint_token, write_dev_keys
from api.local_server import LocalServer

__all__ = ["run_demo"]

OPERATOR_SCOPES = "utm.strategic_coordination utm.conformance_monitoring_sa"


def run_demo(region_path: Path, *, say=print) -> int:
    """Run the session; return 0 when every step answered as scripted."""
    region = load_region(region_path)
    with tempfile.TemporaryDirectory(prefix="utm6g-demo-") as tmp, _server(Path(tmp)) as (server, key):
        say(f"utm6g serve is up at {server.url} (database {server.db_path}, dev keys in {key.parent})")
        tokens = {
            who: mint_token(key, sub=who, scopes=OPERATOR_SCOPES, audience="localhost") for who in OPERATORS
        }
        authority = mint_token(key, sub="szx-caac", scopes="utm.constraint_management", audience="localhost")
        with httpx.Client(base_url=server.url, timeout=30.0) as http:
            session = _Session(http, region, tokens, say)
            geozones = json.loads((region_path.parent / "geozones.ed318.json").read_text())
            answer = http.post("/utm/v1/geofences/import", json=geozones, headers=_bearer(authority))
            session.expect(answer, 200, "authority imports the Shenzhen geozones")
            say(
                f"    {len(answer.json()['geofences'])} zones: "
                + ", ".join(_zone_line(z) for z in answer.json()["geofences"])
            )
            session.script()
    return 0 if session.ok else 1


OPERATORS = ("skyport-deliveries", "metro-air")


@contextmanager
def _server(tmp: Path) -> Iterator[tuple[LocalServer, Path]]:
    private_key, public_key = write_dev_keys(tmp / "keys")
    with LocalServer(tmp / "utm6g.sqlite", public_key) as server:
        yield server, private_key


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _zone_line(zone: dict[str, Any]) -> str:
    return f"{zone['identifier']} ({zone['restriction']})"


class _Session:
    """The scripted steps; each prints one readable line per decision."""

    def __init__(self, http: httpx.Client, region: Region, tokens: dict[str, str], say) -> None:
        self.http, self.region, self.tokens, self.say = http, region, tokens, say
        self.routes = RouteGraph(region.grid, region.geofences)
        self.flights: list[tuple[str, str]] = []
        self.ok = True

    def expect(self, answer: httpx.Response, status: int, what: str) -> dict[str, Any]:
        body = answer.json()
        mark = "ok " if answer.status_code == status else "UNEXPECTED"
        self.ok &= answer.status_code == status
        self.say(f"[{answer.status_code}] {mark} {what}")
        return body

    def corridor(
        self, origin: str, destination: str, *, depart: datetime, layer: str
    ) -> list[dict[str, Any]]:
        a, b = self.region.hub(origin), self.region.hub(destination)
        volumes = self.routes.plan((a.x_m, a.y_m), (b.x_m, b.y_m), t0=depart, speed_mps=15.0, layer=layer)
        return [v.to_f3548(self.region.frame) for v in volumes]

    def plan(self, who: str, volumes: list[dict[str, Any]], *, state: str = "Accepted", priority: int = 0):
        intent_id = str(uuid4())
        body = {"state": state, "priority": priority, "volumes": volumes}
        answer = self.http.put(
            f"/utm/v1/operational_intents/{intent_id}", json=body, headers=_bearer(self.tokens[who])
        )
        return intent_id, answer

    def script(self) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        a_id, a = self.deliveries(now)
        self.airport(now + timedelta(minutes=5))
        self.fly("skyport-deliveries", a_id, a)
        self.end()

    def deliveries(self, now: datetime) -> tuple[str, dict[str, Any]]:
        """Two crossing deliveries at the same time and layer: the second is refused, takes an alternative."""
        route = self.corridor("hitech-park", "coastal-city", depart=now, layer="d60-90")
        a_id, answer = self.plan("skyport-deliveries", route)
        a = self.expect(answer, 201, "skyport-deliveries plans hitech-park -> coastal-city on d60-90, now")
        ref = _ref(a)
        self.say(f"    version {ref['version']}, ovn {ref['ovn']}, {len(route)} volume(s)")
        crossing = self.corridor("qianhai-cbd", "oct-vertiport", depart=now, layer="d60-90")
        _, answer = self.plan("metro-air", crossing)
        refused = self.expect(
            answer, 409, "metro-air plans qianhai-cbd -> oct-vertiport across it, same time"
        )
        self.say(f"    reason {refused['reason']}: {refused['message'][:140]}")
        for alt in refused["alternatives"]:
            self.say(f"    alternative {alt['kind']}: {alt['description']}")
        if refused["alternatives"]:
            first = refused["alternatives"][0]
            b_id, answer = self.plan("metro-air", first["volumes"])
            self.expect(answer, 201, f"metro-air takes the first alternative ({first['kind']})")
            self.flights.append(("metro-air", b_id))
        self.flights.append(("skyport-deliveries", a_id))
        return a_id, a

    def airport(self, start: datetime) -> None:
        """A plan inside the ZGSZ aerodrome protection zone is refused by the geofence."""
        _, answer = self.plan("metro-air", [_circle(22.60, 113.835, start, start + timedelta(minutes=10))])
        refused = self.expect(answer, 409, "metro-air plans a survey flight inside the ZGSZ aerodrome zone")
        self.say(f"    reason {refused['reason']}: {refused['message'][:140]}")

    def fly(self, who: str, intent_id: str, planned: dict[str, Any]) -> None:
        """Activate, report over the hub, stray 400 m off the corridor, come back; read the notifications."""
        body = {
            "state": "Activated",
            "priority": 0,
            "volumes": planned["operational_intent"]["details"]["volumes"],
        }
        url = f"/utm/v1/operational_intents/{intent_id}"
        self.expect(
            self.http.put(f"{url}/{_ref(planned)['ovn']}", json=body, headers=self._h(who)),
            200,
            f"{who} takes off",
        )
        hub = self.region.hub("hitech-park")
        legs = (("over the hub", 0.0, "Activated"), ("400 m off its corridor", 400.0, "Nonconforming"))
        for label, dx_m, state in (*legs, ("back on its corridor", 0.0, "Activated")):
            report = _report(self.region, hub.x_m + dx_m, hub.y_m, 75.0)
            body = self.expect(
                self.http.post(f"{url}/telemetry", json=report, headers=self._h(who)),
                200,
                f"telemetry {label}",
            )
            got = body["operational_intent"]
            self.ok &= got["reference"]["state"] == state
            extra = " with an off-nominal volume" if got["details"].get("off_nominal_volumes") else ""
            self.say(f"    state {got['reference']['state']}{extra}")
        for note in self.http.get("/utm/v1/notifications", headers=self._h(who)).json()["notifications"]:
            self.say(f"    notification {note['kind']}: {note['message'][:120]}")

    def end(self) -> None:
        """Each operator ends its flight at its current ovn."""
        for who, intent_id in self.flights:
            url = f"/utm/v1/operational_intents/{intent_id}"
            ovn = _ref(self.http.get(url, headers=self._h(who)).json())["ovn"]
            self.expect(self.http.delete(f"{url}/{ovn}", headers=self._h(who)), 200, f"{who} ends its flight")

    def _h(self, who: str) -> dict[str, str]:
        return _bearer(self.tokens[who])


def _ref(body: dict[str, Any]) -> dict[str, Any]:
    return body["operational_intent"]["reference"]


def _time(t: datetime) -> dict[str, str]:
    return {"value": t.astimezone(UTC).isoformat().replace("+00:00", "Z"), "format": "RFC3339"}


def _circle(lat: float, lng: float, start: datetime, end: datetime) -> dict[str, Any]:
    altitude = {"reference": "W84", "units": "M"}
    return {
        "volume": {
            "outline_circle": {"center": {"lat": lat, "lng": lng}, "radius": {"value": 200.0, "units": "M"}},
            "altitude_lower": {"value": 62.0, **altitude},
            "altitude_upper": {"value": 92.0, **altitude},
        },
        "time_start": _time(start),
        "time_end": _time(end),
    }


def _report(region: Region, x_m: float, y_m: float, z_m: float) -> dict[str, Any]:
    lon, lat, h = region.frame.to_geodetic(x_m, y_m, z_m)
    return {
        "time_measured": _time(datetime.now(UTC)),
        "position": {
            "lat": float(lat),
            "lng": float(lon),
            "altitude": {"value": float(h), "reference": "W84", "units": "M"},
            "accuracy_h": "HA3m",
            "accuracy_v": "VA3m",
        },
        "velocity": {"speed": 12.0, "track": 200.0},
    }
