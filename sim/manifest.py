"""Evidence integrity of an event log: ``manifest.json``, a SHA-256 chain over every byte of its four files.

Each Parquet file is cut into parts that tile it exactly: the leading ``PAR1`` magic, one part per row group
(its column chunks' byte range, read from the footer) and the footer (schema, header, trailing magic). Each
part has its own SHA-256 and a chain value ``chain_i = SHA-256(chain_{i-1} || sha_i)`` over raw digests. The
chain starts from ``SHA-256(MANIFEST_FORMAT)``, takes in each file's name before its parts, and runs through
the files in LOG_FILES order, so the last value (the ``head``) seals the whole log: a regulator who kept the
head detects any change, even a rewritten manifest. :func:`verify_log` re-hashes the files as a stream (never
a whole file in memory) and names the first altered, truncated, appended or missing part.

Layer: sim; imports only the standard library and pyarrow.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from sim.errors import FieldError

__all__ = [
    "LOG_FILES",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "ManifestError",
    "Verification",
    "format_verification",
    "verify_log",
    "write_manifest",
]

MANIFEST_FORMAT = "utm6g-manifest/1"
"""The manifest's ``format``; bump it when the part layout or the chain rule changes."""

MANIFEST_NAME = "manifest.json"
"""The manifest's file name inside a log directory."""

LOG_FILES: tuple[str, ...] = ("events.parquet", "states.parquet", "messages.parquet", "flights.parquet")
"""The files of a log, in chain order."""

_ALGORITHM = "sha256"
_MAGIC = b"PAR1"
_CHUNK_BYTES = 1 << 22  # read size when hashing: memory stays at one chunk, whatever the file size
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_LABELS = {"magic": "leading magic", "footer": "footer"}  # the row group label carries its rows


class ManifestError(FieldError):
    """A log that cannot be sealed or checked at all; the message reads ``"<field>: <reason>"``.

    >>> str(ManifestError("directory", "does not exist (/tmp/none)"))
    'directory: does not exist (/tmp/none)'
    """


@dataclass(frozen=True, slots=True)
class _Part:
    """A byte range of one file: the leading magic, a row group, or the footer."""

    kind: str  # "magic" | "row_group" | "footer"
    offset: int
    length: int
    index: int = -1  # row groups only: position in the file, its first row and its row count
    first_row: int = 0
    rows: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.length

    def label(self, row_groups: int) -> str:
        """How a report names the part, e.g. ``row group 3 of 12 (rows 786432-1048575)``."""
        if self.kind != "row_group":
            return _LABELS[self.kind]
        rows = f"rows {self.first_row}-{self.first_row + self.rows - 1}" if self.rows else "no rows"
        return f"row group {self.index} of {row_groups} ({rows})"

    def to_json(self, sha: bytes, chain: bytes) -> dict[str, Any]:
        """The manifest entry: the range, the row group's rows, the part's hash and the chain after it."""
        entry = {"part": self.kind, "offset": self.offset, "length": self.length}
        if self.kind == "row_group":
            entry |= {"index": self.index, "first_row": self.first_row, "rows": self.rows}
        return entry | {"sha256": sha.hex(), "chain": chain.hex()}

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> _Part:
        """A recorded part (KeyError, TypeError or ValueError when the entry is malformed)."""
        kind = entry["part"]
        if kind != "row_group" and kind not in _LABELS:
            raise ValueError(f"unknown part {kind!r}")
        keys = ("offset", "length", *(("index", "first_row", "rows") if kind == "row_group" else ()))
        numbers = {key: entry[key] for key in keys}
        if any(type(value) is not int or value < 0 for value in numbers.values()):
            raise ValueError(f"{kind} {numbers} must hold integers >= 0")
        return cls(kind, **numbers)


def _link(chain: bytes, digest: bytes) -> bytes:
    """The next chain value: SHA-256 of the previous chain value and a part's digest (raw bytes)."""
    return hashlib.sha256(chain + digest).digest()


def _chain_start() -> bytes:
    """The chain value before the first file: the format name's digest (a fixed, documented seed)."""
    return hashlib.sha256(MANIFEST_FORMAT.encode()).digest()


def _file_link(chain: bytes, name: str) -> bytes:
    """The chain value at the start of a file: its name enters the chain, so files cannot be swapped."""
    return _link(chain, hashlib.sha256(name.encode()).digest())


def _sha256(file: BinaryIO, part: _Part, buffer: memoryview) -> bytes:
    """SHA-256 of one part, read in chunks through ``buffer`` (a short read hashes what is there)."""
    digest = hashlib.sha256()
    file.seek(part.offset)
    left = part.length
    while left:
        n = file.readinto(buffer[: min(left, len(buffer))])
        if not n:
            break
        digest.update(buffer[:n])
        left -= n
    return digest.digest()


def _parts(path: Path) -> list[_Part]:
    """The parts of a Parquet file from its footer metadata: magic, row groups, footer, tiling the file."""
    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, pa.ArrowInvalid) as exc:
        raise ManifestError(path.name, f"is not a readable Parquet file ({exc})") from None
    parts = [_Part("magic", 0, len(_MAGIC))]
    first_row = 0
    for index in range(meta.num_row_groups):
        group = meta.row_group(index)
        chunks = [group.column(j) for j in range(group.num_columns)]
        written = [c for c in chunks if c.total_compressed_size]  # an empty chunk's offsets mean nothing
        offset = min(
            (c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset for c in written),
            default=parts[-1].end,
        )
        if offset != parts[-1].end:
            raise ManifestError(
                path.name,
                f"row group {index} starts at byte {offset}, not where the previous part ends "
                f"({parts[-1].end}); the parts would not cover every byte",
            )
        length = sum(c.total_compressed_size for c in written)
        parts.append(_Part("row_group", offset, length, index, first_row, group.num_rows))
        first_row += group.num_rows
    size = path.stat().st_size
    parts.append(_Part("footer", parts[-1].end, size - parts[-1].end))
    return parts


def write_manifest(directory: str | Path) -> str:
    """Seal a closed log: write ``manifest.json`` (never over an existing one) and return the chain head.

    The JSON is canonical (sorted keys, fixed indent and separators, trailing newline), so identical logs
    get byte-identical manifests.
    """
    path = Path(directory)
    chain = _chain_start()
    buffer = memoryview(bytearray(_CHUNK_BYTES))
    files = []
    for name in LOG_FILES:
        file_path = path / name
        if not file_path.is_file():
            raise ManifestError("directory", f"has no {name} ({path}); is it a closed utm6g log?")
        parts = _parts(file_path)
        chain = _file_link(chain, name)
        entry = {"name": name, "size": parts[-1].end, "start": chain.hex(), "parts": []}
        with file_path.open("rb") as file:
            for part in parts:
                sha = _sha256(file, part, buffer)
                chain = _link(chain, sha)
                entry["parts"].append(part.to_json(sha, chain))
        files.append(entry)
    manifest = {"format": MANIFEST_FORMAT, "algorithm": _ALGORITHM, "files": files, "head": chain.hex()}
    text = json.dumps(manifest, sort_keys=True, indent=1, separators=(",", ": "), ensure_ascii=True)
    try:
        with (path / MANIFEST_NAME).open("x", encoding="ascii", newline="\n") as out:
            out.write(text + "\n")
    except FileExistsError:
        raise ManifestError(MANIFEST_NAME, f"already exists ({path}); a log is sealed once") from None
    return chain.hex()


@dataclass(frozen=True, slots=True)
class Verification:
    """What :func:`verify_log` found: the recorded head, the counts checked and every problem in chain order.

    ``head`` is the manifest's head ("" when there is none); when ``ok`` it is also the head of the bytes.
    """

    head: str
    files: int
    parts: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether every byte matches the manifest, its chain is unbroken and the expected head (if any)."""
        return not self.problems

    @property
    def problem(self) -> str | None:
        """The first problem in chain order, or None for an intact log."""
        return self.problems[0] if self.problems else None


@dataclass(frozen=True, slots=True)
class _RecordedFile:
    """One file's manifest entry."""

    name: str
    size: int
    start: str
    parts: tuple[_Part, ...]
    hashes: tuple[tuple[str, str], ...]  # (sha256, chain) hex per part

    @property
    def row_groups(self) -> int:
        return sum(part.kind == "row_group" for part in self.parts)


def _read_manifest(path: Path) -> tuple[list[_RecordedFile], str]:
    """The recorded files and head (ValueError, KeyError or TypeError when it is not a manifest of ours)."""
    doc = json.loads(path.read_bytes())
    if doc["format"] != MANIFEST_FORMAT or doc["algorithm"] != _ALGORITHM:
        raise ValueError(f"format {doc['format']!r} with {doc['algorithm']!r}, not {MANIFEST_FORMAT!r}")
    files = [
        _RecordedFile(
            name=entry["name"],
            size=entry["size"],
            start=entry["start"],
            parts=tuple(_Part.from_json(part) for part in entry["parts"]),
            hashes=tuple((part["sha256"], part["chain"]) for part in entry["parts"]),
        )
        for entry in doc["files"]
    ]
    if tuple(file.name for file in files) != LOG_FILES:
        raise ValueError(f"files must be {', '.join(LOG_FILES)} in that order")
    for file in files:
        ends = [0, *(part.end for part in file.parts)]
        tiled = all(p.offset == end for p, end in zip(file.parts, ends, strict=False))
        if not tiled or ends[-1] != file.size:
            raise ValueError(f"the parts of {file.name} do not tile its {file.size} bytes")
        if not all(_HEX_DIGEST.fullmatch(h) for pair in file.hashes for h in pair):
            raise ValueError(f"a hash of {file.name} is not 64 lowercase hex digits")
    return files, doc["head"]


def _chain_problem(files: list[_RecordedFile], head: str) -> str | None:
    """Where the recorded chain first stops following from the recorded hashes (an edited manifest)."""
    chain = _chain_start()
    for file in files:
        chain = _file_link(chain, file.name)
        if chain.hex() != file.start:
            return f"{MANIFEST_NAME}: chain broken at the start of {file.name} (manifest edited)"
        for part, (sha, recorded) in zip(file.parts, file.hashes, strict=True):
            chain = _link(chain, bytes.fromhex(sha))
            if chain.hex() != recorded:
                label = part.label(file.row_groups)
                return f"{MANIFEST_NAME}: chain broken at {file.name} {label} (manifest edited)"
    if chain.hex() != head:
        return f"{MANIFEST_NAME}: the recorded head does not follow from its chain (manifest edited)"
    return None


def _file_problems(directory: Path, file: _RecordedFile, buffer: memoryview) -> Iterator[str]:
    """Every recorded part of one file that is altered or gone, then any bytes beyond the last part."""
    path = directory / file.name
    if not path.is_file():
        yield f"{file.name}: missing"
        return
    with path.open("rb") as handle:
        size = path.stat().st_size
        for part, (sha, _) in zip(file.parts, file.hashes, strict=True):
            label = part.label(file.row_groups)
            if part.end > size:
                yield f"{file.name}: {label} truncated (the file is {size} of {file.size} bytes)"
                return
            if _sha256(handle, part, buffer).hex() != sha:
                yield f"{file.name}: {label} altered"
    if size > file.size:
        extra = size - file.size
        yield f"{file.name}: {extra} byte{'s' * (extra != 1)} after the last recorded part (appended)"


def verify_log(directory: str | Path, *, expect_head: str | None = None) -> Verification:
    """Check a log against its manifest (and, when given, a head recorded elsewhere), reading as a stream.

    Problems come in chain order: the manifest's own chain first (an edited manifest cannot vouch for
    anything), then each file's parts, then a head that differs from ``expect_head``.
    """
    path = Path(directory)
    if not path.is_dir():
        raise ManifestError(
            "directory", f"{'is not a directory' if path.exists() else 'does not exist'} ({path})"
        )
    expected = None if expect_head is None else expect_head.strip().lower()
    if expected is not None and not _HEX_DIGEST.fullmatch(expected):
        raise ManifestError("expect_head", f"must be 64 hex digits (got {expect_head!r})")
    manifest = path / MANIFEST_NAME
    if not manifest.is_file():
        if not any((path / name).is_file() for name in LOG_FILES):
            raise ManifestError(
                "directory", f"is not a utm6g log: no {MANIFEST_NAME} and no {LOG_FILES[0]} etc. ({path})"
            )
        return Verification("", 0, 0, (f"{MANIFEST_NAME}: missing",))
    try:
        files, head = _read_manifest(manifest)
    except (ValueError, KeyError, TypeError) as exc:
        reason = f"no field {exc}" if isinstance(exc, KeyError) else str(exc)
        return Verification("", 0, 0, (f"{MANIFEST_NAME}: unreadable ({reason})",))
    buffer = memoryview(bytearray(_CHUNK_BYTES))
    broken = _chain_problem(files, head)
    problems = [] if broken is None else [broken]
    for file in files:
        problems.extend(_file_problems(path, file, buffer))
    if expected is not None and head != expected:
        problems.append(f"head: {head} is not the expected {expected} (not the log that was recorded)")
    return Verification(head, len(files), sum(len(file.parts) for file in files), tuple(problems))


def format_verification(result: Verification) -> str:
    """One line for the CLI: ``intact: ...`` with the head to keep, or ``ALTERED: <first problem>``.

    >>> format_verification(Verification("3f2a" * 16, 4, 11, ()))
    'intact: 4 files, 11 parts, head 3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a'
    >>> format_verification(Verification("", 0, 0, ("manifest.json: missing", "states.parquet: missing")))
    'ALTERED: manifest.json: missing (and 1 more problem)'
    """
    if result.ok:
        return f"intact: {result.files} files, {result.parts} parts, head {result.head}"
    more = len(result.problems) - 1
    tail = f" (and {more} more problem{'s' * (more != 1)})" if more else ""
    return f"ALTERED: {result.problem}{tail}"
