"""End to end against a real ``utm6g serve`` on 127.0.0.1: a race of 50 conflicting plans, durability
across SIGKILL, and the auth matrix.

Plans fly above every layer of the region (no cell-capacity rule) in open airspace, an hour ahead of
the wall clock the server runs on; each test uses its own square or its own time.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import pytest

from api.keys import mint_token

URL = "/utm/v1/operational_intents"
RACERS = 50
WRITERS = 4
TIMEOUT_S = 60.0


def _soon(hours: float = 1.0) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)


def _query(wire, vertices, start: datetime, end: datetime) -> dict:
    return {"area_of_interest": wire.volume(vertices, start, end, altitude_m=(0.0, 2000.0))}


# --- race -----------------------------------------------------------------------------------------


def test_fifty_racing_conflicting_plans_one_accepted_the_rest_409_conflict(server, mint, wire):
    """50 operators, one barrier, the same volume at equal priority: exactly one 201, 49 x 409 conflict."""
    square = wire.square(wire.OPEN_LAT, wire.OPEN_LNG, 200.0)
    start = _soon()
    body = wire.plan_body(square, start)
    tokens = [mint(f"racer-{n}") for n in range(RACERS)]
    clients = [httpx.Client(base_url=server.url, timeout=TIMEOUT_S) for _ in range(RACERS)]
    for client in clients:  # connect first, so the barrier releases requests rather than handshakes
        assert client.get("/openapi.json").status_code == 200
    barrier = threading.Barrier(RACERS)
    answers: list[httpx.Response | BaseException | None] = [None] * RACERS

    def race(n: int) -> None:
        try:
            barrier.wait(timeout=TIMEOUT_S)
            answers[n] = clients[n].put(f"{URL}/{uuid4()}", json=body, headers=wire.bearer(tokens[n]))
        except BaseException as err:  # reported below, with every other answer
            answers[n] = err

    threads = [threading.Thread(target=race, args=(n,)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S)
    for client in clients:
        client.close()
    assert all(isinstance(a, httpx.Response) for a in answers), answers
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * (RACERS - 1), statuses
    (winner,) = [a.json() for a in answers if a.status_code == 201]
    assert {a.json()["reason"] for a in answers if a.status_code == 409} == {"conflict"}
    winner_id = winner["operational_intent"]["reference"]["id"]
    for lost in (a.json() for a in answers if a.status_code == 409):
        assert [c["ref"] for c in lost["conflicts"] if c["kind"] == "intent"] == [winner_id]

    found = httpx.post(
        f"{server.url}{URL}/query",
        json=_query(wire, square, start, start + timedelta(minutes=10)),
        headers=wire.bearer(tokens[0]),
        timeout=TIMEOUT_S,
    )
    assert found.status_code == 200, found.text
    assert [i["reference"]["id"] for i in found.json()["operational_intents"]] == [winner_id]


# --- durability -----------------------------------------------------------------------------------


def test_every_acknowledged_plan_survives_sigkill_with_its_ovn(start_server, mint, wire, tmp_path):
    """Writers stream plans; the server is SIGKILLed mid-stream and restarted on the same database.

    Every plan answered 2xx is there with the same ovn; a plan without an answer is absent or whole.
    """
    db = tmp_path / "durable.sqlite"
    first = start_server(db)
    start = _soon(2.0)
    square = wire.square(wire.OPEN_LAT + 0.004, wire.OPEN_LNG, 200.0)
    tokens = [mint(f"writer-{w}") for w in range(WRITERS)]
    sent: dict[str, tuple[int, dict]] = {}  # id -> (writer, body)
    acked: dict[str, str] = {}  # id -> ovn
    unanswered: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()
    counter = iter(range(10**6))
    stop = threading.Event()

    def write(w: int) -> None:
        with httpx.Client(base_url=first.url, timeout=10.0) as client:
            while not stop.is_set():
                with lock:
                    n = next(counter)
                # one-minute slots two minutes apart: nothing conflicts, nothing fills a cell
                body = wire.plan_body(square, start + timedelta(minutes=2 * n), minutes=1.0)
                intent_id = str(uuid4())
                with lock:
                    sent[intent_id] = (w, body)
                try:
                    answer = client.put(f"{URL}/{intent_id}", json=body, headers=wire.bearer(tokens[w]))
                except httpx.TransportError:
                    with lock:
                        unanswered.append(intent_id)
                    return
                with lock:
                    if answer.status_code == 201:
                        acked[intent_id] = answer.json()["operational_intent"]["reference"]["ovn"]
                    else:
                        refused.append(f"{answer.status_code} {answer.text}")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30.0
    while len(acked) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.kill()  # SIGKILL: no shutdown handler, no final checkpoint
    stop.set()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert not refused, refused
    assert len(acked) >= 40 and unanswered, (len(acked), unanswered)

    second = start_server(db)
    with httpx.Client(base_url=second.url, timeout=TIMEOUT_S) as client:
        for intent_id, ovn in acked.items():
            w, body = sent[intent_id]
            got = client.get(f"{URL}/{intent_id}", headers=wire.bearer(tokens[w]))
            assert got.status_code == 200, (intent_id, got.text)
            _assert_whole(got.json()["operational_intent"], body, f"writer-{w}")
            assert got.json()["operational_intent"]["reference"]["ovn"] == ovn
        for intent_id in unanswered:
            w, body = sent[intent_id]
            got = client.get(f"{URL}/{intent_id}", headers=wire.bearer(tokens[w]))
            assert got.status_code in (200, 404), got.text
            if got.status_code == 200:
                _assert_whole(got.json()["operational_intent"], body, f"writer-{w}")
        # the restarted picture decides as the old one did: a duplicate of an acknowledged plan conflicts
        some_id = next(iter(acked))
        w, body = sent[some_id]
        again = client.put(f"{URL}/{uuid4()}", json=body, headers=wire.bearer(tokens[(w + 1) % WRITERS]))
        assert (again.status_code, again.json()["reason"]) == (409, "conflict")


def _assert_whole(intent: dict, body: dict, manager: str) -> None:
    """A stored plan is complete: version 1, its manager, an ovn, and exactly the volume that was sent."""
    ref, details = intent["reference"], intent["details"]
    assert (ref["version"], ref["state"], ref["manager"]) == (1, "Accepted", manager)
    assert 16 <= len(ref["ovn"]) <= 128
    assert details["priority"] == body["priority"] and details["off_nominal_volumes"] == []
    (got,), (want,) = details["volumes"], body["volumes"]
    assert (got["time_start"], got["time_end"]) == (want["time_start"], want["time_end"])
    assert ref["time_start"] == want["time_start"] and ref["time_end"] == want["time_end"]
    for side in ("altitude_lower", "altitude_upper"):
        assert got["volume"][side]["value"] == pytest.approx(want["volume"][side]["value"], abs=1e-6)
    got_v = got["volume"]["outline_polygon"]["vertices"]
    want_v = want["volume"]["outline_polygon"]["vertices"]
    assert len(got_v) == len(want_v)
    for a, b in zip(got_v, want_v, strict=True):
        assert (a["lat"], a["lng"]) == (pytest.approx(b["lat"], abs=1e-9), pytest.approx(b["lng"], abs=1e-9))


# --- auth matrix ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def owned(server, mint, wire) -> tuple[str, str]:
    """(id, ovn) of a plan managed by ``owner``."""
    square = wire.square(wire.OPEN_LAT - 0.004, wire.OPEN_LNG, 100.0)
    intent_id = str(uuid4())
    answer = httpx.put(
        f"{server.url}{URL}/{intent_id}",
        json=wire.plan_body(square, _soon(3.0)),
        headers=wire.bearer(mint("owner")),
        timeout=TIMEOUT_S,
    )
    assert answer.status_code == 201, answer.text
    return intent_id, answer.json()["operational_intent"]["reference"]["ovn"]


@pytest.fixture(scope="module")
def bad_tokens(dev_keys, foreign_keys, wire) -> dict[str, str]:
    """Tokens the server must refuse with 401, each for one reason."""
    private = dev_keys[0]
    return {
        "expired": mint_token(
            private,
            sub="owner",
            scopes=wire.OPERATOR,
            audience=wire.AUDIENCE,
            lifetime_s=60,
            now=datetime.now(UTC) - timedelta(hours=1),
        ),
        "wrong-audience": mint_token(private, sub="owner", scopes=wire.OPERATOR, audience="uss.example.com"),
        "wrong-signature": mint_token(
            foreign_keys[0], sub="owner", scopes=wire.OPERATOR, audience="localhost"
        ),
        "not-a-jwt": "not.a.jwt",
    }


@pytest.mark.parametrize("name", ["none", "expired", "wrong-audience", "wrong-signature", "not-a-jwt"])
def test_no_valid_token_is_401_with_a_bearer_challenge(server, owned, bad_tokens, name):
    headers = {} if name == "none" else {"Authorization": f"Bearer {bad_tokens[name]}"}
    answer = httpx.get(f"{server.url}{URL}/{owned[0]}", headers=headers, timeout=TIMEOUT_S)
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["message"]


def test_a_token_without_the_operator_scope_is_403(server, owned, mint, wire):
    reader = mint("owner", scopes="utm.constraint_processing")
    answer = httpx.get(f"{server.url}{URL}/{owned[0]}", headers=wire.bearer(reader), timeout=TIMEOUT_S)
    assert answer.status_code == 403, answer.text
    assert "utm.strategic_coordination" in answer.json()["message"]


def test_someone_elses_plan_cannot_be_changed_or_ended(server, owned, mint, wire):
    intent_id, ovn = owned
    other, mine = wire.bearer(mint("intruder")), wire.bearer(mint("owner"))
    with httpx.Client(base_url=server.url, timeout=TIMEOUT_S) as client:
        seen = client.get(f"{URL}/{intent_id}", headers=other)
        assert seen.status_code == 200
        assert "ovn" not in seen.json()["operational_intent"]["reference"]  # the ovn is the manager's
        body = {
            "state": "Accepted",
            "priority": 0,
            "volumes": seen.json()["operational_intent"]["details"]["volumes"],
        }
        assert client.put(f"{URL}/{intent_id}/{ovn}", json=body, headers=other).status_code == 403
        assert client.delete(f"{URL}/{intent_id}/{ovn}", headers=other).status_code == 403
        still = client.get(f"{URL}/{intent_id}", headers=mine).json()["operational_intent"]["reference"]
        assert (still["version"], still["ovn"]) == (1, ovn)
