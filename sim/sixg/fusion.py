"""Surveillance fusion: one track per vehicle from cooperative reports and network-sensing detections.

Every track runs the same constant-velocity Kalman filter with white-acceleration process noise (SIXG-MODEL.md
§1, §8 phase 4), all tracks at once: state ``[x, y, z, vx, vy, vz]`` in local ENU m and m/s, and its 6 x 6
covariance. A cooperative report names its flight and updates that flight's track. A sensing detection has
no identity: it is gated against the predicted tracks (a sweep broad phase, then a chi-square Mahalanobis
gate) and assigned by global nearest neighbour. A vehicle that never reports (non-cooperative) exists only as
a sensing track, which enters the picture after M-of-N confirmation. :func:`inflated_zone` grows the
protected zone for the picture's uncertainty and staleness (§6.2).

Tracks are columns: ``state`` is (6, capacity) and ``cov`` (6, 6, capacity), so one matrix entry of every
track is one contiguous row and the filter is a few dozen whole-row operations (about twice as fast here as
stacked (n, 6, 6) matrices). Layer: sim.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import gammaincinv

from sim.errors import ScenarioError

__all__ = ["K_95_1D", "K_95_2D", "FusionConfig", "Picture", "Tracks", "inflated_zone"]

K_95_2D = 2.4477
"""k of a 95 % circle of a 2-D Gaussian with equal per-axis sigma (SIXG-MODEL.md §6.2)."""
K_95_1D = 1.959964
"""k of a two-sided 95 % interval of a 1-D Gaussian (the vertical axis)."""

_OOSM_S = 1e-9  # a measurement older than its track's last update by more is out of sequence
_SLACK = 1e-6  # relative slack of the broad-phase radii (rounding may add candidates, never drop one)
_PAD_M = 1e-3  # added to every broad-phase radius, the same: rounding in positions never drops a pair
_SPARE, _SPARE_M = 0.25, 1.0  # a scan's candidate radii are this much wider (relative, m), so that a track
_WIDEN = (1.0 + _SPARE) * (1.0 + _SLACK)  # the scan updates nearly always keeps its candidates
_STRIP = 8.0  # a sweep's strips are this many mean radii high ...
_STRIPS = 4096  # ... but at most this many
_STEPS = 4  # vectorized steps of a sweep's overlap search before a binary search
_CHUNK = 2048  # tracks per batch of filter arithmetic: its temporaries stay small enough to be reused
_NO_NOISE = np.diag([np.inf] * 3)  # the noise of a measurement that updates by nothing
_UNGATED = 1e9  # assignment cost of a pair outside the gate (an assignment using it is discarded)
_ENUMERATED = ((2, 3), (3, 4), (3, 8))  # assignment clusters solved by enumeration: (short side, long side)
_HOPS = 8  # label-spreading steps of a connected-components search before the general algorithm
_INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True, slots=True)
class FusionConfig:
    """Tracker settings: noise sigmas per axis, gate, confirmation and timeout (SIXG-MODEL.md §8)."""

    accel_psd_m2ps3: float = 1.0  # q, white-acceleration spectral density of the CV model
    # q of a report step whose innovation shows a manoeuvre (Tracks._filter; not above accel_psd_m2ps3: none):
    # sigma_a^2 T for a multirotor's 2 m/s^2 speed changes and 45 deg/s turns over a 1 s report, sigma_a = 4
    manoeuvre_psd_m2ps3: float = 16.0
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
        for name in ("accel_psd_m2ps3", "manoeuvre_psd_m2ps3"):
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
        most one detection per ``sensor`` (TRP; default: one sensor) and a detection that a cooperative track
        can still take, or could at the start of the scan, going to a cooperative track. A detection outside
        every gate starts a tentative track, but of mutually gated ones from different sensors only the most
        accurate does; the others then update it. A detection inside a gate at the start of the scan (before
        its updates move and shrink the tracks) starts none: once outside every gate it is dropped. Rounds
        repeat until no detection is left to assign. A tentative track is
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
        scan = _Scan(self, t, z, r, s)
        hit = scan.run()
        scan.merge()
        tentative = tentative.compress(self.active.take(tentative))
        given = np.zeros(self._cap, bool)
        given[hit] = True
        self.scans[tentative] += 1
        self.hits[tentative] += given.take(tentative)
        hit = hit.compress(self.active.take(hit) & ~self.confirmed.take(hit))
        given[:] = False
        given[tentative] = given[hit] = True
        self._confirm(given.nonzero()[0])

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
            self._drop(self._associate(others, z, r, t)[0])

    def _pos_var_bound(self, rows: np.ndarray, dt: np.ndarray) -> np.ndarray:
        """Upper bound of ``tr P_pos`` of ``rows`` predicted by any time step up to ``dt`` (n,) either way."""
        c = self.cov
        tr_pp, tr_pv, tr_vv = (
            (c[a, a + b] + c[a + 1, a + 1 + b] + c[a + 2, a + 2 + b]).take(rows)
            for a, b in ((0, 0), (0, 3), (3, 0))
        )
        return tr_pp + 2.0 * dt * np.abs(tr_pv) + dt * dt * tr_vv + self.config.accel_psd_m2ps3 * dt**3

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
        with ``vel`` (3, n) when given; in chunks, whose temporaries the allocator reuses.

        Manoeuvre detection (noise-level switching): a track whose measured velocity (position, without one)
        falls outside the gate of its prediction is predicted with ``manoeuvre_psd_m2ps3`` instead. The CV
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
        q, q_turn = self.config.accel_psd_m2ps3, self.config.manoeuvre_psd_m2ps3
        b = 0 if vel is None else 3  # the block the manoeuvre test looks at
        for c in range(0, len(rows), _CHUNK):
            k = slice(c, c + _CHUNK)
            r = rows[k]
            x, p = self.state.take(r, axis=1), self.cov.take(r, axis=2)
            dt = np.maximum(t[k] - self.t_s.take(r), 0.0)
            _predict(x, p, dt, q)
            extra = np.zeros((3, len(r)))  # per axis, the process noise the step's manoeuvre adds to q
            if vel is not None:
                nu = vel[:, k] - x[3:]
                np.divide(nu * nu, dt, out=extra, where=dt > 0.0)
                extra -= q
            if q_turn > q:
                z, noise = (pos[:, k], r_pos[:, :, k]) if vel is None else (vel[:, k], self._r_vel)
                turn = (_gate(x[b : b + 3], p[b : b + 3, b : b + 3], z, noise)[0] > self._gate).nonzero()[0]
                extra[:, turn] = np.maximum(extra[:, turn], q_turn - q)
            turn = (extra > 0.0).any(axis=0).nonzero()[0]
            if len(turn):
                pt = p.take(turn, axis=2)
                _add_noise(pt, dt.take(turn), np.maximum(extra.take(turn, axis=1), 0.0))
                p[:, :, turn] = pt
            _update(x, p, pos[:, k], r_pos[:, :, k], 0)
            if vel is not None:
                _update(x, p, vel[:, k], self._r_vel, 3)
            self._store(r, x, p, t[k])

    def _associate(
        self, rows: np.ndarray, z: np.ndarray, r: np.ndarray, t_det: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Global-nearest-neighbour assignment of detections ``z`` (3, m), ``r`` (3, 3, m) measured at
        ``t_det`` to tracks ``rows``: the assigned rows and detections and the mask of detections inside some
        track's gate. A pair costs ``d^2 + ln det S``. (A sensing scan, all at one time, runs :class:`_Scan`.)
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
        det_reach = np.sqrt(gate * (r[0, 0] + r[1, 1] + r[2, 2]))
        pos = np.concatenate([x[:3] + x[3:] * (hi - t0), z], axis=1)
        ti, dj = _near(pos, np.concatenate([reach, det_reach]) * (1.0 + _SLACK), split=len(rows))
        tr, dj = rows.take(ti), dj - len(rows)
        d2, cost = np.empty(len(ti)), np.empty(len(ti))
        for c in range(0, len(ti), _CHUNK):
            k = slice(c, c + _CHUNK)
            trk, djk = tr[k], dj[k]
            xk, pk = self.state.take(trk, axis=1), cov.take(trk, axis=2)
            _predict(xk, pk, t_det.take(djk) - self.t_s.take(trk), q)
            d2[k], cost[k] = _gate(xk[:3], pk[:3, :3], z.take(djk, axis=1), r.take(djk, axis=2))
        inside = d2 <= gate
        gated = np.zeros(m, bool)
        gated[dj.compress(inside)] = True
        k = inside.nonzero()[0]
        k = k.take(_gnn(tr.take(k), dj.take(k), cost.take(k)))
        return tr.take(k), dj.take(k), gated


class _Scan:
    """The rounds of one sensing scan (:meth:`Tracks.update_sensing`), all at its time, on one sweep.

    The scan works on its own copy of the tracks predicted to its time (one column each, then one per track it
    starts), stored back once at the end. The tracks and detections are swept once (:func:`_near`) for
    track-detection and detection-detection candidate pairs, their radii widened by ``_SPARE`` and
    ``_SPARE_M``, and each pair's gate distance is kept. A later round recomputes only the pairs of the tracks
    the round before updated or started. Such a track keeps its candidates while its shift plus its reach
    stays inside its widened radius (nearly always), else it is swept again against the pending detections;
    a started track takes its seed's detection pairs. So every round gates, assigns and starts tracks exactly
    as an association of all tracks with the pending detections would, at a fraction of the cost.
    """

    def __init__(self, tracks: Tracks, t: float, z: np.ndarray, r: np.ndarray, sensor: np.ndarray) -> None:
        self.tracks, self.t, self.sensor = tracks, t, sensor
        gate, m = tracks._gate, z.shape[1]
        # z and r row by row (fast to gather), with a last column that updates by nothing
        self.z, self.r = np.zeros((3, m + 1)), np.empty((3, 3, m + 1))
        self.z[:, :m], self.r[:, :, :m], self.r[:, :, m] = z, r, _NO_NOISE
        z, r = self.z[:, :m], self.r[:, :, :m]
        rows = tracks.rows()
        n = len(rows)
        self.x, self.p = np.empty((6, n + m)), np.empty((6, 6, n + m))  # room for a track per detection
        self.x[:, :n], self.p[:, :, :n] = tracks.state.take(rows, axis=1), tracks.cov.take(rows, axis=2)
        _predict(self.x[:, :n], self.p[:, :, :n], t - tracks.t_s.take(rows), tracks.config.accel_psd_m2ps3)
        self.n, self.row_at = n, np.concatenate([rows, np.empty(m, np.int64)])  # the row of each column
        self.col = np.full(tracks._cap + m, -1)  # the column of each row (rows the scan starts stay below)
        self.col[rows] = np.arange(n)
        self.changed = np.zeros(len(self.col), bool)  # updated or started by the scan
        x, p = self.x[:, :n], self.p[:, :, :n]
        self.reach = np.sqrt(gate * (r[0, 0] + r[1, 1] + r[2, 2]))  # of each detection
        self.half = _WIDEN * self.reach + _SPARE_M
        half = _WIDEN * np.sqrt(gate * (p[0, 0] + p[1, 1] + p[2, 2])) + _SPARE_M
        a, b = _near(np.concatenate([x[:3], z], axis=1), np.concatenate([half, self.half]))
        k, dd = ((a < n) & (b >= n)).nonzero()[0], (a >= n).nonzero()[0]
        i = a.take(k)
        self.row, self.det = rows.take(i), b.take(k) - n  # candidate pairs
        zd, rd = z.take(self.det, axis=1), r.take(self.det, axis=2)
        self.d2, self.cost = _gate(x[:3].take(i, axis=1), p[:3, :3].take(i, axis=2), zd, rd)
        self.dd = a.take(dd) - n, b.take(dd) - n  # detection pairs
        self.anchor, self.anchor_half = np.zeros((3, n + m)), np.zeros(n + m)  # where each column was swept
        self.anchor[:, :n], self.anchor_half[:n] = x[:3], half
        self.pending = np.ones(m, bool)
        # What the tracks predicted to the scan explain, before any of its updates moves or shrinks them: such
        # a detection starts no track (a measurement in a track's validation gate initiates none), and one
        # that a cooperative track explains feeds no sensing-only one. A vehicle seen by three TRPs gives
        # three echoes of one epoch; once the first has updated its track, a second one's innovation is tested
        # against the shrunken posterior, and falling outside it said which echo came first, not that a second
        # vehicle is there: on the Nanshan demo (reports filtered as in _filter) most births next to
        # cooperative vehicles (600 of 800 in 300 s) and to non-cooperative ones (113 of 133) came so.
        inside = self.d2 <= tracks._gate
        self.explained, self.reserved = np.zeros(m, bool), np.zeros(m, bool)
        self.explained[self.det.compress(inside)] = True
        self.reserved[self.det.compress(inside & tracks.cooperative.take(self.row))] = True
        self.took: list[np.ndarray] = []  # per round, the sensor of the detection each row took (or -1)

    def run(self) -> np.ndarray:
        """Rounds until no detection is left to assign, then the tracks stored; returns the rows given a
        detection, ascending."""
        tracks, t, s = self.tracks, self.t, self.sensor
        given = np.zeros(len(self.col), bool)
        while len(s):
            inside = self.d2 <= tracks._gate
            gated = np.zeros(len(s), bool)
            gated[self.det.compress(inside)] = True
            spent = self.explained & ~gated  # explained, but outside every gate now: it starts no track
            sd = s.take(self.det)
            for took in self.took:
                inside &= took.take(self.row) != sd
            inside &= self._unclaimed(inside)
            k = inside.nonzero()[0]
            k = k.take(_gnn(self.row.take(k), self.det.take(k), self.cost.take(k)))
            rows, det = self.row.take(k), self.det.take(k)
            fresh = (tracks.t_s.take(rows) <= t + _OOSM_S).nonzero()[0]
            upd = rows.take(fresh)
            self._correct(upd, det.take(fresh))
            tracks.sensed[upd] = True
            free = (self.pending & ~gated & ~spent).nonzero()[0]
            seeds = self._seeds(free) if len(free) else free
            born = self._start(seeds) if len(seeds) else seeds
            if not len(rows) and not len(born):
                break  # what is left gates only with tracks that already took a detection of its sensor
            given[rows] = given[born] = True
            took = np.full(len(self.col), -1)
            took[rows], took[born] = s.take(det), s.take(seeds)
            self.took.append(took)
            self.pending[det] = self.pending[seeds] = self.pending[spent] = False
            if not self.pending.any():
                break
            self._refresh(upd, born, seeds)
        rows = self.changed.nonzero()[0]
        c = self.col.take(rows)
        tracks._store(rows, self.x.take(c, axis=1), self.p.take(c, axis=2), np.full(len(rows), t))
        return given[: tracks._cap].nonzero()[0]

    def _unclaimed(self, inside: np.ndarray) -> np.ndarray:
        """Which candidate pairs may be assigned, of those ``inside`` the gate: a detection that a cooperative
        track can still take, or could at the start of the scan, goes to a cooperative track (or to none). A
        reporting vehicle's echo is its own; left to GNN,
        a sensing-only track near it (started by clutter or by one of its outlier echoes) takes one of its
        echoes a scan, gets confirmed on them, and coasts off on the velocity they made: a phantom with right
        of way."""
        coop = self.tracks.cooperative.take(self.row)
        claimed = self.reserved.copy()
        claimed[self.det.compress(inside & coop)] = True
        return coop | ~claimed.take(self.det)

    def merge(self) -> None:
        """Drop duplicates of the tracks the scan updated or started: of two tracks whose states at the scan
        differ by less than the chi-square gate on 6 dof (``S = P_a + P_b``), keep the cooperative, then the
        confirmed, then the older one.

        Crossing vehicles are not merged: their velocities differ. Two cooperative tracks never are.
        """
        tracks, n = self.tracks, self.n
        if not self.changed.any():
            return
        gate = 2.0 * float(gammaincinv(3.0, tracks.config.gate_probability))
        x, p = self.x[:, :n], self.p[:, :, :n]
        i, j = _near(x[:3], np.sqrt(gate * (p[0, 0] + p[1, 1] + p[2, 2])) * (1.0 + _SLACK))
        rows, coop = self.row_at[:n], tracks.cooperative
        a, b = rows.take(i), rows.take(j)
        j_hit = self.changed.take(b)
        k = ((j_hit | self.changed.take(a)) & ~(coop.take(a) & coop.take(b))).nonzero()[0]
        i, j, j_hit = i.take(k), j.take(k), j_hit.take(k)
        i, j = np.where(j_hit, i, j), np.where(j_hit, j, i)  # j was updated or started
        # the position part of the distance is at most the whole: a cheap 3-dof test first
        u = _forward(
            _chol3(p[:3, :3].take(i, axis=2) + p[:3, :3].take(j, axis=2)),
            x[:3].take(i, axis=1) - x[:3].take(j, axis=1),
        )
        k = (u[0] ** 2 + u[1] ** 2 + u[2] ** 2 <= gate * (1.0 + _SLACK)).nonzero()[0]
        i, j = i.take(k), j.take(k)
        e = (x.take(i, axis=1) - x.take(j, axis=1)).T[..., None]
        s = (p.take(i, axis=2) + p.take(j, axis=2)).transpose(2, 0, 1)
        k = ((e * np.linalg.solve(s, e)).sum(axis=(1, 2)) <= gate).nonzero()[0]
        a, b = rows.take(i.take(k)), rows.take(j.take(k))
        rank = 2 * ~coop + ~tracks.confirmed  # lower is kept; then the older (smaller id)
        a_kept = (rank.take(a) < rank.take(b)) | (
            (rank.take(a) == rank.take(b)) & (tracks.track_id.take(a) < tracks.track_id.take(b))
        )
        tracks._drop(np.unique(np.where(a_kept, b, a)))

    def _correct(self, rows: np.ndarray, det: np.ndarray) -> None:
        """Kalman update of the columns of ``rows`` with detections ``det``."""
        tracks = self.tracks
        c = self.col.take(rows)
        # a track updated within _OOSM_S after the scan is updated from its state, not predicted back
        late = ((tracks.t_s.take(rows) > self.t) & ~self.changed.take(rows)).nonzero()[0]
        if len(late):
            self.x[:, c.take(late)] = tracks.state.take(rows.take(late), axis=1)
            self.p[:, :, c.take(late)] = tracks.cov.take(rows.take(late), axis=2)
        if 2 * len(c) > self.n:  # most columns: update all in place, the others by nothing (no copies)
            which = np.full(self.n, len(self.pending))  # the no-detection column of z and r
            which[c] = det
            for i in range(0, self.n, _CHUNK):
                k, d = slice(i, min(i + _CHUNK, self.n)), which[i : i + _CHUNK]
                z, r = self.z.take(d, axis=1), self.r.take(d, axis=2)
                _update(self.x[:, k], self.p[:, :, k], z, r, 0, d < len(self.pending))
        else:
            for i in range(0, len(c), _CHUNK):
                k, d = c[i : i + _CHUNK], det[i : i + _CHUNK]
                x, p = self.x.take(k, axis=1), self.p.take(k, axis=2)
                _update(x, p, self.z.take(d, axis=1), self.r.take(d, axis=2), 0)
                self.x[:, k], self.p[:, :, k] = x, p
        self.changed[rows] = True

    def _start(self, seeds: np.ndarray) -> np.ndarray:
        """Tentative tracks at ``seeds``, with columns; their rows."""
        tracks, z, r, k = self.tracks, self.z, self.r, len(seeds)
        born = tracks._birth(
            z.take(seeds, axis=1), None, np.full(k, self.t), r.take(seeds, axis=2), tracks._birth_var
        )
        tracks.sensed[born] = True
        tracks.vehicle[born] = -1
        c = np.arange(self.n, self.n + k)
        self.x[:, c], self.p[:, :, c] = tracks.state.take(born, axis=1), tracks.cov.take(born, axis=2)
        self.row_at[c], self.col[born], self.changed[born] = born, c, True
        self.n += k
        return born

    def _refresh(self, upd: np.ndarray, born: np.ndarray, seeds: np.ndarray) -> None:
        """Candidates and gate distances of the rows ``upd`` (updated) and ``born`` (started at ``seeds``);
        the pairs of detections no longer pending are dropped."""
        keep = self.pending.take(self.det)
        if not keep.all():
            self._keep(keep.nonzero()[0])
        gate, c, z, r = self.tracks._gate, self.col.take(upd), self.z, self.r
        reach = np.sqrt(gate * (self.p[0, 0].take(c) + self.p[1, 1].take(c) + self.p[2, 2].take(c)))
        pos = self.x[:3].take(c, axis=1)
        shift = np.sqrt(((pos - self.anchor.take(c, axis=1)) ** 2).sum(axis=0))
        far = (shift + reach * (1.0 + _SLACK) > self.anchor_half.take(c)).nonzero()[0]
        if len(far):
            self._sweep(upd.take(far), pos.take(far, axis=1), _WIDEN * reach.take(far) + _SPARE_M)
        if len(born):
            self._adopt(born, seeds)
        a, b = self.dd
        k = (self.pending.take(a) & self.pending.take(b)).nonzero()[0]
        self.dd = a.take(k), b.take(k)
        moved = np.zeros(len(self.col), bool)
        moved[upd] = moved[born] = True
        k = moved.take(self.row).nonzero()[0]
        c, det = self.col.take(self.row.take(k)), self.det.take(k)
        zd, rd = z.take(det, axis=1), r.take(det, axis=2)
        self.d2[k], self.cost[k] = _gate(self.x[:3].take(c, axis=1), self.p[:3, :3].take(c, axis=2), zd, rd)

    def _sweep(self, rows: np.ndarray, pos: np.ndarray, half: np.ndarray) -> None:
        """New candidates of ``rows`` at ``pos`` (3, k) with radii ``half``: the pending detections near."""
        pend = self.pending.nonzero()[0]
        i, j = _near(
            np.concatenate([pos, self.z.take(pend, axis=1)], axis=1),
            np.concatenate([half, self.half.take(pend)]),
            split=len(rows),
        )
        swept = np.zeros(len(self.col), bool)
        swept[rows] = True
        self._keep((~swept.take(self.row)).nonzero()[0])
        self._add(rows.take(i), pend.take(j - len(rows)))
        c = self.col.take(rows)
        self.anchor[:, c], self.anchor_half[c] = pos, half

    def _adopt(self, born: np.ndarray, seeds: np.ndarray) -> None:
        """Candidates of the rows ``born`` at ``seeds``: the pending detections near each seed."""
        a, b = self.dd
        row_of = np.full(len(self.pending), -1)
        row_of[seeds] = born
        ra, rb = row_of.take(a), row_of.take(b)
        k1 = ((ra >= 0) & self.pending.take(b)).nonzero()[0]
        k2 = ((rb >= 0) & self.pending.take(a)).nonzero()[0]
        self._add(np.concatenate([ra.take(k1), rb.take(k2)]), np.concatenate([b.take(k1), a.take(k2)]))
        c = self.col.take(born)
        self.anchor[:, c], self.anchor_half[c] = self.z.take(seeds, axis=1), self.half.take(seeds)

    def _keep(self, k: np.ndarray) -> None:
        self.row, self.det, self.d2, self.cost = (v.take(k) for v in (self.row, self.det, self.d2, self.cost))

    def _add(self, rows: np.ndarray, det: np.ndarray) -> None:
        """Append candidate pairs (their gate distances are set by :meth:`_refresh`)."""
        self.row, self.det = np.concatenate([self.row, rows]), np.concatenate([self.det, det])
        self.d2 = np.concatenate([self.d2, np.empty(len(rows))])
        self.cost = np.concatenate([self.cost, np.empty(len(rows))])

    def _seeds(self, free: np.ndarray) -> np.ndarray:
        """Detections of ``free`` (outside every gate) that start tracks: one per cluster of mutually gated
        detections from different sensors, the most accurate (least ``tr R``, then the first).

        Two TRPs seeing one new target give two detections that gate with each other (``S = R_a + R_b``);
        only one starts a track, which the others then update.
        """
        is_free = np.zeros(len(self.pending), bool)
        is_free[free] = True
        a, b = self.dd
        s, r, z = self.sensor, self.r, self.z
        k = (is_free.take(a) & is_free.take(b) & (s.take(a) != s.take(b))).nonzero()[0]
        a, b = a.take(k), b.take(k)
        u = _forward(_chol3(r.take(a, axis=2) + r.take(b, axis=2)), z.take(a, axis=1) - z.take(b, axis=1))
        k = (u[0] ** 2 + u[1] ** 2 + u[2] ** 2 <= self.tracks._gate).nonzero()[0]
        if not len(k):
            return free
        nodes, ends = _compact(np.concatenate([a.take(k), b.take(k)]), len(is_free))
        label = _components(ends[: len(k)], ends[len(k) :], len(nodes))
        is_free[nodes] = False
        first = nodes.take(_cheapest(label, nodes, self.reach.take(nodes)))
        return np.sort(np.concatenate([is_free.nonzero()[0], first]))


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
        _add_noise(p, dt, q)


def _add_noise(p: np.ndarray, dt: np.ndarray, q: float | np.ndarray) -> None:
    """Add the process noise ``Q`` of white acceleration ``q`` over ``dt`` (n,) s to ``p`` in place; ``q`` is
    one value, or one per axis and track (3, n)."""
    a = np.abs(dt)
    q = np.asarray(q, float)
    per_axis = q.ndim == 2
    q_pp, q_pv, q_vv = q * a**3 / 3.0, q * dt * a / 2.0, q * a
    for i in range(3):
        pp, pv, vv = (q_pp[i], q_pv[i], q_vv[i]) if per_axis else (q_pp, q_pv, q_vv)
        p[i, i] += pp
        p[i, i + 3] += pv
        p[i + 3, i] += pv
        p[i + 3, i + 3] += vv


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


def _update(
    x: np.ndarray, p: np.ndarray, z: np.ndarray, r: np.ndarray, b: int, where: np.ndarray | bool = True
) -> None:
    """Kalman update in place of the state block ``b:b+3`` (0 position, 3 velocity) measured as ``z`` (3, n).

    With ``S = H P H^T + R = L L^T`` and ``w = L^-1 H P``: ``x += w^T L^-1 (z - H x)`` and ``P -= w^T w``,
    which is the textbook ``K = P H^T S^-1`` update, and keeps ``P`` symmetric to the last bit. Columns
    outside ``where`` must have infinite noise: they are left as they are, bit for bit.
    """
    chol = _chol3(p[b : b + 3, b : b + 3] + r)
    w = _forward(chol, p[b : b + 3])
    u = _forward(chol, z - x[b : b + 3])
    np.add(x, w[0] * u[0] + w[1] * u[1] + w[2] * u[2], out=x, where=where)  # (-0.0 + 0.0 is 0.0)
    for wk in w:  # the upper triangle, row by row (w = 0 outside where)
        for i in range(6):
            p[i, i:] -= wk[i] * wk[i:]
    for i in range(5):
        np.copyto(p[i + 1 :, i], p[i, i + 1 :], where=where)


def _gate(pos: np.ndarray, cov: np.ndarray, z: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared Mahalanobis distance and cost ``d^2 + ln det S`` of detections ``z`` (3, k) with noise ``r``
    (3, 3, k) from predicted positions ``pos`` (3, k) with covariances ``cov`` (3, 3, k), pair by pair."""
    chol = _chol3(cov + r)
    u = _forward(chol, z - pos)
    d2 = u[0] ** 2 + u[1] ** 2 + u[2] ** 2
    return d2, d2 + 2.0 * np.log(chol[0] * chol[3] * chol[5])


def _near(pos: np.ndarray, half: np.ndarray, split: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``i < j`` of points ``pos`` (3, n) at most ``half_i + half_j`` apart (plus ``_PAD_M``);
    with ``split``, only those with ``i < split <= j``.

    Each point's square ``x +- half, y +- half`` is copied into every strip of y it spans and the strips are
    swept along x: one sort for all pairs however different the radii (a KD-tree query needs a radius that
    covers the widest point). A pair is found in each strip both span and kept in the first, where one of
    the two is a first copy. Rounding is monotone, so no pair inside the radii is lost to it.
    """
    n = len(half)
    none = np.empty(0, np.int64)
    if n < 2 or (split is not None and not 0 < split < n):
        return none, none
    h = half + _PAD_M
    x_lo, x_hi, y_lo, y_hi = pos[0] - h, pos[0] + h, pos[1] - h, pos[1] + h
    y0 = float(y_lo.min())
    per_m = 1.0 / max(_STRIP * float(h.mean()), (float(y_hi.max()) - y0) / _STRIPS)  # strips per metre
    first, last = ((y_lo - y0) * per_m).astype(np.int64), ((y_hi - y0) * per_m).astype(np.int64)
    item, strip = [np.arange(n)], [first]  # copies: first ones first
    more = (last > first).nonzero()[0]
    while len(more):
        item.append(more)
        strip.append(strip[-1].take(np.searchsorted(item[-2], more)) + 1)
        more = more.compress(last.take(more) > strip[-1])
    item, strip = np.concatenate(item), np.concatenate(strip)
    x0 = float(x_lo.min())
    base = strip * (float(x_hi.max()) - x0 + 1.0) - x0  # strips apart along the sort key
    lo, hi = base + x_lo.take(item), base + x_hi.take(item)
    order = np.argsort(lo)
    src, dst = _overlaps(lo.take(order), hi.take(order))
    src, dst = order.take(src), order.take(dst)
    k = ((src < n) | (dst < n)).nonzero()[0]
    i, j = item.take(src.take(k)), item.take(dst.take(k))
    i, j = np.minimum(i, j), np.maximum(i, j)
    if split is not None:
        k = ((i < split) & (j >= split)).nonzero()[0]
        i, j = i.take(k), j.take(k)
    d = pos.take(i, axis=1) - pos.take(j, axis=1)
    k = (d[0] ** 2 + d[1] ** 2 + d[2] ** 2 <= (h.take(i) + h.take(j)) ** 2).nonzero()[0]
    return i.take(k), j.take(k)


def _overlaps(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``p < q`` with ``lo[q] <= hi[p]``, for ascending ``lo``: the intervals that overlap.

    Most intervals overlap few others: a few vectorized steps find those, a search the rest.
    """
    n = len(lo)
    src, dst = [], []
    p = np.arange(n - 1)
    for step in range(1, _STEPS + 1):
        p = p.compress(lo.take(p + step) <= hi.take(p))
        src.append(p)
        dst.append(p + step)
        p = p.compress(p + step + 1 < n)
        if not len(p):
            return np.concatenate(src), np.concatenate(dst)
    count = np.searchsorted(lo, hi.take(p), side="right") - p - _STEPS - 1
    end = np.cumsum(count)
    run = np.searchsorted(end, np.arange(int(end[-1])), side="right")  # the run of each further pair
    p = p.take(run)
    src.append(p)
    dst.append(p + _STEPS + 1 + np.arange(len(run)) - (end - count).take(run))
    return np.concatenate(src), np.concatenate(dst)


def _gnn(ti: np.ndarray, dj: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Pairs (indices) of a one-to-one assignment with the most pairs, then the least cost, per cluster.

    Clusters are the connected components of the pairs (track ``ti``, detection ``dj``). One with a single
    track or a single detection (nearly all: most are one pair) takes its cheapest pair (ties: the first
    detection, or track), all at once; any other is solved by ``linear_sum_assignment``.
    """
    if not len(ti):
        return np.empty(0, np.int64)
    shared_t, shared_d = np.bincount(ti).take(ti) > 1, np.bincount(dj).take(dj) > 1
    one_track = np.bincount(ti, shared_d).take(ti) == 0  # none of the track's detections gates another
    one_det = (np.bincount(dj, shared_t).take(dj) == 0) & ~one_track
    chosen = []
    for group, other, mask in ((ti, dj, one_track), (dj, ti, one_det)):
        k = mask.nonzero()[0]
        if len(k):
            chosen.append(k.take(_cheapest(group.take(k), other.take(k), cost.take(k))))
    rest = (~(one_track | one_det)).nonzero()[0]
    if len(rest):
        chosen.append(rest.take(_assign(ti.take(rest), dj.take(rest), cost.take(rest))))
    return np.concatenate(chosen) if chosen else np.empty(0, np.int64)


def _assign(ti: np.ndarray, dj: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Pairs (indices) of the best assignment of each cluster (several tracks and several detections).

    A cluster that fits one of :data:`_ENUMERATED` (nearly all) takes the best of its :func:`_options` (most
    pairs, then least cost), all such clusters at once; any other is solved by ``linear_sum_assignment``
    (tracks and detections ascending).
    """
    tracks, it = _compact(ti, int(ti.max()) + 1)
    dets, jd = _compact(dj, int(dj.max()) + 1)
    nt = len(tracks)
    label = _components(it, nt + jd, nt + len(dets))
    size_t, size_d = np.bincount(label[:nt]), np.bincount(label[nt:])
    rank_t, rank_d = _rank(label[:nt]), _rank(label[nt:])
    comp = label.take(it)
    flip = size_t > size_d  # the detections are the short side
    short = np.where(flip, size_d, size_t)
    long = size_t + size_d - short
    bucket = np.full(len(short), len(_ENUMERATED))  # the smallest size that fits; past the last: none
    for b, (rows, cols) in reversed(list(enumerate(_ENUMERATED))):
        bucket[(short <= rows) & (long <= cols)] = b
    chosen = []
    for b, (rows, cols) in enumerate(_ENUMERATED):
        fits = bucket == b
        k = fits.take(comp).nonzero()[0]
        if not len(k):
            continue
        slot = (np.cumsum(fits) - 1).take(comp.take(k))
        at, ad = rank_t.take(it.take(k)), rank_d.take(jd.take(k))
        f = flip.take(comp.take(k))
        shape = (int(fits.sum()), rows, cols + 1)  # the last column: no pair
        matrix, pair = np.full(shape, np.inf), np.full(shape, -1)
        matrix[:, :, -1] = 0.0
        short_at, long_at = np.where(f, ad, at), np.where(f, at, ad)
        matrix[slot, short_at, long_at], pair[slot, short_at, long_at] = cost.take(k), k
        options = _options(rows, cols)
        total = sum(matrix[:, row, options[:, row]] for row in range(rows))
        pairs = np.where(np.isfinite(total), (options < cols).sum(axis=1), -1)
        best = np.where(pairs == pairs.max(axis=1, keepdims=True), total, np.inf).argmin(axis=1)
        pick = pair[np.arange(shape[0])[:, None], np.arange(rows), options.take(best, axis=0)].ravel()
        chosen.append(pick.compress(pick >= 0))
    small = bucket < len(_ENUMERATED)
    k = (~small).take(comp).nonzero()[0]
    order = k.take(np.argsort(comp.take(k), kind="stable"))
    cs = comp.take(order)
    cut = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1], True]) if len(cs) else np.zeros(1, np.int64)
    for s, e in itertools.pairwise(cut):
        k = order[s:e]
        ut, iu = np.unique(it.take(k), return_inverse=True)
        ud, ju = np.unique(jd.take(k), return_inverse=True)
        matrix, pair = np.full((len(ut), len(ud)), _UNGATED), np.full((len(ut), len(ud)), -1)
        matrix[iu, ju], pair[iu, ju] = cost.take(k), k
        a, b = linear_sum_assignment(matrix)
        pick = pair[a, b]
        chosen.append(pick.compress(pick >= 0))
    return np.concatenate(chosen)


@functools.cache
def _options(short: int, long: int) -> np.ndarray:
    """Every assignment of a cluster's ``short`` nodes of one side to its ``long`` of the other: each node's
    partner, or ``long`` for none, no partner twice."""
    options = itertools.product(range(long + 1), repeat=short)
    return np.array([o for o in options if len(set(o) - {long}) == sum(v < long for v in o)])


def _rank(label: np.ndarray) -> np.ndarray:
    """Each entry's index among the entries with its label, in order."""
    order = np.argsort(label, kind="stable")
    count = np.bincount(label)
    rank = np.empty(len(label), np.int64)
    rank[order] = np.arange(len(label)) - (np.cumsum(count) - count).take(label.take(order))
    return rank


def _cheapest(group: np.ndarray, other: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Index of the least ``cost`` of each ``group`` (ties: the least ``other``; (group, other) unique)."""
    size = int(group.max()) + 1
    best = np.full(size, np.inf)
    np.minimum.at(best, group, cost)
    k = (cost == best.take(group)).nonzero()[0]
    low = np.full(size, _INT64_MAX)
    np.minimum.at(low, group.take(k), other.take(k))
    return k.compress(other.take(k) == low.take(group.take(k)))


def _compact(ids: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``ids`` (ascending, all below ``size``) and each one's index among them."""
    seen = np.zeros(size, bool)
    seen[ids] = True
    return seen.nonzero()[0], (np.cumsum(seen) - 1).take(ids)


def _components(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Connected-component label (its least node) of each of nodes ``0..n-1`` of the undirected graph with
    edges ``(a, b)``: labels spread along the edges and jump to their labels' labels until none changes (a
    few steps for the small clusters here); the general algorithm once that takes long."""
    label = np.arange(n)
    for _ in range(_HOPS):
        low = np.minimum(label.take(a), label.take(b))
        new = label.copy()
        np.minimum.at(new, a, low)
        np.minimum.at(new, b, low)
        new = new.take(new)
        if np.array_equal(new, label):
            return label
        label = new
    return connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)[1]
