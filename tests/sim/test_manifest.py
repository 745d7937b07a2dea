"""Evidence integrity: every log is sealed by a hash chain that names the first altered or missing part."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from sim import manifest
from sim.eventlog import EventLog, _writer
from sim.manifest import (
    LOG_FILES,
    MANIFEST_FORMAT,
    ManifestError,
    Verification,
    format_verification,
    verify_log,
    write_manifest,
)

HEADER = {"software_version": "0.1.0", "seed": 11, "scenario": {"name": "manifest"}}
ROWS = 16  # rows per row group: 10 ticks x 8 vehicles = 80 state rows = 5 row groups


def _write_log(directory: Path, *, ticks: int = 10, n: int = 8) -> Path:
    """A small complete log with several row groups in states, events and messages."""
    rng = np.random.default_rng(5)
    with EventLog(directory, HEADER, row_group_rows=ROWS) as log:
        for flight in range(n):
            log.flight(flight, vehicle="quad", origin="A", destination="B")
        for t in range(ticks):
            ids = np.arange(n)
            pos = rng.uniform(-500.0, 500.0, (n, 3))
            log.states(float(t), ids, pos, rng.normal(0.0, 5.0, (n, 3)), np.zeros(n, np.int8))
            log.messages("report", ids, float(t), t + 0.01, pos)
            log.events(float(t), "conformance", ids[:3], value=np.arange(3.0))
    return directory


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return _write_log(tmp_path / "run")


def _manifest(directory: Path) -> dict:
    return json.loads((directory / "manifest.json").read_text())


def _row_group_label(directory: Path, name: str, index: int) -> str:
    """The label a report should use, from the Parquet footer (not from the manifest)."""
    meta = pq.ParquetFile(directory / name).metadata
    first = sum(meta.row_group(i).num_rows for i in range(index))
    last = first + meta.row_group(index).num_rows - 1
    return f"row group {index} of {meta.num_row_groups} (rows {first}-{last})"


def _part(directory: Path, name: str, kind: str, index: int = -1) -> dict:
    entry = next(f for f in _manifest(directory)["files"] if f["name"] == name)
    return next(p for p in entry["parts"] if p["part"] == kind and p.get("index", -1) == index)


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_every_closed_log_is_sealed_and_verifies_intact(log_dir: Path):
    """Issue 6.6: every log carries a manifest; an untouched log verifies with the head its manifest holds."""
    recorded = _manifest(log_dir)
    result = verify_log(log_dir)

    assert result.ok and result.problem is None and result.problems == ()
    assert recorded["format"] == MANIFEST_FORMAT and recorded["algorithm"] == "sha256"
    assert result.head == recorded["head"]
    assert (result.files, result.parts) == (4, sum(len(f["parts"]) for f in recorded["files"]))
    assert format_verification(result) == f"intact: 4 files, {result.parts} parts, head {result.head}"
    assert verify_log(log_dir, expect_head=result.head.upper()).ok


def test_resealing_returns_the_head_and_the_same_bytes(log_dir: Path):
    """write_manifest's return value is the head that verify_log reports; sealing is deterministic."""
    sealed = (log_dir / "manifest.json").read_bytes()
    (log_dir / "manifest.json").unlink()

    head = write_manifest(log_dir)

    assert (log_dir / "manifest.json").read_bytes() == sealed
    assert sealed.endswith(b"}\n")
    assert verify_log(log_dir).head == head


def test_identical_runs_write_identical_manifests(tmp_path: Path):
    """ARCHITECTURE determinism: same calls => byte-identical manifest.json."""
    a = (_write_log(tmp_path / "a") / "manifest.json").read_bytes()
    b = (_write_log(tmp_path / "b") / "manifest.json").read_bytes()
    assert a == b


@pytest.mark.parametrize("ticks", [10, 0], ids=["full", "empty tables"])
def test_the_parts_tile_every_file_and_the_chain_recomputes(tmp_path: Path, ticks: int):
    """Every byte is covered exactly once.

    Oracle: hashlib over whole in-memory files: the parts concatenate to the file, each part's hash and
    the chain recompute, and the row groups are the footer's.
    """
    directory = _write_log(tmp_path / "run", ticks=ticks)
    recorded = _manifest(directory)
    chain = hashlib.sha256(MANIFEST_FORMAT.encode()).digest()
    assert [f["name"] for f in recorded["files"]] == list(LOG_FILES)
    for entry in recorded["files"]:
        data = (directory / entry["name"]).read_bytes()
        pieces = [data[p["offset"] : p["offset"] + p["length"]] for p in entry["parts"]]
        assert b"".join(pieces) == data and entry["size"] == len(data)
        assert hashlib.sha256(b"".join(pieces)).digest() == hashlib.sha256(data).digest()
        chain = hashlib.sha256(chain + hashlib.sha256(entry["name"].encode()).digest()).digest()
        assert entry["start"] == chain.hex()
        for part, piece in zip(entry["parts"], pieces, strict=True):
            sha = hashlib.sha256(piece).digest()
            chain = hashlib.sha256(chain + sha).digest()
            assert (part["sha256"], part["chain"]) == (sha.hex(), chain.hex())
        meta = pq.ParquetFile(directory / entry["name"]).metadata
        groups = [p for p in entry["parts"] if p["part"] == "row_group"]
        assert [g["rows"] for g in groups] == [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        assert entry["parts"][0]["part"] == "magic" and entry["parts"][-1]["part"] == "footer"
    assert recorded["head"] == chain.hex()
    assert pq.ParquetFile(directory / "states.parquet").metadata.num_row_groups == (5 if ticks else 0)


def test_hashing_in_tiny_chunks_gives_the_same_manifest(log_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """The streaming reader (many reads per part) hashes the same bytes as one read."""
    sealed = (log_dir / "manifest.json").read_bytes()
    (log_dir / "manifest.json").unlink()
    monkeypatch.setattr(manifest, "_CHUNK_BYTES", 7)
    write_manifest(log_dir)
    assert (log_dir / "manifest.json").read_bytes() == sealed
    assert verify_log(log_dir).ok


@pytest.mark.parametrize(
    ("kind", "index", "label"),
    [("magic", -1, "leading magic"), ("row_group", 3, None), ("footer", -1, "footer")],
    ids=["magic", "row group", "footer"],
)
def test_one_flipped_byte_names_its_part(log_dir: Path, kind: str, index: int, label: str | None):
    """Issue 6.6: a single changed bit in states.parquet is found, in the part that holds it."""
    part = _part(log_dir, "states.parquet", kind, index)
    _flip(log_dir / "states.parquet", part["offset"] + part["length"] // 2)

    result = verify_log(log_dir)

    label = label or _row_group_label(log_dir, "states.parquet", index)
    assert not result.ok
    assert result.problems == (f"states.parquet: {label} altered",)
    assert format_verification(result) == f"ALTERED: states.parquet: {label} altered"


def test_one_value_rewritten_through_pyarrow_names_its_row_group(log_dir: Path):
    """Issue 6.6: a plausible forgery (a valid Parquet file, one x_m moved by 1 m) is found in row group 2."""
    path = log_dir / "states.parquet"
    table = pq.read_table(path)
    row = 2 * ROWS + 5
    x_m = table["x_m"].to_numpy().copy()
    x_m[row] += 1.0
    forged = table.set_column(table.schema.get_field_index("x_m"), table.schema.field("x_m"), [x_m])
    writer = _writer(path, "states", pq.read_schema(path))
    for start in range(0, forged.num_rows, ROWS):
        writer.write_table(forged.slice(start, ROWS), row_group_size=ROWS)
    writer.close()
    assert pc.sum(pc.not_equal(pq.read_table(path)["x_m"], table["x_m"])).as_py() == 1

    result = verify_log(log_dir)

    assert result.problem == f"states.parquet: {_row_group_label(log_dir, 'states.parquet', 2)} altered"
    assert all(p.startswith("states.parquet: ") for p in result.problems)


@pytest.mark.parametrize("cut", ["mid row group", "last byte"])
def test_a_truncated_file_names_the_first_part_cut(log_dir: Path, cut: str):
    path = log_dir / "states.parquet"
    size = path.stat().st_size
    if cut == "last byte":
        keep, label = size - 1, "footer"
    else:
        part = _part(log_dir, "states.parquet", "row_group", 1)
        keep, label = part["offset"] + 10, _row_group_label(log_dir, "states.parquet", 1)
    path.write_bytes(path.read_bytes()[:keep])

    assert verify_log(log_dir).problems == (
        f"states.parquet: {label} truncated (the file is {keep} of {size} bytes)",
    )


@pytest.mark.parametrize(("extra", "words"), [(b"\0", "1 byte"), (b"x" * 120, "120 bytes")])
def test_appended_bytes_are_reported(log_dir: Path, extra: bytes, words: str):
    with (log_dir / "events.parquet").open("ab") as file:
        file.write(extra)
    assert verify_log(log_dir).problems == (
        f"events.parquet: {words} after the last recorded part (appended)",
    )


def test_a_deleted_file_is_missing_in_chain_order(log_dir: Path):
    (log_dir / "flights.parquet").unlink()
    (log_dir / "messages.parquet").rename(log_dir / "messages.bak")

    assert verify_log(log_dir).problems == ("messages.parquet: missing", "flights.parquet: missing")


def test_a_missing_manifest_is_reported(log_dir: Path):
    (log_dir / "manifest.json").unlink()
    result = verify_log(log_dir)
    assert (result.ok, result.head, result.problems) == (False, "", ("manifest.json: missing",))
    assert format_verification(result) == "ALTERED: manifest.json: missing"


def test_an_edited_recorded_hash_breaks_the_chain(log_dir: Path):
    """Changing one recorded hash without recomputing the chain is caught by the chain, then by the bytes."""
    recorded = _manifest(log_dir)
    states = next(f for f in recorded["files"] if f["name"] == "states.parquet")
    group = next(p for p in states["parts"] if p.get("index") == 2)
    group["sha256"] = hashlib.sha256(b"forged").hexdigest()
    (log_dir / "manifest.json").write_text(json.dumps(recorded))

    label = _row_group_label(log_dir, "states.parquet", 2)
    assert verify_log(log_dir).problems == (
        f"manifest.json: chain broken at states.parquet {label} (manifest edited)",
        f"states.parquet: {label} altered",
    )


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda m: m.update(head="0" * 64), "the recorded head does not follow from its chain"),
        (lambda m: m["files"][1].update(start="1" * 64), "chain broken at the start of states.parquet"),
        (lambda m: m["files"].reverse(), "unreadable (files must be events.parquet, states.parquet"),
        (lambda m: m["files"][0]["parts"][1].update(offset=5), "unreadable (the parts of events.parquet"),
        (lambda m: m.update(format="other/1"), "unreadable (format 'other/1'"),
        (lambda m: m.pop("algorithm"), "unreadable (no field 'algorithm')"),
        (lambda m: m["files"][0]["parts"][0].update(length="4"), "unreadable (magic {'offset': 0, 'length"),
    ],
    ids=["head", "file start", "file order", "gap", "format", "field", "type"],
)
def test_other_manifest_edits_are_reported(log_dir: Path, edit, problem: str):
    recorded = _manifest(log_dir)
    edit(recorded)
    (log_dir / "manifest.json").write_text(json.dumps(recorded))
    result = verify_log(log_dir)
    assert not result.ok and result.problem.startswith(f"manifest.json: {problem}")


def test_a_manifest_that_is_not_json_is_unreadable(log_dir: Path):
    (log_dir / "manifest.json").write_text("{not json")
    assert verify_log(log_dir).problem.startswith("manifest.json: unreadable (")


def test_a_resealed_forgery_is_caught_only_by_the_expected_head(tmp_path: Path):
    """Issue 6.6: a regulator who kept the head detects a log rewritten and sealed again."""
    directory = _write_log(tmp_path / "run")
    kept = verify_log(directory).head
    _flip(directory / "states.parquet", _part(directory, "states.parquet", "row_group", 0)["offset"] + 3)
    (directory / "manifest.json").unlink()
    forged_head = write_manifest(directory)

    assert verify_log(directory).ok
    result = verify_log(directory, expect_head=kept)
    assert not result.ok
    assert result.problems == (
        f"head: {forged_head} is not the expected {kept} (not the log that was recorded)",
    )


@pytest.mark.parametrize("head", ["abc", "g" * 64, ""])
def test_a_malformed_expected_head_is_refused(log_dir: Path, head: str):
    with pytest.raises(ManifestError, match=r"^expect_head: must be 64 hex digits"):
        verify_log(log_dir, expect_head=head)


def test_something_that_is_not_a_log_fails_clearly(tmp_path: Path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hi")
    (tmp_path / "file").write_text("hi")
    with pytest.raises(ManifestError, match=r"^directory: is not a utm6g log: .*notes\)$"):
        verify_log(tmp_path / "notes")
    with pytest.raises(ManifestError, match=r"^directory: does not exist \(.*nowhere\)$"):
        verify_log(tmp_path / "nowhere")
    with pytest.raises(ManifestError, match=r"^directory: is not a directory \(.*file\)$"):
        verify_log(tmp_path / "file")
    with pytest.raises(ManifestError, match=r"^directory: has no events\.parquet \(.*notes\)"):
        write_manifest(tmp_path / "notes")


def test_a_sealed_log_is_never_resealed_and_a_broken_file_is_not_sealed(log_dir: Path):
    with pytest.raises(ManifestError, match=r"^manifest\.json: already exists"):
        write_manifest(log_dir)
    (log_dir / "manifest.json").unlink()
    (log_dir / "flights.parquet").write_bytes(b"not parquet")
    with pytest.raises(ManifestError, match=r"^flights\.parquet: is not a readable Parquet file"):
        write_manifest(log_dir)
    assert not (log_dir / "manifest.json").exists()


def test_format_verification_counts_the_other_problems():
    result = Verification("", 4, 9, ("a: missing", "b: missing", "c: missing"))
    assert format_verification(result) == "ALTERED: a: missing (and 2 more problems)"
