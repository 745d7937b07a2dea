"""Network profiles for the scenario's ``comms`` section: ``5g-fr1``, ``6g-isac-fr1`` and ``6g-isac-fr3``.

A profile is a set of defaults for the channel and deployment, the radio link (:class:`LinkParams`), network
sensing (:class:`SensingParams`, or none) and the fusion tracker (:class:`FusionConfig`); every value can be
overridden under ``comms.channel``, ``comms.link``, ``comms.sensing`` and ``comms.fusion`` (``--set
comms.link.iot_db=6``). The override sections are pydantic models generated from those dataclasses, so an
unknown key is refused with the list of known ones. ``ideal`` has no network model at all.

Profile choices (SIXG-MODEL.md §4.2, §5.3, §8; the issue's profile list):

* ``5g-fr1``: 3.5 GHz, 100 MHz, UMa-AV, dynamic grant, no sensing; tracks from reports only.
* ``6g-isac-fr1``: 4 GHz, 100 MHz, UMa-AV, configured grant (the low-latency UL a UTM service would
  ask for), an 8x8 sensing panel per site scanning every 1 s.
* ``6g-isac-fr3``: 7 GHz, 400 MHz at 60 kHz subcarriers (FR3 numerology), scanning every 0.2 s.

Sensing's per-cell false-alarm rate is the one the NIST calibration found for a 5 % chance of a false
alarm per TRP and scan (``sim.sixg.sensing.calibrate_nist``), not the 1e-6 of §8: with a site every
500 m, 1e-6 would make thousands of false alarms per scan over a city. Layer: sim.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, fields
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from sim.errors import ScenarioError
from sim.sixg.channel import BS_HEIGHT_M, SCENARIOS
from sim.sixg.deployment import ISD_M, Sites, hex_sites
from sim.sixg.fusion import FusionConfig
from sim.sixg.link import LinkParams
from sim.sixg.sensing import SensingParams

__all__ = [
    "PROFILES",
    "ChannelOverrides",
    "ChannelSettings",
    "FusionOverrides",
    "LinkOverrides",
    "NetworkSettings",
    "SensingOverrides",
    "network_settings",
]

PFA_CELL_5PCT = 4.71e-9
"""Per-cell false-alarm probability giving a 5 % chance of a false alarm per TRP and scan (calibration)."""


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """Deployment and channel: the 36.777 scenario, the carrier, the site grid and the candidate sites."""

    scenario: str = "UMa-AV"
    fc_ghz: float = 3.5
    isd_m: float | None = None  # None: the scenario's (UMa-AV 500 m, UMi-AV 200 m, RMa-AV 1732 m)
    site_height_m: float | None = None  # None: the scenario's (25, 10, 35 m)
    sectored: bool = True  # three 38.901 sectors per site, else one omni panel
    downtilt_deg: float = 12.0
    uplink_sites: int = 4  # candidate serving sites of a report (the uplink SINR counts no other site)
    downlink_sites: int = 19  # serving plus interferers of an advisory (the nearest K)
    sensing_sites: int = 3  # TRPs that try to see each vehicle in a scan

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ScenarioError(
                "scenario", f"unknown channel scenario {self.scenario!r} ({', '.join(SCENARIOS)})"
            )
        for name in ("fc_ghz", "isd_m", "site_height_m"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ScenarioError(name, f"must be finite and > 0 (got {value})")
        if not 0.0 <= self.downtilt_deg < 90.0:
            raise ScenarioError("downtilt_deg", f"must be in [0, 90) (got {self.downtilt_deg})")
        for name in ("uplink_sites", "downlink_sites", "sensing_sites"):
            if not 1 <= getattr(self, name) <= 64:
                raise ScenarioError(name, f"must be in 1..64 (got {getattr(self, name)})")

    @property
    def site_spacing_m(self) -> float:
        """The inter-site distance: the override, else the scenario's."""
        return self.isd_m or ISD_M[self.scenario]

    @property
    def bs_height_m(self) -> float:
        """The site antenna height: the override, else the scenario's (it enters the path loss too)."""
        return self.site_height_m or BS_HEIGHT_M[self.scenario]

    def sites(self, bounds_xy_m: tuple[float, float, float, float]) -> Sites:
        """The hexagonal site grid these settings deploy over ``bounds_xy_m`` (plus one spacing around)."""
        return hex_sites(
            bounds_xy_m,
            self.site_spacing_m,
            self.bs_height_m,
            sectored=self.sectored,
            downtilt_rad=math.radians(self.downtilt_deg),
        )


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """A resolved profile: what :class:`sim.sixg.network.Network` is built from."""

    profile: str
    channel: ChannelSettings
    link: LinkParams
    sensing: SensingParams | None
    fusion: FusionConfig
    inflate_zone: bool  # grow the protected zone by the tracks' uncertainty (SIXG-MODEL.md §6.2)


PROFILES: dict[str, dict[str, dict[str, Any] | None]] = {
    "5g-fr1": {
        "channel": {"fc_ghz": 3.5},
        "link": {"bandwidth_mhz": 100.0, "grant": "dynamic"},
        "sensing": None,
    },
    "6g-isac-fr1": {
        "channel": {"fc_ghz": 4.0},
        "link": {"bandwidth_mhz": 100.0, "grant": "configured"},
        "sensing": {
            "fc_hz": 4.0e9,
            "bandwidth_hz": 100e6,
            "n_h": 8,
            "n_v": 8,
            "scan_period_s": 1.0,
            "pfa_cell": PFA_CELL_5PCT,
        },
    },
    "6g-isac-fr3": {
        "channel": {"fc_ghz": 7.0},
        "link": {"bandwidth_mhz": 400.0, "scs_khz": 60, "grant": "configured"},
        "sensing": {
            "fc_hz": 7.0e9,
            "bandwidth_hz": 400e6,
            "scs_hz": 60e3,
            "scan_period_s": 0.2,
            "pfa_cell": PFA_CELL_5PCT,
        },
    },
}


def _overrides(name: str, cls: type, extra: dict[str, Any] | None = None) -> type[BaseModel]:
    """A pydantic model with every field of the dataclass ``cls`` optional (None = the profile's value)."""
    hints = typing.get_type_hints(cls)
    spec: dict[str, Any] = {
        f.name: (hints[f.name] | None, None) for f in fields(cls) if f.init and not f.name.startswith("_")
    }
    spec.update(extra or {})
    config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    return create_model(name, __config__=config, **spec)


ChannelOverrides = _overrides("ChannelOverrides", ChannelSettings)
LinkOverrides = _overrides("LinkOverrides", LinkParams)
SensingOverrides = _overrides("SensingOverrides", SensingParams, {"enabled": (bool | None, None)})
FusionOverrides = _overrides("FusionOverrides", FusionConfig, {"inflate_zone": (bool, True)})


def network_settings(
    profile: str,
    channel: BaseModel,
    link: BaseModel,
    sensing: BaseModel,
    fusion: BaseModel,
) -> NetworkSettings:
    """The profile's defaults with the scenario's overrides; ScenarioError names ``comms.<section>.<key>``."""
    if profile not in PROFILES:
        raise ScenarioError(
            "comms.profile", f"unknown profile {profile!r} (known: ideal, {', '.join(PROFILES)})"
        )
    base = PROFILES[profile]
    channel_settings = _build("channel", ChannelSettings, base["channel"] or {}, channel)
    link_params = _build("link", LinkParams, base["link"] or {}, link)
    sensing_on = base["sensing"] is not None if sensing.enabled is None else sensing.enabled
    sensing_params = _build("sensing", SensingParams, base["sensing"] or {}, sensing) if sensing_on else None
    fusion_config = _build("fusion", FusionConfig, {}, fusion)
    return NetworkSettings(
        profile, channel_settings, link_params, sensing_params, fusion_config, fusion.inflate_zone
    )


def _build(section: str, cls: type, profile: dict[str, Any], given: BaseModel) -> Any:
    """``cls`` from its defaults, the profile's values, then the non-None overrides (tuples from lists)."""
    names = {f.name for f in fields(cls) if f.init}
    values = {**profile}
    values.update({k: v for k, v in given.model_dump().items() if v is not None and k in names})
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    except ScenarioError as err:
        field = err.field.removeprefix(f"{section}.")
        raise ScenarioError(f"comms.{section}.{field}" if field else f"comms.{section}", err.reason) from None
