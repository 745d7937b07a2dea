"""Surveillance fusion: one track per vehicle from cooperative reports and network-sensing detections.

Every track runs the same constant-velocity Kalman filter with white-acceleration process noise (SIXG-MODEL.md
§1, §8 phase 4), all tracks at once: state ``[x, y, z, vx, vy, vz]`` in local ENU m and m/s, and its 6 x 6
covariance. A cooperative report names its flight and updates that flight's track. A sensing detection has
no identity: it is gated against the predicted tracks (KD-tree broad phase, then a chi-square Mahalanobis
gate) and assigned by global nearest neighbour. A vehicle that never reports (non-cooperative) exists only as
a sensing track, which enters the picture after M-of-N confirmation. :func:`inflated_zone` grows the
protected zone for the picture's uncertainty and staleness (§6.2).

Tracks are columns: ``state`` is (6, capacity) and ``cov`` (6, 6, capacity), so one matrix entry of every
track is one contiguous row and the filter is a few dozen whole-row operations (about twice as fast here as
stacked (n, 6, 6) matrices). Layer: sim.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.special import gammaincinv

from sim.errors import ScenarioError

__all__ = ["K_95_1D", "K_95_2D", "FusionConfig", "Picture", "Tracks", "inflated_zone"]

K_95_2D = 2.4477
"""k of a 95 % circle of a 2-D Gaussian with equal per-axis sigma (SIXG-MODEL.md §6.2)."""
K_95_1D = 1.959964
"""k of a two-sided 95 % interval of a 1-D Gaussian (the vertical axis)."""

_OOSM_S = 1e-9  # a measurement older than its track's last update by more is out of sequence
_SLACK = 1e-6  # relative slack of the broad-phase radii (rounding may add candidates, never drop one)
_CHUNK = 2048  # tracks per batch of filter arithmetic: its temporaries stay small enough to be reused
_UNGATED = 1e9  # assignment cost of a pair outside the gate (an assignment using it is discarded)
_UPPER = tuple((i, j) for i in range(6) for j in range(i, 6))


@dataclass(frozen=True, slots=True)
class FusionConfig:
    """Tracker settings: noise sigmas per axis, gate, confirmation and timeout (SIXG-MODEL.md §8)."""

    accel_psd_m2ps3: float = 1.0  # q, white-acceleration spectral density of the CV model
    gnss_sigma_h_m: float = 1.5  # report position noise, east and north (§8 surveillance)
    gnss_sigma_v_m: float = 3.0  # report position noise, up (§8 surveillance)
    gnss_sigma_vel_mps: float = 0.5  # report velocity noise per axis (assumption: §8 gives none)
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
        if not (np.isfinite(self.accel_psd_m2ps3) and self.accel_psd_m2ps3 >= 0):
            raise ScenarioError("accel_psd_m2ps3", f"must be finite and >= 0 (got {self.accel_psd_m2ps3})")
        if not 0 < self.gate_probability < 1:
            raise ScenarioError("gate_probability", f"must be in (0, 1) (got {self.gate_probability})")
        if not 1 <= self.confirm_m <= self.confirm_n <= 1000:
            raise ScenarioError(
                "confirm_m", f"need 1 <= m <= n <= 1000 (got {self.confirm_m} of {self.confirm_n})"
            )

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
    """Tracks as columns: filter state, identity and confirmation; a dropped track's column is reused.

    Columns are meaningful only where ``active``. ``t_s`` is the time of the last update, which is also the
    time ``state`` and ``cov`` refer to. ``vehicle`` is the flight id of a cooperative track, -1 for a
    tentative sensing-only track and ``-2 - track_id`` once it is confirmed. Feed measurements in time order:
    one older than its track's last update is out of sequence and not applied.

    >>> tracks = Tracks()
    >>> tracks.update_reports([7], 0.0, [[0.0, 0.0, 50.0]], [[10.0, 0.0, 0.0]])
    >>> pic = tracks.picture(2.0)
    >>> pic.vehicle.tolist(), pic.pos_m.tolist(), pic.age_s.tolist()
    ([7], [[20.0, 0.0, 50.0]], [2.0])
    """

    state: np.ndarray  # (6, cap) x, y, z, vx, vy, vz
    cov: np.ndarray  # (6, 6, cap)
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
        c = self.config
        self._r_pos = np.diag([c.gnss_sigma_h_m**2, c.gnss_sigma_h_m**2, c.gnss_sigma_v_m**2])[:, :, None]
        self._r_vel = np.eye(3)[:, :, None] * c.gnss_sigma_vel_mps**2
        self._birth_var = (
            np.array([c.birth_sigma_vel_h_mps, c.birth_sigma_vel_h_mps, c.birth_sigma_vel_v_mps]) ** 2
        )
        # flight id -> row of its track; -1 = none (never exposed)
        self._row_of = np.full(max(1, capacity), -1, np.int64)
        self._next_id = 0
        self._cap = 0
        self._grow(max(1, capacity))

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
        applied in time order. A new track absorbs the sensing-only track its first report gates with, so a
        vehicle sensed before it reported keeps one track.
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
        for group in _levels(rows.take(todo), t.take(todo)):
            j = todo.take(group)
            r = rows.take(j)
            fresh = t.take(j) >= self.t_s.take(r) - _OOSM_S
            if not fresh.all():
                j, r = j.compress(fresh), r.compress(fresh)
            r_pos = np.broadcast_to(self._r_pos, (3, 3, len(j)))
            self._filter(
                r, t.take(j), pos.take(j, axis=0).T, r_pos, None if vel is None else vel.take(j, axis=0).T
            )

    def update_sensing(
        self, t_s: float, pos_m: ArrayLike, cov_m2: ArrayLike, *, sensor: ArrayLike | None = None
    ) -> None:
        """One sensing scan at ``t_s``: detections (ENU positions and 3 x 3 covariances, no identity).

        Detections are gated against every track predicted to ``t_s`` (cooperative ones too: a cooperative
        vehicle's echo updates its own track) and assigned by global nearest neighbour, a track taking at
        most one detection per ``sensor`` (TRP; default: one sensor). A detection outside every gate starts
        a tentative track, but of mutually gated ones from different sensors only the most accurate does; the
        others then update it. Rounds repeat until no detection is left to assign. A tentative track is
        confirmed by ``confirm_m`` hits in its first ``confirm_n`` scans and dropped once it cannot be; a
        detection assigned to a track updated after ``t_s`` is only consumed (out of sequence). Last, two
        tracks, one of them updated by the scan, whose states agree within the 6-dof gate are one vehicle: the
        tentative track a missed gate started, or a twin that two TRPs would otherwise feed for ever.
        """
        t = float(t_s)
        z = _rows3("pos_m", pos_m).T
        m = z.shape[1]
        r = np.asarray(cov_m2, float)
        if r.shape != (m, 3, 3):
            raise ValueError(f"cov_m2: must have shape ({m}, 3, 3) ({r.shape})")
        r = r.transpose(1, 2, 0)
        s = np.zeros(m, np.int64) if sensor is None else np.asarray(sensor, np.int64).reshape(-1)
        if len(s) != m or (m and not 0 <= s.min() <= s.max() < 2**31):
            raise ValueError(f"sensor: must be {m} ids in [0, 2**31)")
        self.prune(t)
        tentative = (self.active & ~self.confirmed).nonzero()[0]
        hit = [np.empty(0, np.int64)]  # rows given a detection this scan
        taken = np.empty(0, np.int64)  # (row, sensor) pairs used this scan, as row * 2**32 + sensor
        pending = np.arange(m)
        while len(pending):
            zp, rp = z.take(pending, axis=1), r.take(pending, axis=2)
            sp, tp = s.take(pending), np.full(len(pending), t)
            rows, det, gated = self._associate(self.rows(), zp, rp, sp, tp, taken)
            fresh = (self.t_s.take(rows) <= t + _OOSM_S).nonzero()[0]
            d = det.take(fresh)
            self._filter(rows.take(fresh), tp[: len(d)], zp.take(d, axis=1), rp.take(d, axis=2))
            self.sensed[rows.take(fresh)] = True
            free = (~gated).nonzero()[0]
            seeds = free.take(_seeds(zp.take(free, axis=1), rp.take(free, axis=2), sp.take(free), self._gate))
            zs, rs = zp.take(seeds, axis=1), rp.take(seeds, axis=2)
            born = self._birth(zs, None, tp[: len(seeds)], rs, self._birth_var)
            self.sensed[born] = True
            hit += [rows, born]
            self.vehicle[born] = -1
            if not len(rows) and not len(born):
                break  # what is left gates only with tracks that already took a detection of its sensor
            used = np.concatenate([(rows << 32) + sp.take(det), (born << 32) + sp.take(seeds)])
            taken = np.union1d(taken, used)
            pending = np.delete(pending, np.concatenate([det, seeds]))
        hit = np.unique(np.concatenate(hit))
        self._merge(t, hit.compress(self.t_s.take(hit) == t))
        tentative = tentative.compress(self.active.take(tentative))
        self.scans[tentative] += 1
        self.hits[tentative] += np.isin(tentative, hit)
        hit = hit.compress(self.active.take(hit) & ~self.confirmed.take(hit))
        self._confirm(np.union1d(tentative, hit))

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
        x, p = self.state.take(rows, axis=1), self.cov.take(rows, axis=2)
        _predict(x, p, t_s - self.t_s.take(rows), self.config.accel_psd_m2ps3)
        return x.T, p.transpose(2, 0, 1)

    def picture(self, t_s: float) -> Picture:
        """The confirmed tracks predicted to ``t_s`` (stale ones are pruned first), ascending rows."""
        self.prune(t_s)
        rows = (self.active & self.confirmed).nonzero()[0]
        x, p = self.state.take(rows, axis=1), self.cov.take(rows, axis=2)
        age = t_s - self.t_s.take(rows)
        _predict(x, p, age, self.config.accel_psd_m2ps3)
        half_sum, half_diff = 0.5 * (p[0, 0] + p[1, 1]), 0.5 * (p[0, 0] - p[1, 1])
        return Picture(
            t_s=t_s,
            vehicle=self.vehicle.take(rows),
            track_id=self.track_id.take(rows),
            pos_m=x[:3].T,
            vel_mps=x[3:].T,
            sigma_h_m=np.sqrt(half_sum + np.hypot(half_diff, p[0, 1])),
            sigma_v_m=np.sqrt(p[2, 2]),
            age_s=age,
            cooperative=self.cooperative.take(rows),
        )

    # -- internals

    def _grow(self, capacity: int) -> None:
        old = self._cap
        fresh = {
            "state": np.zeros((6, capacity)),
            "cov": np.zeros((6, 6, capacity)),
            "t_s": np.zeros(capacity),
            **{name: np.zeros(capacity, np.int64) for name in ("track_id", "vehicle", "hits", "scans")},
            **{name: np.zeros(capacity, bool) for name in ("active", "confirmed", "cooperative", "sensed")},
        }
        for name, column in fresh.items():
            if old:
                column[..., :old] = getattr(self, name)
            setattr(self, name, column)
        self._cap = capacity

    def _birth(
        self, z: np.ndarray, vel: np.ndarray | None, t: np.ndarray, pos_cov: np.ndarray, vel_var: np.ndarray
    ) -> np.ndarray:
        """New tracks at ``z`` (3, k) with ``pos_cov``, and velocity ``vel`` (or 0) with ``vel_var``."""
        k = z.shape[1]
        free = (~self.active).nonzero()[0]
        if len(free) < k:
            self._grow(max(2 * self._cap, self._cap + k))
            free = (~self.active).nonzero()[0]
        rows = free[:k]
        x, p = np.zeros((6, k)), np.zeros((6, 6, k))
        x[:3] = z
        if vel is not None:
            x[3:] = vel
        p[:3, :3] = pos_cov
        for a in range(3):
            p[3 + a, 3 + a] = vel_var[a]
        self._store(rows, x, p, t)
        self.track_id[rows] = np.arange(self._next_id, self._next_id + k)
        self._next_id += k
        self.active[rows] = True
        self.hits[rows], self.scans[rows] = 1, 1
        self.confirmed[rows] = self.cooperative[rows] = self.sensed[rows] = False
        return rows

    def _store(self, rows: np.ndarray, x: np.ndarray, p: np.ndarray, t: np.ndarray) -> None:
        self.state[:, rows], self.cov[:, :, rows], self.t_s[rows] = x, p, t

    def _drop(self, rows: np.ndarray) -> None:
        coop = rows.compress(self.cooperative.take(rows))
        self._row_of[self.vehicle.take(coop)] = -1
        self.active[rows] = False

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
            z, r, t = (
                self.state[:3].take(born, axis=1),
                self.cov[:3, :3].take(born, axis=2),
                self.t_s.take(born),
            )
            self._drop(self._associate(others, z, r, np.zeros(len(born), np.int64), t, None)[0])

    def _pos_var_bound(self, rows: np.ndarray, dt: np.ndarray) -> np.ndarray:
        """Upper bound of ``tr P_pos`` of ``rows`` predicted by any time step up to ``dt`` (n,) either way."""
        c = self.cov
        tr_pp, tr_pv, tr_vv = (
            (c[a, a + b] + c[a + 1, a + 1 + b] + c[a + 2, a + 2 + b]).take(rows)
            for a, b in ((0, 0), (0, 3), (3, 0))
        )
        return tr_pp + 2.0 * dt * np.abs(tr_pv) + dt * dt * tr_vv + self.config.accel_psd_m2ps3 * dt**3

    def _merge(self, t: float, hit: np.ndarray) -> None:
        """Drop duplicates of the tracks ``hit`` (updated at ``t``): of two tracks whose states at ``t``
        differ by less than the chi-square gate on 6 dof (``S = P_a + P_b``), keep the cooperative, then the
        confirmed, then the older one.

        Crossing vehicles are not merged: their velocities differ. Two cooperative tracks never are.
        """
        if not len(hit):
            return
        gate = 2.0 * float(gammaincinv(3.0, self.config.gate_probability))
        rows = self.rows()
        t0 = self.t_s.take(rows)
        x = self.state.take(rows, axis=1)
        reach = np.sqrt(gate * self._pos_var_bound(rows, np.abs(t - t0)))
        hit_pos, hit_reach = self.state[:3].take(hit, axis=1), np.sqrt(gate * self._pos_var_bound(hit, 0.0))
        a, b = _candidates(x[:3] + x[3:] * (t - t0), reach, hit_pos, float(hit_reach.max()))
        a, b = rows.take(a), hit.take(b)
        coop = self.cooperative
        k = ((a != b) & ~(coop.take(a) & coop.take(b))).nonzero()[0]
        a, b = a.take(k), b.take(k)
        xa, pa = self.state.take(a, axis=1), self.cov.take(a, axis=2)
        _predict(xa, pa, t - self.t_s.take(a), self.config.accel_psd_m2ps3)
        e = (xa - self.state.take(b, axis=1)).T[..., None]
        s = (pa + self.cov.take(b, axis=2)).transpose(2, 0, 1)
        k = ((e * np.linalg.solve(s, e)).sum(axis=(1, 2)) <= gate).nonzero()[0]
        a, b = a.take(k), b.take(k)
        rank = 2 * ~coop + ~self.confirmed  # lower is kept; then the older (smaller id)
        a_kept = (rank.take(a) < rank.take(b)) | (
            (rank.take(a) == rank.take(b)) & (self.track_id.take(a) < self.track_id.take(b))
        )
        self._drop(np.unique(np.where(a_kept, b, a)))

    def _confirm(self, rows: np.ndarray) -> None:
        """M-of-N: confirm the tentative ``rows`` with ``confirm_m`` hits; drop those that cannot get them."""
        m, n = self.config.confirm_m, self.config.confirm_n
        hits = self.hits.take(rows)
        ok = rows.compress(hits >= m)
        self.confirmed[ok] = True
        self.vehicle[ok] = -2 - self.track_id.take(ok)
        self._drop(rows.compress((hits < m) & (hits + n - self.scans.take(rows) < m)))

    def _filter(
        self,
        rows: np.ndarray,
        t: np.ndarray,
        pos: np.ndarray,
        r_pos: np.ndarray,
        vel: np.ndarray | None = None,
    ) -> None:
        """Predict ``rows`` to ``t`` and update them with ``pos`` (3, n) and noise ``r_pos`` (3, 3, n), then
        with ``vel`` (3, n) when given; in chunks, whose temporaries the allocator reuses."""
        q = self.config.accel_psd_m2ps3
        for c in range(0, len(rows), _CHUNK):
            k = slice(c, c + _CHUNK)
            r = rows[k]
            x, p = self.state.take(r, axis=1), self.cov.take(r, axis=2)
            _predict(x, p, np.maximum(t[k] - self.t_s.take(r), 0.0), q)
            _update(x, p, pos[:, k], r_pos[:, :, k], 0)
            if vel is not None:
                _update(x, p, vel[:, k], self._r_vel, 3)
            self._store(r, x, p, t[k])

    def _associate(
        self,
        rows: np.ndarray,
        z: np.ndarray,
        r: np.ndarray,
        sensor: np.ndarray,
        t_det: np.ndarray,
        taken: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Global-nearest-neighbour assignment of detections ``z`` (3, m), ``r`` (3, 3, m) to tracks ``rows``.

        Returns the assigned rows and detections and the mask of detections inside some track's gate. A
        (row, sensor) pair in ``taken`` is gated but not assigned. A pair costs ``d^2 + ln det S``.
        """
        m = z.shape[1]
        none = np.empty(0, np.int64)
        if not len(rows) or not m:
            return none, none, np.zeros(m, bool)
        q, gate, cov = self.config.accel_psd_m2ps3, self._gate, self.cov
        # broad phase: |nu| <= sqrt(gate lambda_max(S)) <= sqrt(gate tr P) + sqrt(gate tr R), with tr P
        # bounded over the detection times and the track's motion between them added
        lo, hi = float(t_det.min()), float(t_det.max())
        t0 = self.t_s.take(rows)
        x = self.state.take(rows, axis=1)
        var = self._pos_var_bound(rows, np.maximum(np.abs(lo - t0), np.abs(hi - t0)))
        reach = np.sqrt(gate * var) + np.sqrt(x[3] ** 2 + x[4] ** 2 + x[5] ** 2) * (hi - lo)
        det_reach = float(np.sqrt(gate * (r[0, 0] + r[1, 1] + r[2, 2])).max())
        ti, dj = _candidates(x[:3] + x[3:] * (hi - t0), reach, z, det_reach)
        tr = rows.take(ti)
        d2, log_det = np.empty(len(ti)), np.empty(len(ti))
        for c in range(0, len(ti), _CHUNK):
            k = slice(c, c + _CHUNK)
            trk, djk = tr[k], dj[k]
            xk, pk = self.state.take(trk, axis=1), cov.take(trk, axis=2)
            _predict(xk, pk, t_det.take(djk) - self.t_s.take(trk), q)
            chol = _chol3(pk[:3, :3] + r.take(djk, axis=2))
            u = _forward(chol, z.take(djk, axis=1) - xk[:3])
            d2[k] = u[0] ** 2 + u[1] ** 2 + u[2] ** 2
            log_det[k] = 2.0 * np.log(chol[0] * chol[3] * chol[5])
        inside = d2 <= gate
        gated = np.zeros(m, bool)
        gated[dj.compress(inside)] = True
        if taken is not None and len(taken):
            inside &= ~np.isin((tr << 32) + sensor.take(dj), taken)
        k = inside.nonzero()[0]
        k = k.take(_gnn(ti.take(k), dj.take(k), d2.take(k) + log_det.take(k), len(rows), m))
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


def _levels(key: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
    """Indices split into successive groups of distinct keys, each key's entries in time order."""
    if not len(key) or np.bincount(key).max() == 1:
        return [np.arange(len(key))]
    order = np.lexsort((t, key))
    ks = key.take(order)
    start = np.r_[True, ks[1:] != ks[:-1]]
    rank = np.arange(len(ks)) - np.maximum.accumulate(np.where(start, np.arange(len(ks)), 0))
    return [order.compress(rank == level) for level in range(int(rank.max()) + 1)]


def _predict(x: np.ndarray, p: np.ndarray, dt: np.ndarray, q: float) -> None:
    """Constant-velocity prediction in place by ``dt`` (n,) s: ``F P F^T + Q`` for white acceleration ``q``.

    A negative ``dt`` (gating an out-of-sequence detection) predicts backwards with the matching noise.
    """
    x[:3] += x[3:] * dt
    pv, vv = p[:3, 3:], p[3:, 3:]
    p[:3, :3] += dt * (pv + pv.transpose(1, 0, 2) + dt * vv)
    pv += dt * vv
    p[3:, :3] = pv.transpose(1, 0, 2)
    if q:
        a = np.abs(dt)
        q_pp, q_pv, q_vv = q * a**3 / 3.0, q * dt * a / 2.0, q * a
        for i in range(3):
            p[i, i] += q_pp
            p[i, i + 3] += q_pv
            p[i + 3, i] += q_pv
            p[i + 3, i + 3] += q_vv


def _chol3(s: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cholesky factor ``(l00, l10, l20, l11, l21, l22)`` of symmetric positive definite ``s`` (3, 3, n)."""
    l00 = np.sqrt(s[0, 0])
    l10, l20 = s[1, 0] / l00, s[2, 0] / l00
    l11 = np.sqrt(s[1, 1] - l10 * l10)
    l21 = (s[2, 1] - l20 * l10) / l11
    return l00, l10, l20, l11, l21, np.sqrt(s[2, 2] - l20 * l20 - l21 * l21)


def _forward(chol: tuple[np.ndarray, ...], v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``L^-1 v`` by forward substitution, ``v`` (3, ..., n): the three rows."""
    l00, l10, l20, l11, l21, l22 = chol
    u0 = v[0] / l00
    u1 = (v[1] - l10 * u0) / l11
    return u0, u1, (v[2] - l20 * u0 - l21 * u1) / l22


def _update(x: np.ndarray, p: np.ndarray, z: np.ndarray, r: np.ndarray, b: int) -> None:
    """Kalman update in place of the state block ``b:b+3`` (0 position, 3 velocity) measured as ``z`` (3, n).

    With ``S = H P H^T + R = L L^T`` and ``w = L^-1 H P``: ``x += w^T L^-1 (z - H x)`` and ``P -= w^T w``,
    which is the textbook ``K = P H^T S^-1`` update, and keeps ``P`` symmetric to the last bit.
    """
    chol = _chol3(p[b : b + 3, b : b + 3] + r)
    w = _forward(chol, p[b : b + 3])
    u = _forward(chol, z - x[b : b + 3])
    x += w[0] * u[0] + w[1] * u[1] + w[2] * u[2]
    tmp = np.empty(x.shape[1])
    for i, j in _UPPER:
        pij = p[i, j]
        for wk in w:
            np.multiply(wk[i], wk[j], out=tmp)
            pij -= tmp
        if j != i:
            p[j, i] = pij


def _candidates(
    pos: np.ndarray, reach: np.ndarray, z: np.ndarray, det_reach: float
) -> tuple[np.ndarray, np.ndarray]:
    """(track, detection) index pairs closer than ``reach + det_reach``, sorted; a superset, by KD-tree.

    Tracks are queried in classes of power-of-two reach (one uncertain track does not widen every query),
    for their 4 nearest detections, then 16, ... while the last one found is still within reach.
    """
    m = z.shape[1]
    tree = cKDTree(z.T, balanced_tree=False)
    level = np.ceil(np.log2(np.maximum(reach, 1.0)))
    ti, dj = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    for lv in np.unique(level):
        radius = (2.0**lv + det_reach) * (1.0 + _SLACK)
        rows, k = (level == lv).nonzero()[0], 4
        while len(rows):
            k = min(k, m)
            near = tree.query(pos.take(rows, axis=1).T, k=k, distance_upper_bound=radius)[1].reshape(
                len(rows), k
            )
            found = near < m
            more = found[:, -1] & (k < m)  # all k within reach: there may be more
            done = (~more).nonzero()[0]
            count = found.take(done, axis=0).sum(1)
            ti.append(np.repeat(rows.take(done), count))
            dj.append(near.take(done, axis=0)[found.take(done, axis=0)])
            rows, k = rows.compress(more), 4 * k
    ti, dj = np.concatenate(ti), np.concatenate(dj)
    order = np.lexsort((dj, ti))
    return ti.take(order), dj.take(order)


def _gnn(ti: np.ndarray, dj: np.ndarray, cost: np.ndarray, n_tracks: int, n_dets: int) -> np.ndarray:
    """Pairs (indices) of a one-to-one assignment with the most pairs, then the least cost, per cluster.

    Clusters are the connected components of the gated pairs. A pair alone in its cluster (the common
    case) is taken as it is; a cluster with a single track or a single detection takes its cheapest pair;
    any other is solved by ``linear_sum_assignment``.
    """
    alone = (np.bincount(ti, minlength=n_tracks).take(ti) == 1) & (
        np.bincount(dj, minlength=n_dets).take(dj) == 1
    )
    if alone.all():
        return np.arange(len(ti))
    rest = (~alone).nonzero()[0]
    ti, dj, cost = ti.take(rest), dj.take(rest), cost.take(rest)
    graph = coo_matrix((np.ones(len(ti)), (ti, n_tracks + dj)), shape=(n_tracks + n_dets,) * 2)
    label = connected_components(graph, directed=False)[1]
    comp = label.take(ti)
    order = np.lexsort((cost, comp))  # by cluster, cheapest first (ties: pair order)
    cs = comp.take(order)
    start = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]])
    n_t = np.bincount(label.take(np.unique(ti)), minlength=len(label))
    n_d = np.bincount(label.take(n_tracks + np.unique(dj)), minlength=len(label))
    simple = (n_t == 1) | (n_d == 1)
    first = order.take(start)
    chosen = [alone.nonzero()[0], rest.take(first.compress(simple.take(comp.take(first))))]
    ends = np.r_[start[1:], len(order)]
    for s, e in zip(start, ends, strict=True):
        if simple[cs[s]]:
            continue
        k = order[s:e]
        ut, it = np.unique(ti.take(k), return_inverse=True)
        ud, jd = np.unique(dj.take(k), return_inverse=True)
        matrix, pair = np.full((len(ut), len(ud)), _UNGATED), np.full((len(ut), len(ud)), -1)
        matrix[it, jd], pair[it, jd] = cost.take(k), k
        a, b = linear_sum_assignment(matrix)
        pick = pair[a, b]
        chosen.append(rest.take(pick.compress(pick >= 0)))
    return np.sort(np.concatenate(chosen))


def _seeds(z: np.ndarray, r: np.ndarray, sensor: np.ndarray, gate: float) -> np.ndarray:
    """Detections that start tracks: one per cluster of mutually gated detections from different sensors.

    Two TRPs seeing one new target give two detections that gate with each other (``S = R_a + R_b``); only
    the most accurate (least ``tr R``) starts a track, which the others then update.
    """
    m = z.shape[1]
    if m < 2 or sensor.min() == sensor.max():
        return np.arange(m)
    reach = np.sqrt(gate * (r[0, 0] + r[1, 1] + r[2, 2]))
    pairs = cKDTree(z.T).query_pairs(2.0 * float(reach.max()) * (1.0 + _SLACK), output_type="ndarray")
    a, b = pairs[:, 0], pairs[:, 1]
    keep = sensor.take(a) != sensor.take(b)
    a, b = a.compress(keep), b.compress(keep)
    u = _forward(_chol3(r.take(a, axis=2) + r.take(b, axis=2)), z.take(a, axis=1) - z.take(b, axis=1))
    near = u[0] ** 2 + u[1] ** 2 + u[2] ** 2 <= gate
    graph = coo_matrix((np.ones(int(near.sum())), (a.compress(near), b.compress(near))), shape=(m, m))
    label = connected_components(graph, directed=False)[1]
    order = np.lexsort((np.arange(m), reach, label))
    ls = label.take(order)
    return np.sort(order.compress(np.r_[True, ls[1:] != ls[:-1]]))
