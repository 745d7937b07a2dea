"""The airspace files a run flew in, carried in its log header, so that the log re-runs and draws anywhere.

A scenario names its region and extra geofence files by path, and a log header used to keep only those
(absolute) paths: a log sent to a regulator, or a run folder moved, could be read but not re-run or drawn,
and an edited region file would silently change a what-if. The header now also holds the files' text as
they were loaded; loading a logged scenario again writes that text to a temporary folder and reads it from
there. About 14 kB for Shenzhen-Nanshan. Layer: sim.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from sim.errors import ScenarioError

__all__ = ["AIRSPACE_KEY", "AirspaceFiles"]

AIRSPACE_KEY = "airspace_files"
"""The log header's key for :meth:`AirspaceFiles.to_json`."""


@dataclass(frozen=True, slots=True)
class AirspaceFiles:
    """The region file and the geozone files it names (text by name relative to the region's folder), and
    the scenario's extra geofence files (text in scenario order), with the paths they were read from."""

    region_path: str
    region_files: Mapping[str, str]  # the region file under its own name, and the geozone files it names
    geofence_paths: tuple[str, ...]
    geofence_files: tuple[str, ...]

    @classmethod
    def read(cls, region: Path, geofences: Sequence[Path]) -> AirspaceFiles:
        """The files as they are on disk now (call it right after they loaded)."""
        text = region.read_text(encoding="utf-8")
        names = (yaml.safe_load(text) or {}).get("geozones", ()) or ()
        files = {region.name: text} | {
            name: (region.parent / name).read_text(encoding="utf-8") for name in names
        }
        return cls(
            str(region),
            files,
            tuple(str(p) for p in geofences),
            tuple(p.read_text(encoding="utf-8") for p in geofences),
        )

    def describes(self, region: Path, geofences: Sequence[Path]) -> bool:
        """Whether these are the files of a scenario naming ``region`` and ``geofences`` (an override of
        either means the files on disk are wanted instead)."""
        return str(region) == self.region_path and tuple(str(p) for p in geofences) == self.geofence_paths

    @contextmanager
    def placed(self) -> Iterator[tuple[Path, tuple[Path, ...]]]:
        """The files written to a temporary folder: the region file's path there and the geofence files'."""
        with tempfile.TemporaryDirectory(prefix="utm6g-airspace-") as tmp:
            root = Path(tmp)
            for name, text in self.region_files.items():
                _write(root / "region" / _relative(name), text)
            fences = tuple(
                _write(root / "geofences" / str(n) / Path(path).name, text)
                for n, (path, text) in enumerate(zip(self.geofence_paths, self.geofence_files, strict=True))
            )
            yield root / "region" / PurePosixPath(self.region_path).name, fences

    def to_json(self) -> dict[str, Any]:
        return {
            "region_path": self.region_path,
            "region_files": dict(self.region_files),
            "geofence_paths": list(self.geofence_paths),
            "geofence_files": list(self.geofence_files),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AirspaceFiles:
        """Back from a header; ScenarioError names what is malformed."""
        try:
            files = dict(data["region_files"])
            record = cls(
                str(data["region_path"]),
                {str(k): str(v) for k, v in files.items()},
                tuple(str(p) for p in data["geofence_paths"]),
                tuple(str(t) for t in data["geofence_files"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ScenarioError(f"header.{AIRSPACE_KEY}", f"is malformed ({err!r})") from None
        if PurePosixPath(record.region_path).name not in files or len(record.geofence_paths) != len(
            record.geofence_files
        ):
            raise ScenarioError(
                f"header.{AIRSPACE_KEY}", "is malformed (no region file, or unpaired geofences)"
            )
        for name in files:
            _relative(name)
        return record


def _relative(name: str) -> PurePosixPath:
    """A recorded file name, which must stay inside the folder it is written to."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ScenarioError(f"header.{AIRSPACE_KEY}.region_files", f"{name!r} is not a plain relative name")
    return path


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
