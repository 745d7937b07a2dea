"""The modelled network behind the simulator's comms interface: reports, advisories and sensing scans.

:class:`Network` joins the parts of the 6G model for one run: the site grid over the region
(:mod:`sim.sixg.deployment`), each (vehicle, site) link's LOS state and shadow fading
(:class:`sim.sixg.channel.LargeScale`, shared by communication and sensing so a drone behind a building is
behind it for both), the 36.777 path loss with the sector gain, the link (:class:`sim.sixg.link.Link`) and,
for ISAC profiles, the monostatic scan (:func:`sim.sixg.sensing.scan`). It answers the comms interface
(:class:`sim.comms.Comms`: per message, when it arrives or NaN) and keeps the run's network statistics
as fixed-bin histograms, so memory does not grow with the run. Random streams are per component
(``sixg.channel``, ``sixg.uplink``, ``sixg.downlink``, ``sixg.sensing``): changing one model leaves the
others' draws alone.
Layer: sim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from sim.rng import rng_for
from sim.sixg.accuracy import ALTITUDE_BINS, RANGE_BINS, DetectionCounts, quantile_bin
from sim.sixg.channel import LargeScale, path_loss_rows_db
from sim.sixg.deployment import NearestSites, Sites, best_sector, link_geometry
from sim.sixg.link import Link
from sim.sixg.profiles import NetworkSettings
from sim.sixg.sensing import RCS_CLASS, Detections, scan

__all__ = ["Histogram", "Network", "SensedScan"]


class Histogram:
    """Counts of values in fixed bins ``[lo, hi)`` (outside: clipped into the end bins), for quantiles.

    >>> h = Histogram(0.0, 1.0, 1000)
    >>> h.add(np.array([0.1, 0.2, 0.3, 0.4]))
    >>> round(h.quantile(0.5), 3), h.count
    (0.2, 4)
    """

    def __init__(self, lo: float, hi: float, bins: int) -> None:
        self.lo, self.hi, self.bins = lo, hi, bins
        self.counts = np.zeros(bins, np.int64)

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def add(self, values: np.ndarray) -> None:
        _count_into(self.counts, np.asarray(values, float).ravel(), self.lo, self.bins / (self.hi - self.lo))

    def quantile(self, q: float) -> float | None:
        """The lower edge of the bin holding the ``q`` quantile (None when empty)."""
        k = int(quantile_bin(self.counts, q))
        return None if k < 0 else self.lo + k * (self.hi - self.lo) / self.bins

    def edges(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, self.bins + 1)


@numba.njit(cache=True, nogil=True)
def _count_into(counts: np.ndarray, values: np.ndarray, lo: float, per_unit: float) -> None:
    """Add each value to its bin of ``counts`` (``int((v - lo) * per_unit)`` clipped into the bins): one pass,
    not a bincount of all the bins per batch."""
    last = counts.size - 1
    for v in values:
        counts[min(max(np.int64((v - lo) * per_unit), 0), last)] += 1


@numba.njit(cache=True, nogil=True)
def _pair_values(value: np.ndarray, site: np.ndarray, target: np.ndarray, trp: np.ndarray) -> np.ndarray:
    """``value`` (n, K) of each pair (``target``, ``trp``): at the first column of ``trp`` in its target's
    row of ``site`` (n, K)."""
    out = np.empty(target.size)
    for m in range(target.size):
        col = 0
        for j in range(site.shape[1]):
            if site[target[m], j] == trp[m]:
                col = j
                break
        out[m] = value[target[m], col]
    return out


@dataclass(slots=True)
class _Links:
    """The links of one batch of vehicles where they are: nearest sites, LOS state, shadow fading, geometry,
    and what was derived from them, kept for the next call at the same places (a scan in the second of the
    reports, or several scans a tick)."""

    flight: np.ndarray  # (n,)
    pos_m: np.ndarray  # (n, 3)
    site: np.ndarray  # (n, K) nearest first
    los: np.ndarray  # (n, K) bool
    sf_db: np.ndarray  # (n, K)
    d2d: np.ndarray  # (n, K)
    d3d: np.ndarray  # (n, K)
    az: np.ndarray  # (n, K)
    el: np.ndarray  # (n, K)
    path_loss_db: dict[float, np.ndarray]  # by carrier, GHz
    gain_dbi: np.ndarray | None = None  # (n, K) of the best sector, once asked

    def at(self, flight: np.ndarray, pos_m: np.ndarray) -> bool:
        """Whether these are the links of ``flight`` at ``pos_m``."""
        return np.array_equal(self.flight, flight) and np.array_equal(self.pos_m, pos_m)


@dataclass(frozen=True, slots=True)
class SensedScan:
    """One scan's detections, when the sensing function publishes it (its last TRP report is in)."""

    detections: Detections
    t_publish_s: float


class _Direction:
    """Sent, lost, latency and SINR statistics of one message direction."""

    def __init__(self) -> None:
        self.sent = 0
        self.lost = 0
        self.latency = Histogram(0.0, 0.5, 50_000)  # 10 us bins up to 0.5 s
        self.sinr = Histogram(-30.0, 50.0, 800)  # 0.1 dB bins

    def add(self, sinr_db: np.ndarray, ok: np.ndarray, latency_s: np.ndarray) -> None:
        self.sent += len(ok)
        self.lost += int(len(ok) - np.count_nonzero(ok))
        self.latency.add(latency_s[ok])
        self.sinr.add(sinr_db)

    def summary(self) -> dict[str, Any]:
        q = self.latency.quantile
        return {
            "sent": self.sent,
            "lost": self.lost,
            "loss_rate": self.lost / self.sent if self.sent else None,
            "latency_ms": {k: None if q(p) is None else 1e3 * q(p) for k, p in (("p50", 0.5), ("p99", 0.99))},
            "sinr_db": {k: self.sinr.quantile(p) for k, p in (("p5", 0.05), ("p50", 0.5), ("p95", 0.95))},
        }


class Network:
    """The modelled network of one run: :meth:`uplink` and :meth:`downlink` as the comms interface, and
    :meth:`scan` for ISAC profiles (``sensing`` is None otherwise)."""

    def __init__(self, settings: NetworkSettings, bounds_xy_m: tuple[float, float, float, float], seed: int):
        ch = settings.channel
        self.settings = settings
        self.name = settings.profile
        self.sites: Sites = ch.sites(bounds_xy_m)
        self.link = Link(settings.link)
        self.sensing = settings.sensing
        # the uplink asks for the same sites as a scan, so a vehicle's links are found in place
        self._near = NearestSites(
            self.sites, max(ch.uplink_sites, ch.sensing_sites if settings.sensing else 0)
        )
        self._near_down = NearestSites(self.sites, ch.downlink_sites)  # an advisory's serving + interferers
        self._near_scored = NearestSites(self.sites, self._near.k)  # :meth:`site_distance_m`'s own
        self._large = LargeScale(
            ch.scenario, self.sites.xy_m, rng_for(seed, "sixg.channel"), fc_ghz=ch.fc_ghz
        )
        self._rng = {name: rng_for(seed, f"sixg.{name}") for name in ("uplink", "downlink", "sensing")}
        self._trp_pos = np.column_stack([self.sites.xy_m, self.sites.height_m])
        self._last: _Links | None = None  # the links of the last uplink or scan
        self.up, self.down = _Direction(), _Direction()
        self.detect_by_range = DetectionCounts(RANGE_BINS)  # (target, TRP) pairs, by 3D range
        self.detect_by_altitude = DetectionCounts(ALTITUDE_BINS)  # and by the target's height

    # -- the comms interface

    def uplink(self, t_s: float, flight: np.ndarray, pos_m: np.ndarray) -> np.ndarray:
        """Reception times of reports sent at ``t_s`` (NaN: lost): serving site by best coupling."""
        if len(flight) == 0:
            return np.empty(0)
        ch = self.settings.channel
        loss_db = self._coupling(self._links(flight, pos_m), ch.fc_ghz)
        _, sinr = self.link.uplink_sinr_db(loss_db[:, : ch.uplink_sites])
        ok, latency = self.link.uplink(t_s, flight, sinr, self._rng["uplink"])
        self.up.add(sinr, ok, latency)
        return t_s + latency

    def downlink(self, t_s: float, flight: np.ndarray, pos_m: np.ndarray) -> np.ndarray:
        """Reception times of advisories sent at ``t_s`` (NaN: lost): the nearest sites interfere."""
        if len(flight) == 0:
            return np.empty(0)
        ch = self.settings.channel
        site = self._near_down.query(flight, pos_m[:, :2])
        _, sinr = self.link.downlink_sinr_db(self._coupling(self._links_to(flight, pos_m, site), ch.fc_ghz))
        ok, latency = self.link.downlink(t_s, flight, sinr, self._rng["downlink"])
        self.down.add(sinr, ok, latency)
        return t_s + latency

    def forget(self, flight: np.ndarray) -> None:
        """Vehicles that landed: their links' state is dropped."""
        self._large.forget(flight)
        self._last = None

    # -- sensing

    def scan(
        self, t_s: float, flight: np.ndarray, pos_m: np.ndarray, vel_mps: np.ndarray, evtol: np.ndarray
    ) -> SensedScan:
        """One ISAC scan at ``t_s`` of every airborne vehicle by its nearest TRPs (cooperative or not)."""
        params = self.sensing
        if params is None:
            raise RuntimeError(f"profile {self.name} has no sensing")
        k = self.settings.channel.sensing_sites
        if len(flight):
            links = self._links(flight, pos_m)
            site, los, sf_db, d3d = links.site[:, :k], links.los[:, :k], links.sf_db[:, :k], links.d3d[:, :k]
            pl_db = self._path_loss(links, params.fc_hz / 1e9)[:, :k]
        else:
            site = np.empty((0, k), np.int64)
            los, sf_db, pl_db, d3d = (np.empty((0, k)) for _ in range(4))
        n = len(flight)
        pair_target = np.repeat(np.arange(n), k)
        found = scan(
            params,
            self._rng["sensing"],
            t_s=t_s,
            target_pos_m=pos_m,
            target_vel_mps=vel_mps,
            target_rcs_class=np.where(evtol, RCS_CLASS["evtol"], RCS_CLASS["small_uav"]),
            trp_pos_m=self._trp_pos,
            pair_target=pair_target,
            pair_trp=site.ravel(),
            pl_db=pl_db.ravel(),
            los=los.ravel().astype(bool),
            sf_db=sf_db.ravel(),
        )
        self._count_detections(pos_m, d3d, site, found)
        published = (
            float(found.t_delivery_s.max()) if len(found) else t_s + params.cpi_s + params.processing_s
        )
        return SensedScan(found, published)

    def _count_detections(
        self, pos_m: np.ndarray, d3d: np.ndarray, site: np.ndarray, found: Detections
    ) -> None:
        """Detection-vs-range and vs-altitude statistics: every (target, TRP) pair tried (``d3d`` and
        ``site`` (n, K)), and those detected (a detection's TRP is one of its target's row of sites)."""
        real = ~found.false_alarm
        target = found.target.compress(real)
        self.detect_by_range.add(d3d.ravel(), _pair_values(d3d, site, target, found.trp.compress(real)))
        height_m = pos_m[:, 2]
        self.detect_by_altitude.add(np.repeat(height_m, d3d.shape[1]), height_m.take(target))

    def site_distance_m(self, flight: np.ndarray, pos_m: np.ndarray) -> np.ndarray:
        """Horizontal distance of each vehicle at ``pos_m`` (n, 3) to its nearest site, from the sites kept
        near it (:class:`NearestSites`) in a cache of its own (the answer never depends on one), so it may
        run beside the other calls, on another thread."""
        xy = self.sites.xy_m.take(self._near_scored.query(flight, pos_m[:, :2])[:, 0], axis=0)
        return np.hypot(pos_m[:, 0] - xy[:, 0], pos_m[:, 1] - xy[:, 1])

    # -- the channel

    def _links(self, flight: np.ndarray, pos_m: np.ndarray) -> _Links:
        """The links of vehicles to their nearest sites (those of a report or a scan), as the last call left
        them when it asked for the same vehicles at the same places: nothing there has changed since."""
        if self._last is None or not self._last.at(flight, pos_m):
            site = self._near.query(flight, pos_m[:, :2])
            self._last = self._links_to(flight.copy(), pos_m.copy(), site)
        return self._last

    def _links_to(self, flight: np.ndarray, pos_m: np.ndarray, site: np.ndarray) -> _Links:
        """The links of each vehicle to each of its ``site`` (n, K): large-scale state and geometry."""
        los, sf_db = self._large.draw(flight, pos_m, site)
        return _Links(flight, pos_m, site, los, sf_db, *link_geometry(self.sites, site, pos_m), {})

    def _path_loss(self, links: _Links, fc_ghz: float) -> np.ndarray:
        """The path loss of ``links`` on carrier ``fc_ghz``, computed once per carrier."""
        pl_db = links.path_loss_db.get(fc_ghz)
        if pl_db is None:
            ch = self.settings.channel
            h_m = links.pos_m[:, 2]
            pl_db = path_loss_rows_db(
                ch.scenario, links.los, links.d2d, links.d3d, h_m, fc_ghz, ch.bs_height_m
            )
            links.path_loss_db[fc_ghz] = pl_db
        return pl_db

    def _coupling(self, links: _Links, fc_ghz: float) -> np.ndarray:
        """The coupling loss (path loss + SF - best sector's gain) of ``links``, (n, K) dB."""
        if links.gain_dbi is None:
            links.gain_dbi = best_sector(self.sites, links.az, links.el)[1]
        return self._path_loss(links, fc_ghz) + links.sf_db - links.gain_dbi

    def summary(self) -> dict[str, Any]:
        """The run's network figures for ``metrics.json``."""
        return {
            "profile": self.name,
            "sites": self.sites.n_sites,
            "reports": self.up.summary(),
            "advisories": self.down.summary(),
            "detection_by_range_50m": self.detect_by_range.summary("range"),
            "detection_by_altitude_15m": self.detect_by_altitude.summary("altitude"),
        }
