"""Surveillance fusion: one track per vehicle from cooperative reports and network-sensing detections.

Every track runs the same constant-velocity Kalman filter with white-acceleration process noise (SIXG-MODEL.md
§1, §8 phase 4), all tracks at once: state ``[x, y, z, vx, vy, vz]`` in local ENU m and m/s, and its 6 x 6
covariance. A cooperative report names its flight and updates that flight's track. A sensing detection has
no identity: it is gated against the predicted tracks (a sweep broad phase, then a chi-square Mahalanobis
gate) and assigned by global nearest neighbour. A vehicle that never reports (non-cooperative) exists only as
a sensing track, which enters the picture after M-of-N confirmation. :func:`inflated_zone` grows the
protected zone for the picture's uncertainty and staleness (§6.2).

Each track is a row of (capacity, 6) states and (capacity, 6, 6) covariances (``state`` and ``cov`` are
(6, capacity) and (6, 6, capacity) views), and the filter, gating, assignment and scan rounds are numba
kernels looping over tracks and pairs (a few passes per round of a scan instead of dozens of whole-array
numpy passes); the assignment kernels are in :mod:`sim.sixg.assignment`. Layer: sim.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaincinv

from sim.errors import ScenarioError
from sim.sixg.assignment import _gnn, _root, _union

__all__ = ["K_95_1D", "K_95_2D", "FusionConfig", "Picture", "Tracks", "inflated_zone"]

K_95_2D = 2.4477
"""k of a 95 % circle of a 2-D Gaussian with equal per-axis sigma (SIXG-MODEL.md §6.2)."""
K_95_1D = 1.959964
"""k of a two-sided 95 % interval of a 1-D Gaussian (the vertical axis)."""

_OOSM_S = 1e-9  # a measurement older than its track's last update by more is out of sequence
_SLACK = 1e-6  # relative slack of the broad-phase radii (rounding may add candidates, never drop one)
_PAD_M = 1e-3  # added to every broad-phase radius, the same: rounding in positions never drops a pair
_LIST_MARGIN_M = 10.0  # a scan's first gating lists this much further, so later rounds skip the grid


@dataclass(frozen=True, slots=True)
class FusionConfig:
    """Tracker settings: noise sigmas per axis, gate, confirmation and timeout (SIXG-MODEL.md §8)."""

    accel_psd_m2ps3: float = 1.0  # q, white-acceleration spectral density of the CV model
    # q of a report step whose innovation shows a manoeuvre (Tracks._filter; not above accel_psd_m2ps3: none):
    # sigma_a^2 T for a multirotor's 2 m/s^2 speed changes and 45 deg/s turns over a 1 s report, sigma_a = 4
    manoeuvre_psd_m2ps3: float = 16.0
    # per-axis sigma of the velocity step a track's echoes may show since its last update (_scan): a vehicle
    # turns and speeds up within its limits each second, as one step of the flight model's tick, up to
    # 11.5 m/s for a multirotor's 45 deg at 15 m/s (2 sigma) and 13 m/s for an eVTOL's 15 deg at 50 m/s
    sensing_manoeuvre_sigma_mps: float = 6.0
    gnss_sigma_h_m: float = 1.5  # report position noise, east and north (§8 surveillance)
    gnss_sigma_v_m: float = 3.0  # report position noise, up (§8 surveillance)
    # report velocity noise per axis (assumption: §8 gives none): GNSS Doppler velocity, 0.05-0.1 m/s. At 0.5
    # the filter trusted the velocity it differenced out of ISAC positions more than the reported one
    gnss_sigma_vel_mps: float = 0.1
    birth_sigma_vel_h_mps: float = 15.0  # velocity prior of a track born without one (drone cruise speed)
    birth_sigma_vel_v_mps: float = 5.0
    gate_probability: float = 0.99  # chi-square gate on the 3-dof position innovation
    confirm_m: int = 3  # a sensing-only track is confirmed by m hits in its first n scans
    confirm_n: int = 5
    timeout_s: float = 5.0  # a track not updated for longer is dropped

    def __post_init__(self) -> None:
        positive = ("gnss_sigma_h_m", "gnss_sigma_v_m", "gnss_sigma_vel_mps", "birth_sigma_vel_h_mps")
        for name in (*positive, "birth_sigma_vel_v_mps", "timeout_s"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ScenarioError(name, f"must be finite and > 0 (got {value})")
        for name in ("accel_psd_m2ps3", "manoeuvre_psd_m2ps3", "sensing_manoeuvre_sigma_mps"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ScenarioError(name, f"must be finite and >= 0 (got {value})")
        if not 0 < self.gate_probability < 1:
            raise ScenarioError("gate_probability", f"must be in (0, 1) (got {self.gate_probability})")
        if not 1 <= self.confirm_m <= self.confirm_n <= 1000:
            raise ScenarioError(
                "confirm_m", f"need 1 <= m <= n <= 1000 (got {self.confirm_m} of {self.confirm_n})"
            )

    @property
    def gnss_sigma(self) -> np.ndarray:
        """(6,) sigma of a report's GNSS error on x, y, z, vx, vy, vz: the error the engine draws into each
        report over a modelled network, and the one the filter assumes (one setting for both)."""
        h, v, vel = self.gnss_sigma_h_m, self.gnss_sigma_v_m, self.gnss_sigma_vel_mps
        return np.array([h, h, v, vel, vel, vel])

    @property
    def gnss_accuracy_m(self) -> tuple[float, float]:
        """A report's horizontal and vertical accuracy at 95 % (the 2-D circle and the two-sided interval), as
        F3548 telemetry states it."""
        return K_95_2D * self.gnss_sigma_h_m, K_95_1D * self.gnss_sigma_v_m

    @property
    def gate(self) -> float:
        """Gate on the squared Mahalanobis distance: the chi-square (3 dof) quantile, 11.34 at 99 %."""
        return 2.0 * float(gammaincinv(1.5, self.gate_probability))


@dataclass(frozen=True, slots=True)
class Picture:
    """Confirmed tracks predicted to ``t_s``: what conflict detection reads, one row per track."""

    t_s: float
    vehicle: np.ndarray  # (k,) int64: flight id; -2 - track_id for a sensing-only track
    track_id: np.ndarray  # (k,) int64
    pos_m: np.ndarray  # (k, 3) ENU
    vel_mps: np.ndarray  # (k, 3)
    sigma_h_m: np.ndarray  # (k,) horizontal position sigma per axis (major axis of the error ellipse)
    sigma_v_m: np.ndarray  # (k,) vertical position sigma
    age_s: np.ndarray  # (k,) since the last update
    cooperative: np.ndarray  # (k,) bool: the track has the vehicle's reports

    def __len__(self) -> int:
        return len(self.vehicle)


class Tracks:
    """Tracks as rows: filter state, identity and confirmation; a dropped track's row is reused.

    Rows are meaningful only where ``active``. ``t_s`` is the time of the last update, which is also the
    time ``state`` and ``cov`` refer to. ``vehicle`` is the flight id of a cooperative track, -1 for a
    tentative sensing-only track and ``-2 - track_id`` once it is confirmed. Feed measurements in time order:
    one older than its track's last update is out of sequence and not applied.

    >>> tracks = Tracks()
    >>> tracks.update_reports([7], 0.0, [[0.0, 0.0, 50.0]], [[10.0, 0.0, 0.0]])
    >>> pic = tracks.picture(2.0)
    >>> pic.vehicle.tolist(), pic.pos_m.tolist(), pic.age_s.tolist()
    ([7], [[20.0, 0.0, 50.0]], [2.0])
    """

    t_s: np.ndarray  # (cap,)
    track_id: np.ndarray  # (cap,) int64, never reused
    vehicle: np.ndarray  # (cap,) int64
    hits: np.ndarray  # (cap,) int64: M-of-N count of a sensing-only track
    scans: np.ndarray  # (cap,) int64
    active: np.ndarray  # (cap,) bool
    confirmed: np.ndarray  # (cap,) bool
    cooperative: np.ndarray  # (cap,) bool: updated by reports
    sensed: np.ndarray  # (cap,) bool: updated by sensing at least once

    def __init__(self, config: FusionConfig | None = None, *, capacity: int = 256) -> None:
        self.config = FusionConfig() if config is None else config
        self._gate = self.config.gate
        self._gate6 = 2.0 * float(gammaincinv(3.0, self.config.gate_probability))  # 6 dof, for the merge
        c = self.config
        self._r_pos = np.diag([c.gnss_sigma_h_m**2, c.gnss_sigma_h_m**2, c.gnss_sigma_v_m**2])[:, :, None]
        self._r_vel = np.eye(3)[None] * c.gnss_sigma_vel_mps**2  # (1, 3, 3)
        self._birth_var = (
            np.array([c.birth_sigma_vel_h_mps, c.birth_sigma_vel_h_mps, c.birth_sigma_vel_v_mps]) ** 2
        )
        # flight id -> row of its track; -1 = none (never exposed)
        self._row_of = np.full(max(1, capacity), -1, np.int64)
        self._next_id = 0
        self._cap = 0
        self._grow(max(1, capacity))

    @property
    def state(self) -> np.ndarray:
        """(6, cap) view: x, y, z, vx, vy, vz of every row (stored row by row for the per-track kernels)."""
        return self._x.T

    @property
    def cov(self) -> np.ndarray:
        """(6, 6, cap) view of the covariances (stored as (cap, 6, 6))."""
        return self._p.transpose(1, 2, 0)

    def __len__(self) -> int:
        return int(self.active.sum())

    def rows(self) -> np.ndarray:
        """Active rows, ascending: the fixed order of every batch operation."""
        return self.active.nonzero()[0]

    # -- measurements

    def update_reports(
        self, flight: ArrayLike, t_s: ArrayLike, pos_m: ArrayLike, vel_mps: ArrayLike | None = None
    ) -> None:
        """Cooperative reports: each updates its flight's track; a new flight starts a confirmed track.

        ``t_s`` is when each position was measured (the report's send time). Reports of one flight are
        applied in time order, a manoeuvre they show opening the prediction up (:meth:`_filter`). A new track
        absorbs the sensing-only track its first report gates with, so a vehicle sensed before it reported
        keeps one track.
        """
        flight = np.asarray(flight, np.int64).reshape(-1)
        n = len(flight)
        pos = _rows3("pos_m", pos_m, n)
        vel = None if vel_mps is None else _rows3("vel_mps", vel_mps, n)
        t = np.broadcast_to(np.asarray(t_s, float), (n,))
        if not n:
            return
        if flight.min() < 0:
            raise ValueError(f"flight: ids must be >= 0 ({int(flight.min())})")
        self.prune(float(t.max()))
        rows = self._rows_of(flight)
        todo = np.arange(n)
        if (rows < 0).any():
            k = (rows < 0).nonzero()[0]
            k = k.take(np.lexsort((t.take(k), flight.take(k))))
            first = k.compress(np.r_[True, flight.take(k[1:]) != flight.take(k[:-1])])
            vel_var = self._birth_var if vel is None else np.full(3, self.config.gnss_sigma_vel_mps**2)
            born = self._birth(
                pos[first].T, None if vel is None else vel[first].T, t.take(first), self._r_pos, vel_var
            )
            self.cooperative[born] = self.confirmed[born] = True
            self.vehicle[born] = flight.take(first)
            self._set_row_of(flight.take(first), born)
            self._absorb(born)
            rows = self._rows_of(flight)
            todo = np.setdiff1d(todo, first)
        # each track's reports in time order (tracks update independently; ties keep the given order). A
        # batch sent in one instant, as the engine's are, is in order already: no sort of 10k rows per cycle
        t_todo = t.take(todo)
        k = todo if (t_todo == t_todo[:1]).all() else todo.take(t_todo.argsort(kind="stable"))
        self._filter(rows.take(k), t.take(k), pos[k].T, self._r_pos, None if vel is None else vel[k].T)

    def update_sensing(
        self, t_s: float, pos_m: ArrayLike, cov_m2: ArrayLike, *, sensor: ArrayLike | None = None
    ) -> None:
        """One sensing scan at ``t_s``: detections (ENU positions and 3 x 3 covariances, no identity).

        Detections are gated against every track predicted to ``t_s`` (cooperative ones too: a cooperative
        vehicle's echo updates its own track) and assigned by global nearest neighbour, a track taking at
        most one detection per ``sensor`` (TRP; default: one sensor) and a detection that a cooperative track
        can still take, or could at the start of the scan, going to a cooperative track. A detection outside
        every gate starts a tentative track, but of mutually gated ones from different sensors only the most
        accurate does; the others then update it. A detection inside a gate at the start of the scan (before
        its updates move and shrink the tracks) starts none: once outside every gate it is dropped. Rounds
        repeat until no detection is left to assign (:func:`_scan`). A tentative track is
        confirmed by ``confirm_m`` hits in its first ``confirm_n`` scans and dropped once it cannot be; a
        detection assigned to a track updated after ``t_s`` is only consumed (out of sequence). Last, two
        tracks, one of them updated by the scan, whose states agree within the 6-dof gate are one vehicle: the
        tentative track a missed gate started, or a twin that two TRPs would otherwise feed for ever.
        """
        t = float(t_s)
        z = np.ascontiguousarray(_rows3("pos_m", pos_m))
        m = len(z)
        r = np.ascontiguousarray(cov_m2, float)
        if r.shape != (m, 3, 3):
            raise ValueError(f"cov_m2: must have shape ({m}, 3, 3) ({r.shape})")
        s = np.zeros(m, np.int64) if sensor is None else np.asarray(sensor, np.int64).reshape(-1)
        if len(s) != m or (m and not 0 <= s.min() <= s.max() < 2**31):
            raise ValueError(f"sensor: must be {m} ids in [0, 2**31)")
        self.prune(t)
        rows = self.rows()
        confirmed = self.confirmed.take(rows)
        tent = (~confirmed).nonzero()[0]  # the columns of the tentative tracks
        free = (~self.active).nonzero()[0]
        if len(free) < m:  # a row for every detection that could start a track
            self._grow(max(2 * self._cap, self._cap + m - len(free)))
            free = (~self.active).nonzero()[0]
        x_born, p_born, given, seeds, losers = _scan(
            self._x,
            self._p,
            self.t_s,
            self.sensed,
            rows,
            self.cooperative.take(rows),
            confirmed,
            self.track_id.take(rows),
            self._next_id,
            free,
            t,
            z,
            r,
            s,
            self._gate,
            self._gate6,
            self.config.accel_psd_m2ps3,
            self.config.sensing_manoeuvre_sigma_mps**2,
            self._birth_var,
        )
        # the seeds' tracks, with their states as the scan's rounds left them (the tracks' ones it wrote back
        # itself), on the rows it gave them
        born = self._open(np.full(len(seeds), t))
        self._x[born], self._p[born], self.sensed[born], self.vehicle[born] = x_born, p_born, True, -1
        self._drop(np.unique(np.concatenate([rows, born]).take(losers)))
        tent = tent.compress(self.active.take(rows.take(tent)))
        tentative = rows.take(tent)
        self.scans[tentative] += 1
        self.hits[tentative] += given.take(tent)
        self._confirm(np.concatenate([tentative, born.compress(self.active.take(born))]))

    # -- bookkeeping

    def prune(self, t_s: float) -> None:
        """Drop the tracks not updated for longer than ``timeout_s`` before ``t_s``."""
        self._drop((self.active & (t_s - self.t_s > self.config.timeout_s)).nonzero()[0])

    def drop_vehicles(self, vehicle: ArrayLike) -> None:
        """Forget these vehicles' tracks (a flight that landed would otherwise coast until its timeout)."""
        vehicle = np.asarray(vehicle, np.int64).reshape(-1)
        self._drop((self.active & np.isin(self.vehicle, vehicle.compress(vehicle != -1))).nonzero()[0])

    # -- reading

    def predict(self, t_s: float, rows: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
        """States (k, 6) and covariances (k, 6, 6) of ``rows`` (default: the active ones) at ``t_s``."""
        rows = self.rows() if rows is None else np.asarray(rows, np.int64)
        dt = t_s - self.t_s.take(rows)
        return _predicted(self._x, self._p, rows, dt, self.config.accel_psd_m2ps3)

    def picture(self, t_s: float) -> Picture:
        """The confirmed tracks predicted to ``t_s`` (stale ones are pruned first), ascending rows."""
        self.prune(t_s)
        rows = (self.active & self.confirmed).nonzero()[0]
        age = t_s - self.t_s.take(rows)
        x, p = _predicted(self._x, self._p, rows, age, self.config.accel_psd_m2ps3)
        pxx, pyy = p[:, 0, 0], p[:, 1, 1]
        half_sum, half_diff = 0.5 * (pxx + pyy), 0.5 * (pxx - pyy)
        return Picture(
            t_s=t_s,
            vehicle=self.vehicle.take(rows),
            track_id=self.track_id.take(rows),
            pos_m=x[:, :3],
            vel_mps=x[:, 3:],
            sigma_h_m=np.sqrt(half_sum + np.hypot(half_diff, p[:, 0, 1])),
            sigma_v_m=np.sqrt(p[:, 2, 2]),
            age_s=age,
            cooperative=self.cooperative.take(rows),
        )

    # -- internals

    def _grow(self, capacity: int) -> None:
        old = self._cap
        fresh = {
            "_x": np.zeros((capacity, 6)),
            "_p": np.zeros((capacity, 6, 6)),
            "t_s": np.zeros(capacity),
            **{name: np.zeros(capacity, np.int64) for name in ("track_id", "vehicle", "hits", "scans")},
            **{name: np.zeros(capacity, bool) for name in ("active", "confirmed", "cooperative", "sensed")},
        }
        for name, column in fresh.items():
            if old:
                column[:old] = getattr(self, name)
            setattr(self, name, column)
        self._cap = capacity

    def _birth(
        self, z: np.ndarray, vel: np.ndarray | None, t: np.ndarray, pos_cov: np.ndarray, vel_var: np.ndarray
    ) -> np.ndarray:
        """New tracks at ``z`` (3, k) with ``pos_cov`` (3, 3, k or 1), and velocity ``vel`` (or 0) with
        ``vel_var``; their rows, the lowest free ones (:meth:`_open`)."""
        k = z.shape[1]
        x, p = np.zeros((k, 6)), np.zeros((k, 6, 6))
        x[:, :3] = z.T
        if vel is not None:
            x[:, 3:] = vel.T
        p[:, :3, :3] = pos_cov.transpose(2, 0, 1)
        for a in range(3):
            p[:, 3 + a, 3 + a] = vel_var[a]
        rows = self._open(t)
        self._x[rows], self._p[rows] = x, p
        return rows

    def _open(self, t: np.ndarray) -> np.ndarray:
        """Rows, the lowest free ones, for new tentative tracks last updated at ``t`` (k,): ids, M-of-N
        counts, flags; the caller writes their states."""
        k = len(t)
        free = (~self.active).nonzero()[0]
        if len(free) < k:
            self._grow(max(2 * self._cap, self._cap + k))
            free = (~self.active).nonzero()[0]
        rows = free[:k]
        self.t_s[rows] = t
        self.track_id[rows] = np.arange(self._next_id, self._next_id + k)
        self._next_id += k
        self.active[rows] = True
        self.hits[rows], self.scans[rows] = 1, 1
        self.confirmed[rows] = self.cooperative[rows] = self.sensed[rows] = False
        return rows

    def _drop(self, rows: np.ndarray) -> None:
        if len(rows):
            _deactivate(np.asarray(rows, np.int64), self.active, self.cooperative, self.vehicle, self._row_of)

    def _rows_of(self, flight: np.ndarray) -> np.ndarray:
        """Rows of the flights' tracks; -1 where a flight has none (internal only)."""
        known = flight < len(self._row_of)
        if known.all():
            return self._row_of.take(flight)
        return np.where(known, self._row_of.take(np.where(known, flight, 0)), -1)

    def _set_row_of(self, flight: np.ndarray, rows: np.ndarray) -> None:
        top = int(flight.max()) + 1
        if top > len(self._row_of):
            grown = np.full(max(top, 2 * len(self._row_of)), -1, np.int64)
            grown[: len(self._row_of)] = self._row_of
            self._row_of = grown
        self._row_of[flight] = rows

    def _absorb(self, born: np.ndarray) -> None:
        """Drop the sensing-only tracks that the first reports of new cooperative tracks take over."""
        others = (self.active & ~self.cooperative).nonzero()[0]
        if len(others):
            self._drop(
                self._associate(others, self.state[:3, born], self.cov[:3, :3, born], self.t_s[born])[0]
            )

    def _confirm(self, rows: np.ndarray) -> None:
        """M-of-N: confirm the tentative ``rows`` with ``confirm_m`` hits; drop those that cannot get them."""
        c = self.config
        self._drop(
            _m_of_n(
                np.asarray(rows, np.int64),
                self.hits,
                self.scans,
                c.confirm_m,
                c.confirm_n,
                self.confirmed,
                self.vehicle,
                self.track_id,
            )
        )

    def _filter(
        self,
        rows: np.ndarray,
        t: np.ndarray,
        pos: np.ndarray,
        r_pos: np.ndarray,
        vel: np.ndarray | None = None,
    ) -> None:
        """Predict ``rows`` to ``t`` and update them with ``pos`` (3, n) and noise ``r_pos`` (3, 3, n, or
        3, 3, 1 for all), then with ``vel`` (3, n) when given, in this order (:func:`_filter_rows`)."""
        c = self.config
        _filter_rows(
            self._x,
            self._p,
            self.t_s,
            np.asarray(rows, np.int64),
            np.ascontiguousarray(t, float),
            np.ascontiguousarray(pos.T, float),
            np.ascontiguousarray(np.asarray(r_pos, float).transpose(2, 0, 1)),
            np.empty((0, 3)) if vel is None else np.ascontiguousarray(vel.T, float),
            self._r_vel,
            c.accel_psd_m2ps3,
            c.manoeuvre_psd_m2ps3,
            self._gate,
        )

    def _associate(
        self, rows: np.ndarray, z: np.ndarray, r: np.ndarray, t_det: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Global-nearest-neighbour assignment of detections ``z`` (3, m), ``r`` (3, 3, m) measured at
        ``t_det`` to tracks ``rows``: the assigned rows and detections and the mask of detections inside some
        track's gate. A pair costs ``d^2 + ln det S``. (A sensing scan, all at one time, runs :func:`_scan`.)
        """
        m = z.shape[1]
        none = np.empty(0, np.int64)
        if not len(rows) or not m:
            return none, none, np.zeros(m, bool)
        q, gate = self.config.accel_psd_m2ps3, self._gate
        # broad phase: |nu| <= sqrt(gate lambda_max(S)) <= sqrt(gate tr P) + sqrt(gate tr R), with tr P
        # bounded over the detection times and the track's motion between them added
        lo, hi = float(t_det.min()), float(t_det.max())
        t0 = self.t_s.take(rows)
        x, p = self._x.take(rows, axis=0), self._p.take(rows, axis=0)
        dt = np.maximum(np.abs(lo - t0), np.abs(hi - t0))
        tr_pp, tr_pv, tr_vv = (
            np.trace(p[:, a : a + 3, b : b + 3], axis1=1, axis2=2) for a, b in ((0, 0), (0, 3), (3, 3))
        )
        var = tr_pp + 2.0 * dt * np.abs(tr_pv) + dt * dt * tr_vv + q * dt**3
        reach = np.sqrt(gate * var) + np.linalg.norm(x[:, 3:], axis=1) * (hi - lo)
        det_reach = np.sqrt(gate * (r[0, 0] + r[1, 1] + r[2, 2]))
        pos = np.concatenate([(x[:, :3] + x[:, 3:] * (hi - t0)[:, None]).T, z], axis=1)
        ti, dj = _near(pos, np.concatenate([reach, det_reach]) * (1.0 + _SLACK), split=len(rows))
        tr, dj = rows.take(ti), dj - len(rows)
        zs, rs = np.ascontiguousarray(z.T), np.ascontiguousarray(r.transpose(2, 0, 1))
        d2, cost = _gate_pairs(self._x, self._p, tr, t_det.take(dj) - self.t_s.take(tr), zs, rs, dj, q)
        inside = d2 <= gate
        gated = np.zeros(m, bool)
        gated[dj.compress(inside)] = True
        k = inside.nonzero()[0]
        k = k.take(_gnn(tr.take(k), dj.take(k), cost.take(k)))
        return tr.take(k), dj.take(k), gated


def inflated_zone(
    radius_m: ArrayLike,
    half_height_m: ArrayLike,
    sigma_rel_h_m: ArrayLike,
    sigma_rel_v_m: ArrayLike,
    v_rel_mps: ArrayLike,
    *,
    latency_s: ArrayLike,
    update_period_s: ArrayLike,
    k: float = K_95_2D,
    k_v: float = K_95_1D,
    v_rel_v_mps: ArrayLike = 0.0,
    accel_mps2: ArrayLike = 0.0,
    enabled: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Protected zone grown for surveillance error and staleness (SIXG-MODEL.md §6.2): ``(R_eff, H_eff)``.

    ``R_eff = R + k sigma_rel_h + v_rel (latency + T_update / 2) + a tau^2 / 2`` with
    ``tau = latency + T_update / 2``; ``H_eff`` alike with ``k_v``, ``sigma_rel_v`` and ``v_rel_v``.
    ``sigma_rel`` is the per-axis sigma of a pair's relative position, ``hypot(sigma_1, sigma_2)`` for
    independent errors. Everything broadcasts (one value per pair); ``enabled=False`` gives the zone itself.

    >>> r, h = inflated_zone(50.0, 15.0, [np.hypot(12.45, 12.45), np.hypot(3.0, 3.0)], 0.0, 30.0,
    ...                      latency_s=[1.0, 0.3], update_period_s=[1.0, 0.2])
    >>> (r - 50.0).round(1).tolist(), h.tolist()  # §6.2: Remote ID only +88 m, ISAC-grade +22 m
    ([88.1, 22.4], [15.0, 15.0])
    """
    tau = np.asarray(latency_s, float) + 0.5 * np.asarray(update_period_s, float)
    manoeuvre = 0.5 * np.asarray(accel_mps2, float) * tau**2
    grow = 1.0 if enabled else 0.0
    r_eff = np.asarray(radius_m, float) + grow * (
        k * np.asarray(sigma_rel_h_m, float) + np.asarray(v_rel_mps, float) * tau + manoeuvre
    )
    h_eff = np.asarray(half_height_m, float) + grow * (
        k_v * np.asarray(sigma_rel_v_m, float) + np.abs(np.asarray(v_rel_v_mps, float)) * tau + manoeuvre
    )
    return np.broadcast_arrays(r_eff, h_eff)


def _rows3(field: str, value: ArrayLike, n: int | None = None) -> np.ndarray:
    """``value`` as a float (n, 3) array, or a ValueError naming the field."""
    a = np.asarray(value, float)
    if a.ndim != 2 or a.shape[1] != 3 or (n is not None and len(a) != n):
        raise ValueError(f"{field}: must have shape ({'n' if n is None else n}, 3) ({a.shape})")
    return a


def _near(pos: np.ndarray, half: np.ndarray, split: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``i < j`` of points ``pos`` (3, n) at most ``half_i + half_j`` apart (plus ``_PAD_M``
    each), every one once; with ``split``, only those with ``i < split <= j`` (:func:`_grid`)."""
    pts = np.ascontiguousarray(pos.T, float)
    h = np.asarray(half, float) + _PAD_M
    if split is None:
        return _pairs(pts, h, pts, h, True)
    i, j = _pairs(pts[:split], h[:split], pts[split:], h[split:], False)
    return i, j + split


# -- kernels (numba). Every track's state is a row x (6,) and covariance p (6, 6); the arithmetic of each
# step is written out in a fixed order, so a run is bit-for-bit reproducible. The per-pair and per-cell
# helpers are inlined (``inline="always"``): calling one costs more than its arithmetic (a fifth of a
# sensing scan went to the calls), and inlining keeps every operation and its order.


@numba.njit(cache=True, inline="always")
def _add_noise(p: np.ndarray, c: int, dt: float, q0: float, q1: float, q2: float) -> None:
    """Add the process noise ``Q`` of white acceleration ``q0, q1, q2`` (per axis) over ``dt`` s to
    ``p[c]``."""
    a = abs(dt)
    for i in range(3):
        q = q0 if i == 0 else q1 if i == 1 else q2
        pv = q * dt * a / 2.0
        p[c, i, i] += q * a**3 / 3.0
        p[c, i, i + 3] += pv
        p[c, i + 3, i] += pv
        p[c, i + 3, i + 3] += q * a


@numba.njit(cache=True, inline="always")
def _predict(x: np.ndarray, p: np.ndarray, c: int, dt: float, q: float) -> None:
    """Constant-velocity prediction of ``x[c]``, ``p[c]`` in place by ``dt`` s: ``F x``, ``F P F^T + Q`` for
    white acceleration ``q``. A negative ``dt`` (gating an out-of-sequence detection) predicts backwards with
    the matching noise."""
    for i in range(3):
        x[c, i] += x[c, i + 3] * dt
    for i in range(3):
        for j in range(3):
            p[c, i, j] += dt * ((p[c, i, j + 3] + p[c, j, i + 3]) + dt * p[c, i + 3, j + 3])
    for i in range(3):
        for j in range(3):
            p[c, i, j + 3] += dt * p[c, i + 3, j + 3]
    for i in range(3):
        for j in range(3):
            p[c, j + 3, i] = p[c, i, j + 3]
    if q != 0.0:
        _add_noise(p, c, dt, q, q, q)


@numba.njit(cache=True, inline="always")
def _chol3(
    p: np.ndarray, c: int, b: int, r: np.ndarray, k: int, extra: float = 0.0
) -> tuple[float, float, float, float, float, float]:
    """Cholesky factor ``(l00, l10, l20, l11, l21, l22)`` of ``S = p[c, b:b+3, b:b+3] + r[k, :3, :3]``, plus
    ``extra`` on the diagonal."""
    l00 = np.sqrt(p[c, b, b] + r[k, 0, 0] + extra)
    l10, l20 = (p[c, b + 1, b] + r[k, 1, 0]) / l00, (p[c, b + 2, b] + r[k, 2, 0]) / l00
    l11 = np.sqrt(p[c, b + 1, b + 1] + r[k, 1, 1] + extra - l10 * l10)
    l21 = (p[c, b + 2, b + 1] + r[k, 2, 1] - l20 * l10) / l11
    return l00, l10, l20, l11, l21, np.sqrt(p[c, b + 2, b + 2] + r[k, 2, 2] + extra - l20 * l20 - l21 * l21)


@numba.njit(cache=True, inline="always")
def _gate(
    x: np.ndarray,
    p: np.ndarray,
    c: int,
    b: int,
    z: np.ndarray,
    j: int,
    r: np.ndarray,
    k: int,
    extra: float = 0.0,
) -> tuple[float, float]:
    """Squared Mahalanobis distance of ``z[j, :3]`` with noise ``r[k, :3, :3]`` (plus ``extra`` per axis) from
    the block ``b:b+3`` of state ``c``, and the assignment cost ``d^2 + ln det S``. (Arrays and indices, not
    rows: a row view passed to a kernel costs more than the arithmetic.)"""
    l00, l10, l20, l11, l21, l22 = _chol3(p, c, b, r, k, extra)
    u0 = (z[j, 0] - x[c, b]) / l00
    u1 = (z[j, 1] - x[c, b + 1] - l10 * u0) / l11
    u2 = (z[j, 2] - x[c, b + 2] - l20 * u0 - l21 * u1) / l22
    d2 = u0 * u0 + u1 * u1 + u2 * u2
    return d2, d2 + 2.0 * np.log(l00 * l11 * l22)


@numba.njit(cache=True, inline="always")
def _update(
    x: np.ndarray, p: np.ndarray, c: int, b: int, z: np.ndarray, j: int, r: np.ndarray, k: int, w: np.ndarray
) -> None:
    """Kalman update in place of the block ``b:b+3`` (0 position, 3 velocity) of state ``c`` measured as
    ``z[j]`` with noise ``r[k]``; ``w`` (3, 6) is scratch (:func:`_whiten`, then :func:`_correct`)."""
    _correct(x, p, c, b, _whiten(x, p, c, b, z, j, r, k), w)


@numba.njit(cache=True, inline="always")
def _whiten(
    x: np.ndarray, p: np.ndarray, c: int, b: int, z: np.ndarray, j: int, r: np.ndarray, k: int
) -> tuple[float, float, float, float, float, float, float, float, float]:
    """The first half of :func:`_update`: ``L`` of ``S = H P H^T + R = L L^T`` (as :func:`_chol3`) and the
    whitened innovation ``u = L^-1 (z - H x)``, as ``(l00, l10, l20, l11, l21, l22, u0, u1, u2)``."""
    l00, l10, l20, l11, l21, l22 = _chol3(p, c, b, r, k)
    u0 = (z[j, 0] - x[c, b]) / l00
    u1 = (z[j, 1] - x[c, b + 1] - l10 * u0) / l11
    u2 = (z[j, 2] - x[c, b + 2] - l20 * u0 - l21 * u1) / l22
    return l00, l10, l20, l11, l21, l22, u0, u1, u2


@numba.njit(cache=True, inline="always")
def _correct(
    x: np.ndarray,
    p: np.ndarray,
    c: int,
    b: int,
    f: tuple[float, float, float, float, float, float, float, float, float],
    w: np.ndarray,
) -> None:
    """The second half of :func:`_update`, from its :func:`_whiten` ``f``: with ``w = L^-1 H P``,
    ``x += w^T u`` and ``P -= w^T w``, which is the textbook ``K = P H^T S^-1`` update, and keeps ``P``
    symmetric to the last bit. Apart so that a scan whitens all its updates first: the square roots and
    divisions of one then overlap the others' instead of waiting on each other."""
    l00, l10, l20, l11, l21, l22, u0, u1, u2 = f
    pc, xc = p[c], x[c]
    for i in range(6):
        w[0, i] = pc[b, i] / l00
        w[1, i] = (pc[b + 1, i] - l10 * w[0, i]) / l11
        w[2, i] = (pc[b + 2, i] - l20 * w[0, i] - l21 * w[1, i]) / l22
    for i in range(6):
        xc[i] += w[0, i] * u0 + w[1, i] * u1 + w[2, i] * u2
    for i in range(6):
        for m in range(i, 6):
            pc[i, m] = pc[i, m] - w[0, i] * w[0, m] - w[1, i] * w[1, m] - w[2, i] * w[2, m]
            pc[m, i] = pc[i, m]


@numba.njit(cache=True, inline="always")
def _copy(x: np.ndarray, p: np.ndarray, c: int, xs: np.ndarray, ps: np.ndarray, row: int) -> None:
    """``x[c], p[c] = xs[row], ps[row]``, element by element."""
    for i in range(6):
        x[c, i] = xs[row, i]
        for j in range(6):
            p[c, i, j] = ps[row, i, j]


@numba.njit(cache=True, nogil=True)
def _filter_rows(
    xs: np.ndarray,
    ps: np.ndarray,
    ts: np.ndarray,
    rows: np.ndarray,
    t: np.ndarray,
    pos: np.ndarray,
    r_pos: np.ndarray,
    vel: np.ndarray,
    r_vel: np.ndarray,
    q: float,
    q_turn: float,
    gate: float,
) -> None:
    """Predict each track ``rows[k]`` to ``t[k]`` and update it with ``pos[k]`` and noise ``r_pos[k]`` (or
    ``r_pos[0]`` when it has one),
    then with ``vel[k]`` (noise ``r_vel[0]``) when ``vel`` has rows, in order; a measurement older than its
    track's last update is out of sequence and skipped.

    Manoeuvre detection (noise-level switching): a track whose measured velocity (position, without one)
    falls outside the gate of its prediction is predicted with ``q_turn`` instead. The CV
    model's ``q`` keeps steady tracks smooth and crossing ones apart, but a turning vehicle is then many
    sigma off its track: without the switch the track keeps lagging, and its own accurate sensing echoes
    fall outside its gate.

    A report's velocity also measures the manoeuvre directly: each axis is predicted with at least
    ``nu^2 / dt``, the white-acceleration PSD that makes the measured velocity change ``nu`` over the step
    a one-sigma one (an adjustable process-noise level: Bar-Shalom, Li, Kirubarajan 2001, ch. 11). Below
    the switch's gate (``|nu|`` up to about 3.4 m/s in 1 s), a multirotor's 2 m/s^2 speed changes, the
    start and end of its climbs and the advisories it flies left the track one to three metres behind the
    vehicle at a claimed 0.3 m: on the Nanshan demo, 40-70 % of the tracks whose vehicle changed velocity
    by 1-4 m/s were outside the 99 % gate of their own truth, and their vehicles' ISAC echoes, outside the
    gate too, started the sensing-only twins that CD&R resolved against (about 2,000 in 20 minutes)."""
    has_vel, one_noise = len(vel) > 0, len(r_pos) == 1
    extra = np.empty(3)  # per axis, the process noise the step's manoeuvre adds to q
    w = np.empty((3, 6))
    for k in range(len(rows)):
        row = rows[k]
        if t[k] < ts[row] - _OOSM_S:
            continue
        kr = 0 if one_noise else k
        dt = max(t[k] - ts[row], 0.0)
        _predict(xs, ps, row, dt, q)
        extra[:] = 0.0
        if has_vel:
            for a in range(3):
                nu = vel[k, a] - xs[row, 3 + a]
                extra[a] = (nu * nu / dt if dt > 0.0 else 0.0) - q
        if q_turn > q:
            d2 = (
                _gate(xs, ps, row, 3, vel, k, r_vel, 0)[0]
                if has_vel
                else _gate(xs, ps, row, 0, pos, k, r_pos, kr)[0]
            )
            if d2 > gate:
                for a in range(3):
                    extra[a] = max(extra[a], q_turn - q)
        if extra.max() > 0.0:
            _add_noise(ps, row, dt, max(extra[0], 0.0), max(extra[1], 0.0), max(extra[2], 0.0))
        _update(xs, ps, row, 0, pos, k, r_pos, kr, w)
        if has_vel:
            _update(xs, ps, row, 3, vel, k, r_vel, 0, w)
        ts[row] = t[k]


@numba.njit(cache=True, nogil=True)
def _deactivate(
    rows: np.ndarray, active: np.ndarray, cooperative: np.ndarray, vehicle: np.ndarray, row_of: np.ndarray
) -> None:
    """Deactivate ``rows``, unmapping the flight of each cooperative one (:meth:`Tracks._drop`, in one call
    instead of a few numpy ones)."""
    for row in rows:
        if cooperative[row]:
            row_of[vehicle[row]] = -1
    for row in rows:
        active[row] = False


@numba.njit(cache=True, nogil=True)
def _m_of_n(
    rows: np.ndarray,
    hits: np.ndarray,
    scans: np.ndarray,
    m: int,
    n: int,
    confirmed: np.ndarray,
    vehicle: np.ndarray,
    track_id: np.ndarray,
) -> np.ndarray:
    """Confirm the ``rows`` with ``m`` hits (vehicle ``-2 - track_id``); the others that cannot get them in
    ``n`` scans, to drop (:meth:`Tracks._confirm`)."""
    out = np.empty(len(rows), np.int64)
    k = 0
    for row in rows:
        if hits[row] >= m:
            confirmed[row] = True
            vehicle[row] = -2 - track_id[row]
        elif hits[row] + n - scans[row] < m:
            out[k] = row
            k += 1
    return out[:k]


@numba.njit(cache=True, nogil=True)
def _predicted(
    xs: np.ndarray, ps: np.ndarray, rows: np.ndarray, dt: np.ndarray, q: float
) -> tuple[np.ndarray, np.ndarray]:
    """Copies of the states (k, 6) and covariances (k, 6, 6) of ``rows``, predicted by ``dt``."""
    x, p = np.empty((len(rows), 6)), np.empty((len(rows), 6, 6))
    for k in range(len(rows)):
        _copy(x, p, k, xs, ps, rows[k])
        _predict(x, p, k, dt[k], q)
    return x, p


@numba.njit(cache=True, nogil=True)
def _gate_pairs(
    xs: np.ndarray,
    ps: np.ndarray,
    rows: np.ndarray,
    dt: np.ndarray,
    z: np.ndarray,
    r: np.ndarray,
    det: np.ndarray,
    q: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Gate distance and cost (:func:`_gate`) of each pair (track ``rows[k]`` predicted by ``dt[k]``,
    detection ``det[k]`` of ``z`` (m, 3) with noise ``r`` (m, 3, 3))."""
    d2, cost = np.empty(len(rows)), np.empty(len(rows))
    x, p = np.empty((1, 6)), np.empty((1, 6, 6))
    for k in range(len(rows)):
        _copy(x, p, 0, xs, ps, rows[k])
        _predict(x, p, 0, dt[k], q)
        d2[k], cost[k] = _gate(x, p, 0, 0, z, det[k], r, det[k])
    return d2, cost


# -- broad phase: cell lists of squares

_Grid = tuple[float, float, float, int, int, np.ndarray, np.ndarray, np.ndarray]  # what _grid returns


@numba.njit(cache=True, inline="always")
def _cell(v: float, v0: float, inv: float, n: int) -> int:
    """The cell of coordinate ``v`` along an axis from ``v0`` with ``inv`` cells per metre, clipped to
    ``0..n-1`` (monotone in ``v``, so rounding never drops a cell two squares share)."""
    return min(max(int(np.floor((v - v0) * inv)), 0), n - 1)


@numba.njit(cache=True, inline="always")
def _span(
    x: float, y: float, h: float, x0: float, y0: float, inv: float, nx: int, ny: int
) -> tuple[int, int, int, int]:
    """First and last cells along x and y of the square ``x +- h, y +- h``."""
    return (
        _cell(x - h, x0, inv, nx),
        _cell(x + h, x0, inv, nx),
        _cell(y - h, y0, inv, ny),
        _cell(y + h, y0, inv, ny),
    )


@numba.njit(cache=True, nogil=True)
def _grid(pos: np.ndarray, half: np.ndarray) -> _Grid:
    """Cell lists of the squares ``x +- half, y +- half`` of points ``pos`` (k, 3): each point is listed in
    every cell its square touches. Cells are at least a mean square wide and at most about 4k, however
    different the radii (one wide point does not widen the search of the others).

    Returns ``(x0, y0, cells per metre, nx, ny, start, items, span)``: cell ``(i, j)`` lists
    ``items[start[i ny + j]:start[i ny + j + 1]]``, and point ``a`` is listed in the cells ``span[a, 0]`` to
    ``span[a, 1]`` along x by ``span[a, 2]`` to ``span[a, 3]`` along y."""
    k = len(half)
    x0, y0, x1, y1, total = np.inf, np.inf, -np.inf, -np.inf, 0.0
    for a in range(k):
        x0, x1 = min(x0, pos[a, 0] - half[a]), max(x1, pos[a, 0] + half[a])
        y0, y1 = min(y0, pos[a, 1] - half[a]), max(y1, pos[a, 1] + half[a])
        total += half[a]
    if k == 0:
        x0 = y0 = x1 = y1 = 0.0
    width, height = x1 - x0, y1 - y0
    size = max(2.0 * total / max(k, 1), np.sqrt(width * height / max(k, 1)), 1e-3)
    while (width / size + 1.0) * (height / size + 1.0) > 4.0 * k + 16.0:
        size *= 1.5
    inv = 1.0 / size
    nx, ny = _cell(x1, x0, inv, 1 << 40) + 1, _cell(y1, y0, inv, 1 << 40) + 1
    start, span = np.zeros(nx * ny + 1, np.int64), np.empty((k, 4), np.int64)
    for a in range(k):
        i0, i1, j0, j1 = _span(pos[a, 0], pos[a, 1], half[a], x0, y0, inv, nx, ny)
        span[a, 0], span[a, 1], span[a, 2], span[a, 3] = i0, i1, j0, j1
        for i in range(i0, i1 + 1):
            for c in range(i * ny + j0, i * ny + j1 + 1):
                start[c + 1] += 1
    start = np.cumsum(start)
    items = np.empty(start[-1], np.int64)
    fill = start[:-1].copy()
    for a in range(k):
        for i in range(span[a, 0], span[a, 1] + 1):
            for c in range(i * ny + span[a, 2], i * ny + span[a, 3] + 1):
                items[fill[c]] = a
                fill[c] += 1
    return x0, y0, inv, nx, ny, start, items, span


@numba.njit(cache=True, nogil=True)
def _query(
    grid: _Grid,
    pos: np.ndarray,
    half: np.ndarray,
    x: float,
    y: float,
    z: float,
    h: float,
    out: np.ndarray,
) -> int:
    """The points of ``grid`` (:func:`_grid` of ``pos``, ``half``) at most ``h + half`` from ``(x, y, z)``,
    each once, into ``out``; returns how many. A point is taken in the cell of the corner of the overlap of
    its square and the query's, which both list: the later of the first cells of the two (the cell is monotone
    in the coordinate), an integer test."""
    x0, y0, inv, nx, ny, start, items, span = grid
    found = 0
    i0, i1, j0, j1 = _span(x, y, h, x0, y0, inv, nx, ny)
    for i in range(i0, i1 + 1):
        for j in range(j0, j1 + 1):
            for s in range(start[i * ny + j], start[i * ny + j + 1]):
                a = items[s]
                if (i != i0 and span[a, 0] != i) or (j != j0 and span[a, 2] != j):
                    continue  # listed in the overlap's own cell too: taken there
                ha = half[a]
                dx, dy, dz = pos[a, 0] - x, pos[a, 1] - y, pos[a, 2] - z
                if dx * dx + dy * dy + dz * dz <= (h + ha) * (h + ha):
                    out[found] = a
                    found += 1
    return found


@numba.njit(cache=True, nogil=True)
def _pairs(
    a_pos: np.ndarray, a_half: np.ndarray, b_pos: np.ndarray, b_half: np.ndarray, ordered: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i of a, j of b) at most ``a_half[i] + b_half[j]`` apart; with ``ordered`` (a is b), i < j."""
    grid = _grid(b_pos, b_half)
    out = np.empty(len(b_half), np.int64)
    i, j = np.empty(16, np.int64), np.empty(16, np.int64)
    n = 0
    for k in range(len(a_half)):
        found = _query(grid, b_pos, b_half, a_pos[k, 0], a_pos[k, 1], a_pos[k, 2], a_half[k], out)
        if n + found > len(i):
            i, j = _grown(i, n + found), _grown(j, n + found)
        for f in range(found):
            if not ordered or out[f] > k:
                i[n], j[n] = k, out[f]
                n += 1
    return i[:n], j[:n]


@numba.njit(cache=True, nogil=True)
def _grown(a: np.ndarray, need: int) -> np.ndarray:
    """``a`` copied into an array of at least ``need`` and twice its length."""
    b = np.empty(max(need, 2 * len(a)), a.dtype)
    b[: len(a)] = a
    return b


# -- the sensing scan


@numba.njit(cache=True, nogil=True)
def _ranks(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The ranks of the elements of ``a`` then of ``b`` (each ascending, none in both) in their union."""
    rank = np.empty(len(a) + len(b), np.int64)
    i = j = 0
    while i + j < len(rank):
        if j == len(b) or (i < len(a) and a[i] < b[j]):
            rank[i] = i + j
            i += 1
        else:
            rank[len(a) + j] = i + j
            j += 1
    return rank


@numba.njit(cache=True, nogil=True)
def _scan(
    xs: np.ndarray,
    ps: np.ndarray,
    ts: np.ndarray,
    sensed: np.ndarray,
    rows: np.ndarray,
    coop: np.ndarray,
    confirmed: np.ndarray,
    track_id: np.ndarray,
    next_id: int,
    free: np.ndarray,
    t: float,
    z: np.ndarray,
    r: np.ndarray,
    sensor: np.ndarray,
    gate: float,
    gate6: float,
    q: float,
    turn_var: float,
    birth_var: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rounds of one sensing scan (:meth:`Tracks.update_sensing`) on copies of the tracks ``rows``
    predicted to ``t`` (columns ``0..n-1``), then the merge.

    Detections ``z`` (m, 3), ``r`` (m, 3, 3) are listed in cells (:func:`_grid`) once; each track gets the
    pending ones inside its gate (its square is its reach ``sqrt(gate tr P)``, which bounds
    ``sqrt(gate lambda_max(P))``, plus theirs). A round assigns the allowed pairs by :func:`_gnn`, updates the
    assigned columns and starts a column at each seed, the ``k``-th on row ``free[k]`` (the rows
    :meth:`Tracks._open` gives them next). Only the columns a round moved look for their pairs again.

    Manoeuvre detection: a confirmed track with an echo outside every gate but inside the one it would have
    after a velocity step of variance ``turn_var`` per axis at its last update takes that step for the whole
    scan (its echoes are judged together: one TRP's echo may fit the straight path along its precise range
    axis while the others' do not). Sensing measures no velocity, so a turn shows only as echoes leaving the
    gate: on ``q`` alone, each turning vehicle's echoes started a twin track (1,250 among 300 drones with
    MVP advisories in 60 s at 0.2 s scans), which then drew advisories of its own.

    The tracks a round updated are written back to their rows (state, covariance, ``ts`` and ``sensed``).
    Returns the states and covariances of the columns the seeds started (after the tracks, one per seed),
    which tracks were given a detection, the seeds (detections that started columns, in order) and the
    columns the merge drops.
    """
    n, m = len(rows), len(z)
    size = n + m
    x, p = np.empty((size, 6)), np.empty((size, 6, 6))
    t_col, is_coop = np.empty(size), np.zeros(size, np.bool_)
    # per column, the rank of its row among those of the tracks and the seeds' rows ``free[:m]``: the GNN
    # orders the columns as their rows, over arrays as long as the columns and not the rows
    key = _ranks(rows, free[:m])
    wide = np.zeros(size)  # per column, the position variance per axis a velocity step would add (0: none)
    for c in range(n):
        _copy(x, p, c, xs, ps, rows[c])
        lag = t - ts[rows[c]]
        _predict(x, p, c, lag, q)
        t_col[c], is_coop[c] = ts[rows[c]], coop[c]
        if lag > 0.0 and confirmed[c]:  # a tentative track has its birth's velocity prior still
            wide[c] = turn_var * lag * lag
    reach, half = np.empty(m), np.empty(m)
    for j in range(m):
        reach[j] = np.sqrt(gate * (r[j, 0, 0] + r[j, 1, 1] + r[j, 2, 2]))
        half[j] = reach[j] * (1.0 + _SLACK) + _PAD_M
    grid = _grid(z, half)
    buf = np.empty(max(m, 1), np.int64)
    pending = np.ones(m, np.bool_)
    size0 = 4 * m + 16
    pairs = (np.empty(size0, np.int64), np.empty(size0, np.int64), np.empty(size0), np.empty(size0, np.bool_))
    count = 0
    lists = _lists(n, x, p, wide, z, half, grid, buf, gate)
    count, pairs = _inside(
        np.arange(n), x, p, wide, z, r, half, grid, lists, pending, buf, gate, pairs, count
    )
    pc, pd, cost, turn = pairs
    count = _manoeuvres(x, p, wide, t - t_col[:n], turn_var, z, r, pc, pd, cost, turn, count)
    # What the tracks predicted to the scan explain, before any of its updates moves or shrinks them: such
    # a detection starts no track (a measurement in a track's validation gate initiates none), and one
    # that a cooperative track explains feeds no sensing-only one. A vehicle seen by three TRPs gives
    # three echoes of one epoch; once the first has updated its track, a second one's innovation is tested
    # against the shrunken posterior, and falling outside it said which echo came first, not that a second
    # vehicle is there: on the Nanshan demo (reports filtered as in _filter) most births next to
    # cooperative vehicles (600 of 800 in 300 s) and to non-cooperative ones (113 of 133) came so.
    explained, reserved = np.zeros(m, np.bool_), np.zeros(m, np.bool_)
    for k in range(count):
        explained[pd[k]] = True
        reserved[pd[k]] |= is_coop[pc[k]]
    took = np.full((size, 4), -1)  # per column, the sensor of the detection it took in each round
    changed, given, moved = np.zeros(size, np.bool_), np.zeros(size, np.bool_), np.zeros(size, np.bool_)
    gated, claimed = np.zeros(m, np.bool_), np.zeros(m, np.bool_)
    todo, slot = np.arange(m), np.full(m, -1)  # the pending detections (ascending); scratch of _seeds
    seeds = np.empty(m, np.int64)
    w = np.empty((3, 6))
    born = rounds = 0
    while True:
        for j in todo:
            gated[j], claimed[j] = False, reserved[j]
        allowed = np.empty(count, np.bool_)
        for k in range(count):
            c, j = pc[k], pd[k]
            gated[j] = allowed[k] = True
            for done in range(rounds):
                allowed[k] &= took[c, done] != sensor[j]
            claimed[j] |= allowed[k] & is_coop[c]
        pair, col, det, price = (
            np.empty(count, np.int64),
            np.empty(count, np.int64),
            np.empty(count, np.int64),
            np.empty(count),
        )
        cand = 0
        for k in range(count):  # a detection that a cooperative track can take goes to one
            if allowed[k] and (is_coop[pc[k]] or not claimed[pd[k]]):
                pair[cand], col[cand], det[cand], price[cand] = k, key[pc[k]], pd[k], cost[k]
                cand += 1
        pick = pair[_gnn(col[:cand], det[:cand], price[:cand])]
        if rounds == took.shape[1]:
            took = np.concatenate((took, np.full(took.shape, -1)), axis=1)
        moved[:] = False
        white = np.empty((len(pick), 9))  # each in-sequence update's _whiten, all before any _correct
        for k in range(len(pick)):
            c, j = pc[pick[k]], pd[pick[k]]
            given[c] = True
            took[c, rounds] = sensor[j]
            if t_col[c] <= t + _OOSM_S:  # else out of sequence: only consumed
                if t_col[c] > t and not changed[c]:  # updated from its state, not predicted back
                    _copy(x, p, c, xs, ps, rows[c])
                white[k] = _whiten(x, p, c, 0, z, j, r, j)
                changed[c] = moved[c] = True
        for k in range(len(pick)):
            c = pc[pick[k]]
            if moved[c]:
                f = white[k]
                _correct(x, p, c, 0, (f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]), w)
        start = _seeds(todo, gated, explained, z, r, sensor, reach, half, grid, buf, gate, slot)
        for j in start:
            c = n + born
            x[c, :3], x[c, 3:] = z[j], 0.0
            p[c] = 0.0
            p[c, :3, :3] = r[j]
            for a in range(3):
                p[c, 3 + a, 3 + a] = birth_var[a]
            t_col[c] = t
            changed[c] = moved[c] = given[c] = True
            took[c, rounds] = sensor[j]
            seeds[born] = j
            born += 1
        if not len(pick) and not len(start):
            break  # what is left gates only with tracks that already took a detection of its sensor
        rounds += 1
        pending[pd[pick]] = False
        pending[start] = False
        left = 0
        for j in todo:
            pending[j] &= gated[j] or not explained[j]  # explained, but outside every gate now: starts none
            if pending[j]:
                todo[left] = j
                left += 1
        todo = todo[:left]
        if not left:
            break
        keep = 0
        for k in range(count):
            if pending[pd[k]] and not moved[pc[k]]:
                pc[keep], pd[keep], cost[keep] = pc[k], pd[k], cost[k]
                keep += 1
        moved_cols = moved[: n + born].nonzero()[0]
        count, pairs = _inside(
            moved_cols, x, p, wide, z, r, half, grid, lists, pending, buf, gate, (pc, pd, cost, turn), keep
        )
        pc, pd, cost, turn = pairs
    cols = n + born
    rank, ids = np.full(cols, 3), np.empty(cols, np.int64)  # lower is kept; then the older (smaller id)
    for c in range(cols):
        if c < n:
            rank[c] = 2 * (1 - coop[c]) + (1 - confirmed[c])
            ids[c] = track_id[c]
        else:
            ids[c] = next_id + c - n
    losers = _merge(x[:cols], p[:cols], changed[:cols], is_coop[:cols], rank, ids, gate6)
    for c in changed[:n].nonzero()[0]:
        _copy(xs, ps, rows[c], x, p, c)
        ts[rows[c]], sensed[rows[c]] = t, True
    return x[n:cols], p[n:cols], given[:n], seeds[:born], losers


@numba.njit(cache=True, nogil=True)
def _manoeuvres(
    x: np.ndarray,
    p: np.ndarray,
    wide: np.ndarray,
    lag: np.ndarray,
    turn_var: float,
    z: np.ndarray,
    r: np.ndarray,
    pc: np.ndarray,
    pd: np.ndarray,
    cost: np.ndarray,
    turn: np.ndarray,
    count: int,
) -> int:
    """Give the columns with a pair only a manoeuvre explains (``turn``), of a detection no column's own gate
    explains, a velocity step of variance ``turn_var`` per axis ``lag`` s ago, in place, and cost their pairs
    again; drop the other columns' ``turn`` pairs. The count of pairs kept (in place, in order); then no
    column has a manoeuvre to open. (Two targets crossing: each one's echo is in the other's wider gate, but
    in its own track's gate, and opens nothing.)"""
    explained = np.zeros(len(z), np.bool_)
    for k in range(count):
        explained[pd[k]] |= not turn[k]
    turning = np.zeros(len(wide), np.bool_)
    for k in range(count):
        turning[pc[k]] |= turn[k] and not explained[pd[k]]
    for c in turning.nonzero()[0]:
        dt = lag[c]
        for i in range(3):
            p[c, i, i] += turn_var * dt * dt
            p[c, i, i + 3] += turn_var * dt
            p[c, i + 3, i] += turn_var * dt
            p[c, i + 3, i + 3] += turn_var
    keep = 0
    for k in range(count):
        c = pc[k]
        if turning[c]:
            cost[k] = _gate(x, p, c, 0, z, pd[k], r, pd[k])[1]
        if turning[c] or not turn[k]:
            pc[keep], pd[keep], cost[keep] = c, pd[k], cost[k]
            keep += 1
    wide[:] = 0.0
    return keep


@numba.njit(cache=True, inline="always")
def _reach(p: np.ndarray, c: int, gate: float, extra: float = 0.0) -> float:
    """How far from its state column ``c`` (``extra`` added per axis) can gate a detection, less the
    detection's own reach: ``sqrt(gate tr P)`` (it bounds ``sqrt(gate lambda_max(P))``) with the broad
    phase's slack."""
    return np.sqrt(gate * (p[c, 0, 0] + p[c, 1, 1] + p[c, 2, 2] + 3.0 * extra)) * (1.0 + _SLACK) + _PAD_M


@numba.njit(cache=True, nogil=True)
def _lists(
    n: int,
    x: np.ndarray,
    p: np.ndarray,
    wide: np.ndarray,
    z: np.ndarray,
    half: np.ndarray,
    grid: _Grid,
    buf: np.ndarray,
    gate: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For columns ``0..n-1`` as the scan starts, the detections within ``_LIST_MARGIN_M`` more than their
    reach (a manoeuvre's ``wide`` included): ``(first, items, centre, radius)``, column ``c`` listing
    ``items[first[c]:first[c + 1]]``. A column whose later reach plus its move since then stays within
    ``radius`` reads its list instead of the grid (:func:`_inside`)."""
    first, items = np.zeros(n + 1, np.int64), np.empty(4 * n + 16, np.int64)
    centre, radius = np.empty((n, 3)), np.empty(n)
    k = 0
    for c in range(n):
        centre[c, 0], centre[c, 1], centre[c, 2] = x[c, 0], x[c, 1], x[c, 2]
        radius[c] = _reach(p, c, gate, wide[c]) + _LIST_MARGIN_M
        found = _query(grid, z, half, x[c, 0], x[c, 1], x[c, 2], radius[c], buf)
        if k + found > len(items):
            items = _grown(items, k + found)
        items[k : k + found] = buf[:found]
        k += found
        first[c + 1] = k
    return first, items, centre, radius


@numba.njit(cache=True, nogil=True)
def _inside(
    cols: np.ndarray,
    x: np.ndarray,
    p: np.ndarray,
    wide: np.ndarray,
    z: np.ndarray,
    r: np.ndarray,
    half: np.ndarray,
    grid: _Grid,
    lists: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    pending: np.ndarray,
    buf: np.ndarray,
    gate: float,
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    count: int,
) -> tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Append to ``pairs`` (column, detection, cost, by a manoeuvre; ``count`` used) the pending detections
    inside the gates of columns ``cols``, or only inside the gates ``wide`` opens (:func:`_scan`); the new
    count and arrays.

    A detection inside the gate is within ``_reach`` plus its own ``half`` of the column's state (the
    sphere the grid query returns), so a column still inside its list's sphere (:func:`_lists`) finds the
    same pairs in its list; only the order of its pairs may differ, which no assignment depends on."""
    pc, pd, cost, turn = pairs
    first, items, centre, radius = lists
    for c in cols:
        h = _reach(p, c, gate, wide[c])
        listed = c < len(radius)
        if listed:
            dx, dy, dz = x[c, 0] - centre[c, 0], x[c, 1] - centre[c, 1], x[c, 2] - centre[c, 2]
            listed = h + np.sqrt(dx * dx + dy * dy + dz * dz) + _PAD_M <= radius[c]
        if listed:
            found = first[c + 1] - first[c]
            cand = items[first[c] : first[c + 1]]
        else:
            found = _query(grid, z, half, x[c, 0], x[c, 1], x[c, 2], h, buf)
            cand = buf
        if count + found > len(pc):
            pc, pd = _grown(pc, count + found), _grown(pd, count + found)
            cost, turn = _grown(cost, count + found), _grown(turn, count + found)
        for f in range(found):
            j = cand[f]
            if pending[j]:
                d2, cost[count] = _gate(x, p, c, 0, z, j, r, j)
                turn[count] = d2 > gate and wide[c] > 0.0
                if turn[count]:
                    d2, cost[count] = _gate(x, p, c, 0, z, j, r, j, wide[c])
                if d2 <= gate:
                    pc[count], pd[count] = c, j
                    count += 1
    return count, (pc, pd, cost, turn)


@numba.njit(cache=True, nogil=True)
def _seeds(
    todo: np.ndarray,
    gated: np.ndarray,
    explained: np.ndarray,
    z: np.ndarray,
    r: np.ndarray,
    sensor: np.ndarray,
    reach: np.ndarray,
    half: np.ndarray,
    grid: _Grid,
    buf: np.ndarray,
    gate: float,
    slot: np.ndarray,
) -> np.ndarray:
    """Detections of ``todo`` (ascending) outside every gate (neither ``gated`` nor ``explained``) that start
    tracks, ascending: one per cluster of mutually gated ones (``S = R_a + R_b``) from different sensors, the
    most accurate (least reach, then the first). ``slot`` (m, all -1: scratch) is left as it came.

    Two TRPs seeing one new target give two detections that gate with each other; only one starts a track,
    which the others then update. The work is over ``todo`` only: a scan's later rounds have few left.
    """
    free = np.empty(len(todo), np.int64)  # the candidates; slot[j] is the place of candidate j
    k = 0
    for j in todo:
        if not gated[j] and not explained[j]:
            free[k], slot[j] = j, k
            k += 1
    parent = np.arange(k)
    linked = np.zeros(k, np.bool_)
    for qa in range(k):
        a = free[qa]
        for f in range(_query(grid, z, half, z[a, 0], z[a, 1], z[a, 2], half[a], buf)):
            b = buf[f]
            qb = slot[b]
            if qb > qa and sensor[a] != sensor[b] and _gate(z, r, a, 0, z, b, r, b)[0] <= gate:
                _union(parent, qa, qb)
                linked[qa] = linked[qb] = True
    best = np.full(k, -1)
    for qa in range(k):
        if linked[qa]:
            root = _root(parent, qa)
            if best[root] < 0 or reach[free[qa]] < reach[free[best[root]]]:
                best[root] = qa
    out = np.empty(k, np.int64)
    started = 0
    for qa in range(k):
        slot[free[qa]] = -1
        if not linked[qa] or best[_root(parent, qa)] == qa:
            out[started] = free[qa]
            started += 1
    return out[:started]


@numba.njit(cache=True, nogil=True)
def _merge(
    x: np.ndarray,
    p: np.ndarray,
    changed: np.ndarray,
    coop: np.ndarray,
    rank: np.ndarray,
    ids: np.ndarray,
    gate6: float,
) -> np.ndarray:
    """Duplicates of the ``changed`` columns, to drop: of two columns whose states differ by less than the
    chi-square gate on 6 dof (``S = P_a + P_b``), the one of greater ``rank``, then greater id, goes.

    Crossing vehicles are not merged: their velocities differ. Two cooperative tracks never are, so every
    column is listed in cells and only the others (sensing-only: a few per cent, and the tentative ones) look
    for columns near them there; a pair of two such is looked at from its earlier column. The broad phase is
    symmetric, so which of the two looks decides nothing. The losers come in no particular order.
    """
    n = len(x)
    half = np.empty(n)
    for c in range(n):
        half[c] = _reach(p, c, gate6)
    grid = _grid(x, half)
    buf = np.empty(max(n, 1), np.int64)
    losers = np.empty(16, np.int64)
    lost = 0
    for a in range(n):
        if coop[a]:
            continue
        for f in range(_query(grid, x, half, x[a, 0], x[a, 1], x[a, 2], half[a], buf)):
            b = buf[f]
            if a == b or not (changed[a] or changed[b]) or (not coop[b] and a > b):
                continue
            # the position part of the distance is at most the whole: a cheap 3-dof test first
            if _gate(x, p, a, 0, x, b, p, b)[0] > gate6 * (1.0 + _SLACK) or _dist6(x, p, a, b) > gate6:
                continue
            kept = rank[a] < rank[b] or (rank[a] == rank[b] and ids[a] < ids[b])
            if lost == len(losers):
                losers = _grown(losers, lost + 1)
            losers[lost] = b if kept else a
            lost += 1
    return losers[:lost]


@numba.njit(cache=True, nogil=True)
def _dist6(x: np.ndarray, p: np.ndarray, a: int, b: int) -> float:
    """``e^T (P_a + P_b)^-1 e`` of ``e = x_a - x_b`` (Cholesky, forward substitution)."""
    low = np.zeros((6, 6))
    u = np.empty(6)
    for i in range(6):
        for j in range(i + 1):
            s = p[a, i, j] + p[b, i, j]
            for k in range(j):
                s -= low[i, k] * low[j, k]
            low[i, j] = np.sqrt(s) if i == j else s / low[j, j]
    d2 = 0.0
    for i in range(6):
        s = x[a, i] - x[b, i]
        for k in range(i):
            s -= low[i, k] * u[k]
        u[i] = s / low[i, i]
        d2 += u[i] * u[i]
    return d2
