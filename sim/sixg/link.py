"""Message-level 6G radio link: SINR -> link adaptation, BLER, HARQ -> NR TDD timing -> (delivered, latency).

SIXG-MODEL.md §5: attenuated-Shannon spectral efficiency (TR 36.942 A.1), logistic BLER with chase-combining
HARQ, dynamic-grant or configured-grant timing on the TDD slot grid (TS 38.211 §4.3), a uniform transport
delay, and a T310-like radio-link failure kept per vehicle. It takes received powers or SINRs, never
geometry (the channel is sim.sixg.channel's business). Each call handles a whole batch of messages with
numpy; every draw comes from the Generator the caller passes. Layer: sim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import NamedTuple

import numba
import numpy as np
from numpy.typing import ArrayLike

from sim.errors import ScenarioError

__all__ = [
    "Link",
    "LinkParams",
    "bler",
    "harq_residuals",
    "link_adaptation",
    "sinr_db",
    "spectral_efficiency",
    "thermal_noise_dbm",
]

_KT_DBM_PER_HZ = -174.0  # thermal noise density at 290 K
_RE_PER_PRB_SLOT = 12 * 14  # subcarriers x symbols (normal CP)
_SCS_KHZ = (15, 30, 60, 120)
_GRANTS = ("dynamic", "configured")
_MAX_VEHICLE_ID = 2**31 - 1  # flight ids are int32 in the event log


def _require(ok: bool, field: str, reason: str) -> None:
    if not ok:
        raise ScenarioError(field, reason)


@dataclass(frozen=True, slots=True)
class LinkParams:
    """Radio, PHY-abstraction, timing and RLF parameters; defaults are SIXG-MODEL.md §8 ``comm_uplink``.

    Powers in dBm, ratios in dB, times in s. ``bs_tx_dbm`` is 46 dBm per 20 MHz scaled to the bandwidth
    (§2.6). ``prb_per_message`` is what the scheduler gives one message in one slot; in the uplink it is
    the bandwidth the UE's power spreads over, hence the uplink noise bandwidth. ``sr_grant_periods`` and
    ``harq_rtt_periods`` count TDD pattern periods (§5.3: 2 x 2.5 ms for DDDSU at 30 kHz).

    >>> LinkParams().slot_s, LinkParams().period_s
    (0.0005, 0.0025)
    >>> LinkParams(grant="semi")
    Traceback (most recent call last):
    sim.errors.ScenarioError: grant: must be one of 'dynamic', 'configured' (got 'semi')
    """

    scs_khz: int = 30
    tdd_pattern: str = "DDDSU"
    grant: str = "dynamic"
    sr_grant_periods: int = 2
    harq_rtt_periods: int = 2
    decode_slots: int = 1
    harq_max_tx: int = 4
    ue_tx_dbm: float = 23.0
    bs_tx_dbm: float = 53.0
    bandwidth_mhz: float = 100.0
    prb_per_message: int = 25
    bs_nf_db: float = 5.0
    ue_nf_db: float = 9.0
    iot_db: float = 3.0
    dl_load: float = 1.0
    se_alpha: float = 0.6
    sinr_min_db: float = -10.0
    se_max_bps_hz: float = 4.4
    overhead: float = 0.14
    bler_slope_per_db: float = 1.5
    bler_target_first_tx: float = 0.10
    csi_error_std_db: float = 2.0
    transport_s: tuple[float, float] = (0.002, 0.010)
    report_bytes: int = 100
    advisory_bytes: int = 100
    rlf_sinr_db: float = -6.0
    t310_s: float = 1.0
    reestablish_s: float = 0.5

    def __post_init__(self) -> None:
        ints = ("scs_khz", "sr_grant_periods", "harq_rtt_periods", "decode_slots", "harq_max_tx")
        ints += ("prb_per_message", "report_bytes", "advisory_bytes")
        for name in ints:
            value = getattr(self, name)
            _require(type(value) is int, name, f"must be an integer (got {value!r})")
        for name in (f.name for f in fields(self) if f.name not in (*ints, "tdd_pattern", "grant")):
            values = getattr(self, name) if name == "transport_s" else (getattr(self, name),)
            finite = all(isinstance(v, int | float) and math.isfinite(v) for v in values)
            _require(finite, name, f"must be a finite number (got {getattr(self, name)!r})")
        _require(self.scs_khz in _SCS_KHZ, "scs_khz", f"must be one of 15, 30, 60, 120 (got {self.scs_khz})")
        _require(
            isinstance(self.tdd_pattern, str) and set(self.tdd_pattern) <= set("DSU"),
            "tdd_pattern",
            f"must be a string of D, S and U slots (got {self.tdd_pattern!r})",
        )
        _require(
            "D" in self.tdd_pattern and "U" in self.tdd_pattern,
            "tdd_pattern",
            f"needs at least one D and one U slot (got {self.tdd_pattern!r})",
        )
        _require(
            self.grant in _GRANTS, "grant", f"must be one of 'dynamic', 'configured' (got {self.grant!r})"
        )
        for name in ("sr_grant_periods", "harq_rtt_periods", "harq_max_tx", "report_bytes", "advisory_bytes"):
            _require(getattr(self, name) >= 1, name, f"must be >= 1 (got {getattr(self, name)})")
        for name in ("decode_slots", "iot_db", "csi_error_std_db", "t310_s", "reestablish_s"):
            _require(getattr(self, name) >= 0, name, f"must be >= 0 (got {getattr(self, name)})")
        for name in ("bandwidth_mhz", "se_max_bps_hz", "bler_slope_per_db"):
            _require(getattr(self, name) > 0, name, f"must be > 0 (got {getattr(self, name)})")
        _require(
            1 <= self.prb_per_message <= self.carrier_prb,
            "prb_per_message",
            f"must be in [1, {self.carrier_prb}], the PRBs of {self.bandwidth_mhz} MHz at {self.scs_khz} kHz "
            f"(got {self.prb_per_message})",
        )
        _require(0 <= self.dl_load <= 1, "dl_load", f"must be in [0, 1] (got {self.dl_load})")
        _require(0 < self.se_alpha <= 1, "se_alpha", f"must be in (0, 1] (got {self.se_alpha})")
        _require(0 <= self.overhead < 1, "overhead", f"must be in [0, 1) (got {self.overhead})")
        _require(
            0 < self.bler_target_first_tx < 1,
            "bler_target_first_tx",
            f"must be in (0, 1) (got {self.bler_target_first_tx})",
        )
        _require(
            self.sinr_max_db > self.sinr_min_db,
            "se_max_bps_hz",
            f"must exceed the efficiency at sinr_min_db = {self.sinr_min_db} dB (got {self.se_max_bps_hz})",
        )
        lo_s, hi_s = self.transport_s
        _require(
            0 <= lo_s <= hi_s,
            "transport_s",
            f"must be (low, high) with 0 <= low <= high (got {self.transport_s})",
        )

    @property
    def slot_s(self) -> float:
        """Slot duration, 1 ms / 2^mu (TS 38.211 §4.3)."""
        return 1e-3 * 15 / self.scs_khz

    @property
    def period_s(self) -> float:
        """TDD pattern period."""
        return len(self.tdd_pattern) * self.slot_s

    @property
    def carrier_prb(self) -> int:
        """PRBs that fit in the bandwidth (an upper bound on TS 38.101-1 Table 5.3.2-1: 277 vs 273)."""
        return int(self.bandwidth_mhz * 1e3 // (12 * self.scs_khz))

    @property
    def sinr_max_db(self) -> float:
        """SINR at which the attenuated Shannon curve reaches ``se_max_bps_hz`` (the top MCS)."""
        return 10 * math.log10(2 ** (self.se_max_bps_hz / self.se_alpha) - 1)

    @property
    def ul_noise_dbm(self) -> float:
        """Thermal noise at the gNB over one message's uplink allocation."""
        return float(thermal_noise_dbm(self.prb_per_message * 12 * self.scs_khz * 1e3, self.bs_nf_db))

    @property
    def dl_noise_dbm(self) -> float:
        """Thermal noise at the UE over the carrier (``bs_tx_dbm`` spreads over the same carrier)."""
        return float(thermal_noise_dbm(self.bandwidth_mhz * 1e6, self.ue_nf_db))


def thermal_noise_dbm(bandwidth_hz: ArrayLike, nf_db: ArrayLike) -> np.ndarray:
    """Noise power -174 dBm/Hz + 10 log10(B) + NF (SIXG-MODEL.md §2.6).

    >>> float(thermal_noise_dbm(100e6, 5.0))
    -89.0
    """
    return _KT_DBM_PER_HZ + 10 * np.log10(np.asarray(bandwidth_hz, float)) + np.asarray(nf_db, float)


def sinr_db(
    rx_dbm: ArrayLike, noise_dbm: ArrayLike, iot_db: ArrayLike = 0.0, *, others_load: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Serving site (strongest) and SINR = S / (N * IoT + others_load * sum of the other sites).

    Parameters
    ----------
    rx_dbm : (..., K) received power from (downlink) or at (uplink) each of K candidate sites, dBm.
    noise_dbm : thermal noise, dBm, broadcast against ``(...)``.
    iot_db : interference-over-thermal margin for interference not listed in ``rx_dbm`` (§5.2).
    others_load : activity of the other sites. 1 in the downlink (full-buffer neighbours); 0 in the
        uplink, where the other columns are the UE's own signal at other sites and ``iot_db`` stands
        for the other UEs.

    Returns
    -------
    serving : (...) int64 column of the strongest site (first one on ties).
    sinr : (...) SINR, dB.

    >>> serving, sinr = sinr_db([[-80.0, -90.0, -90.0]], -100.0)
    >>> serving.tolist(), np.round(sinr, 3).tolist()
    ([0], [6.778])
    >>> np.round(sinr_db([[-80.0, -90.0]], -100.0, 3.0, others_load=0.0)[1], 3).tolist()
    [17.0]
    """
    rx = np.asarray(rx_dbm, float)
    if rx.ndim < 1 or rx.shape[-1] == 0:
        raise ValueError(f"rx_dbm: needs a last axis of >= 1 candidate sites (shape {rx.shape})")
    lead = rx.shape[:-1]
    n_dbm = np.broadcast_to(np.asarray(noise_dbm, float) + np.asarray(iot_db, float), lead)
    serving, sinr = _sinr_rows(rx.reshape(-1, rx.shape[-1]), n_dbm.ravel(), float(others_load))
    return serving.reshape(lead), sinr.reshape(lead)


@numba.njit(cache=True, nogil=True)
def _sinr_rows(rx_dbm: np.ndarray, n_dbm: np.ndarray, others_load: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sinr_db` of rows ``rx_dbm`` (m, K) with noise plus IoT ``n_dbm`` (m,): serving column, SINR."""
    m, k = rx_dbm.shape
    serving, sinr = np.empty(m, np.int64), np.empty(m)
    last_dbm, n_mw = np.nan, np.nan  # the noise of the row before: mostly the same, converted once
    for i in range(m):
        if n_dbm[i] != last_dbm:
            last_dbm, n_mw = n_dbm[i], 10.0 ** (n_dbm[i] / 10.0)
        best = 0
        for j in range(1, k):
            if rx_dbm[i, j] > rx_dbm[i, best]:
                best = j
        others_mw = 0.0
        for j in range(k):
            if j != best:
                others_mw += 10.0 ** (rx_dbm[i, j] / 10.0)
        s_mw = 10.0 ** (rx_dbm[i, best] / 10.0)
        serving[i] = best
        sinr[i] = 10.0 * math.log10(s_mw / (n_mw + others_load * others_mw))
    return serving, sinr


def spectral_efficiency(
    sinr_db: ArrayLike, *, alpha: float = 0.6, sinr_min_db: float = -10.0, se_max_bps_hz: float = 4.4
) -> np.ndarray:
    """Attenuated Shannon (TR 36.942 A.1): 0 below ``sinr_min_db``, else min(alpha log2(1 + SINR), SE_max).

    >>> spectral_efficiency([-11.0, 0.0, 40.0]).tolist()
    [0.0, 0.6, 4.4]
    """
    return _se_ufunc(np.asarray(sinr_db, float), alpha, sinr_min_db, se_max_bps_hz)


def _se_one(sinr_db: float, alpha: float, sinr_min_db: float, se_max_bps_hz: float) -> float:
    """:func:`spectral_efficiency` of one SINR."""
    if sinr_db < sinr_min_db:
        return 0.0
    return min(alpha * math.log2(1.0 + 10.0 ** (sinr_db / 10.0)), se_max_bps_hz)


def bler(sinr_db: ArrayLike, sinr50_db: ArrayLike, slope_per_db: float) -> np.ndarray:
    """Logistic BLER 1 / (1 + exp(s (SINR - SINR50))) of one transmission (§5.2).

    >>> np.round(bler([0.0, 3.0, np.inf], 0.0, 1.5), 4).tolist()
    [0.5, 0.011, 0.0]
    """
    return _bler_ufunc(np.asarray(sinr_db, float), np.asarray(sinr50_db, float), float(slope_per_db))


def _bler_one(sinr_db: float, sinr50_db: float, slope_per_db: float) -> float:
    """:func:`bler` of one transmission (exp -> inf gives BLER 0, as it should)."""
    return 1.0 / (1.0 + math.exp(slope_per_db * (sinr_db - sinr50_db)))


_se_ufunc = numba.vectorize(cache=True)(_se_one)
_bler_ufunc = numba.vectorize(cache=True)(_bler_one)
_se_one, _bler_one = numba.njit(cache=True)(_se_one), numba.njit(cache=True)(_bler_one)


def link_adaptation(sinr_est_db: ArrayLike, params: LinkParams) -> tuple[np.ndarray, np.ndarray]:
    """Spectral efficiency and SINR50 of the MCS chosen for an estimated SINR.

    The MCS puts the first-transmission BLER at ``bler_target_first_tx`` for the estimate,
    SINR50 = SINR_est - ln((1 - target) / target) / s (§5.2), within the MCS table: estimates are
    clipped to [sinr_min_db, sinr_max_db], the lowest and the highest MCS.

    >>> se, s50 = link_adaptation([-20.0, 0.0], LinkParams())
    >>> np.round(se, 4).tolist(), np.round(s50, 4).tolist()
    ([0.0825, 0.6], [-11.4648, -1.4648])
    """
    est = np.asarray(sinr_est_db, float)
    se, sinr50 = _adapt(est.ravel(), _Mcs.of(params))
    return se.reshape(est.shape), sinr50.reshape(est.shape)


class _Mcs(NamedTuple):
    """The link-adaptation constants of :class:`LinkParams`, as the numba kernels take them."""

    alpha: float
    sinr_min_db: float
    sinr_max_db: float
    se_max_bps_hz: float
    backoff_db: float  # SINR_est - SINR50 of the chosen MCS, ln((1 - target) / target) / s

    @classmethod
    def of(cls, p: LinkParams) -> _Mcs:
        target = p.bler_target_first_tx
        backoff_db = math.log((1 - target) / target) / p.bler_slope_per_db
        return cls(p.se_alpha, p.sinr_min_db, p.sinr_max_db, p.se_max_bps_hz, backoff_db)


@numba.njit(cache=True, nogil=True)
def _adapt_one(sinr_est_db: float, mcs: _Mcs) -> tuple[float, float]:
    """:func:`link_adaptation` of one estimate: (spectral efficiency, SINR50)."""
    sinr_mcs = min(max(sinr_est_db, mcs.sinr_min_db), mcs.sinr_max_db)
    se = _se_one(sinr_mcs, mcs.alpha, mcs.sinr_min_db, mcs.se_max_bps_hz)
    return se, sinr_mcs - mcs.backoff_db


@numba.njit(cache=True, nogil=True)
def _adapt(sinr_est_db: np.ndarray, mcs: _Mcs) -> tuple[np.ndarray, np.ndarray]:
    """:func:`link_adaptation` of flat estimates."""
    se, sinr50 = np.empty(sinr_est_db.size), np.empty(sinr_est_db.size)
    for i in range(sinr_est_db.size):
        se[i], sinr50[i] = _adapt_one(sinr_est_db[i], mcs)
    return se, sinr50


def harq_residuals(sinr_db: ArrayLike, sinr50_db: ArrayLike, slope_per_db: float, max_tx: int) -> np.ndarray:
    """P(not decoded after k transmissions), k = 1..max_tx, on a leading axis: shape (max_tx, ...).

    Chase combining adds the SINR linearly: the k-th try sees SINR + 10 log10(k), and the residual is
    the product of the per-try BLERs (§5.2).

    >>> np.round(harq_residuals(0.0, -np.log(9) / 1.5, 1.5, 2), 7).tolist()
    [0.1, 0.0001214]
    """
    sinr, sinr50 = np.broadcast_arrays(np.asarray(sinr_db, float), np.asarray(sinr50_db, float))
    residual = np.empty((max_tx, sinr.size))
    _residuals(sinr.ravel(), sinr50.ravel(), float(slope_per_db), residual)
    return residual.reshape((max_tx, *sinr.shape))


@numba.njit(cache=True, nogil=True)
def _combining_db(max_tx: int) -> np.ndarray:
    """The chase-combining gain ``10 log10(k)`` of the k-th transmission, k = 1..max_tx."""
    gain_db = np.empty(max_tx)
    for k in range(max_tx):
        gain_db[k] = 10.0 * math.log10(k + 1)
    return gain_db


@numba.njit(cache=True, nogil=True)
def _residuals_one(
    sinr_db: float,
    sinr50_db: float,
    slope_per_db: float,
    combining_db: np.ndarray,
    out: np.ndarray,
    stop: float,
) -> int:
    """:func:`harq_residuals` of one message into ``out`` (max_tx,), with :func:`_combining_db`'s gains, up to
    the first at or below ``stop`` (they only fall: each try's BLER is at most 1); how many it wrote."""
    left = 1.0
    for k in range(out.size):
        left *= _bler_one(sinr_db + combining_db[k], sinr50_db, slope_per_db)
        out[k] = left
        if left <= stop:
            return k + 1
    return out.size


@numba.njit(cache=True, nogil=True)
def _residuals(sinr_db: np.ndarray, sinr50_db: np.ndarray, slope_per_db: float, out: np.ndarray) -> None:
    """:func:`harq_residuals` of flat messages into ``out`` (max_tx, n)."""
    one, combining_db = np.empty(out.shape[0]), _combining_db(out.shape[0])
    for i in range(sinr_db.size):
        _residuals_one(sinr_db[i], sinr50_db[i], slope_per_db, combining_db, one, -1.0)
        out[:, i] = one


class _Frame:
    """The slots of one direction in the periodic TDD pattern, by rank: the n-th such slot from t = 0."""

    def __init__(self, pattern: str, kind: str, slot_s: float) -> None:
        n = len(pattern)
        self.slot_s, self.period_s, self.n_slots = slot_s, n * slot_s, n
        self.position = np.array([j for j, c in enumerate(pattern) if c == kind], np.int64)
        self.per_period = len(self.position)
        rank_of = {int(j): r for r, j in enumerate(self.position)}
        first_after = []  # rank of the first such slot that starts after the start of slot j
        for j in range(n):
            u = next(u for u in range(j + 1, j + 1 + n) if pattern[u % n] == kind)
            first_after.append((u // n) * self.per_period + rank_of[u % n])
        self.first_after = np.array(first_after, np.int64)


@numba.njit(cache=True, nogil=True)
def _message_draws(
    rng: np.random.Generator,
    sinr_db: np.ndarray,
    period_s: float,
    csi_error_std_db: float,
    transport_s: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A batch's draws, in stream order, each drawn whole in turn (numba's draws are numpy's, at half the
    cost): each message's frame phase (when it reaches the modem), SINR estimate (with the CSI error), HARQ
    uniform and transport delay."""
    n = sinr_db.size
    phase_s, sinr_est_db, u_harq, delay_s = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    for i in range(n):
        phase_s[i] = rng.random() * period_s
    for i in range(n):
        sinr_est_db[i] = sinr_db[i] + csi_error_std_db * rng.standard_normal()
    for i in range(n):
        u_harq[i] = rng.random()
    lo_s, hi_s = transport_s
    for i in range(n):
        delay_s[i] = lo_s + (hi_s - lo_s) * rng.random()
    return phase_s, sinr_est_db, u_harq, delay_s


@numba.njit(cache=True, nogil=True)
def _deliver(
    sinr_db: np.ndarray,
    rng: np.random.Generator,
    period_s: float,
    csi_error_std_db: float,
    transport_s: tuple[float, float],
    up: np.ndarray,
    mcs: _Mcs,
    slope_per_db: float,
    max_tx: int,
    payload_bits: int,
    kept: float,
    prb: int,
    first_after: np.ndarray,
    position: np.ndarray,
    slot_s: float,
    grant_ranks: int,
    rtt_ranks: int,
    tail_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Each message's outcome: (delivered, latency_s, NaN if lost) (§5.2, §5.3), with :func:`_message_draws`.

    ``kept`` is the share of REs left after overhead, ``prb`` the PRBs of a message. The MCS of the
    estimated SINR; HARQ tries until decoded, ``P(n_tx > k)`` = the residual after ``k``
    (``u_harq`` uniform); a transport block over ``ceil(payload / bits per slot)`` slots, each try on the
    next slots of the direction after the first one after the message's ``phase_s`` (+ ``grant_ranks``)
    and ``rtt_ranks`` after the previous try; then ``tail_s`` (the last slot and the decode) and transport.
    """
    phase_s, sinr_est_db, u_harq, delay_s = _message_draws(
        rng, sinr_db, period_s, csi_error_std_db, transport_s
    )
    n, n_slots, per_period = sinr_db.size, first_after.size, position.size
    delivered, latency_s = np.empty(n, np.bool_), np.empty(n)
    residual, combining_db = np.empty(max_tx), _combining_db(max_tx)
    for i in range(n):
        se, sinr50 = _adapt_one(sinr_est_db[i], mcs)
        # the try that decodes is the first whose residual is at or below the draw: none after it is needed
        n_tx = _residuals_one(sinr_db[i], sinr50, slope_per_db, combining_db, residual, u_harq[i])
        delivered[i] = up[i] and u_harq[i] >= residual[n_tx - 1]
        if not delivered[i]:
            latency_s[i] = np.nan
            continue
        tb_slots = math.ceil(payload_bits / (se * _RE_PER_PRB_SLOT * kept * prb))  # a TB over several slots
        slot = min(int(phase_s[i] // slot_s), n_slots - 1)
        last = first_after[slot] + grant_ranks + (n_tx - 1) * (tb_slots - 1 + rtt_ranks) + tb_slots - 1
        period, rank = divmod(last, per_period)
        start_s = period * period_s + position[rank] * slot_s
        latency_s[i] = start_s + tail_s - phase_s[i] + delay_s[i]
    return delivered, latency_s


@numba.njit(cache=True, nogil=True)
def _monitor(
    t_s: float,
    ids: np.ndarray,
    sinr_db: np.ndarray,
    rlf_sinr_db: float,
    t310_s: float,
    reestablish_s: float,
    worst_db: np.ndarray,
    below_since_s: np.ndarray,
    outage_until_s: np.ndarray,
) -> np.ndarray:
    """:meth:`Link._monitor` on the state arrays (by vehicle id): whether each message's link is up.

    A vehicle twice in a batch counts its worst sample; the update is idempotent, so its repeats leave the
    state as its first message moved it.
    """
    for v in ids:
        worst_db[v] = np.inf
    for i in range(ids.size):
        worst_db[ids[i]] = min(worst_db[ids[i]], sinr_db[i])
    up = np.empty(ids.size, np.bool_)
    for i in range(ids.size):
        v = ids[i]
        until = outage_until_s[v]
        if worst_db[v] < rlf_sinr_db:
            since = min(below_since_s[v], t_s) if below_since_s[v] == below_since_s[v] else t_s
            if until > t_s or t_s - since >= t310_s:
                until = np.inf
            below_since_s[v] = since
        else:
            if until == np.inf:
                until = t_s + reestablish_s
            below_since_s[v] = np.nan
        outage_until_s[v] = until
        up[i] = t_s >= until
    return up


@numba.njit(cache=True, nogil=True)
def _batch_ok(ids: np.ndarray, sinr_db: np.ndarray) -> tuple[bool, bool]:
    """Whether every id is in ``[0, 2**31)`` and whether no SINR is NaN, one pass."""
    ids_ok, sinr_ok = True, True
    for i in range(ids.size):
        ids_ok &= 0 <= ids[i] <= _MAX_VEHICLE_ID
        sinr_ok &= sinr_db[i] == sinr_db[i]
    return ids_ok, sinr_ok


class Link:
    """Delivers batches of messages over the radio link and keeps each vehicle's radio-link-failure state.

    A vehicle whose SINR is below ``rlf_sinr_db`` at every sample for ``t310_s`` enters radio-link
    failure; once a sample is back above, it re-establishes for ``reestablish_s``. Until then its
    messages are lost. Both directions feed and obey the same state; calls must come in time order.

    >>> link = Link()
    >>> ok, latency_s = link.uplink(0.0, np.array([3, 4]), np.array([10.0, -30.0]), np.random.default_rng(1))
    >>> ok.tolist(), bool(0.005 < latency_s[0] < 0.05), bool(np.isnan(latency_s[1]))
    ([True, False], True, True)
    """

    def __init__(self, params: LinkParams | None = None) -> None:
        self.params = params if params is not None else LinkParams()
        p = self.params
        self._mcs = _Mcs.of(p)
        self._ul = _Frame(p.tdd_pattern, "U", p.slot_s)
        self._dl = _Frame(p.tdd_pattern, "D", p.slot_s)
        self._below_since_s = np.empty(0)  # by vehicle id; NaN = last sample was not below the threshold
        self._outage_until_s = np.empty(0)  # by vehicle id; -inf up, +inf in RLF, finite = re-establishing
        self._worst_db = np.empty(0)  # scratch: the worst SINR of each vehicle in the batch
        self._t_last_s = -math.inf

    def uplink_sinr_db(self, coupling_loss_db: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Serving site and uplink SINR from the (n, K) coupling losses to K sites (gains included), dB."""
        p = self.params
        rx_dbm = p.ue_tx_dbm - np.asarray(coupling_loss_db, float)
        return sinr_db(rx_dbm, p.ul_noise_dbm, p.iot_db, others_load=0.0)

    def downlink_sinr_db(self, coupling_loss_db: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Serving site and downlink SINR from the (n, K) coupling losses, the other sites interfering."""
        p = self.params
        rx_dbm = p.bs_tx_dbm - np.asarray(coupling_loss_db, float)
        return sinr_db(rx_dbm, p.dl_noise_dbm, others_load=p.dl_load)

    def uplink(
        self, t_s: float, vehicle_ids: ArrayLike, sinr_db: ArrayLike, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Reports of ``report_bytes`` sent at ``t_s``: (delivered (n,) bool, latency_s (n,), NaN if lost).

        Latency = wait for the next UL slot (+ SR -> grant with a dynamic grant) + slots on air
        + decode + HARQ round trips + transport (§5.3).
        """
        p = self.params
        sr_grant = p.sr_grant_periods * self._ul.per_period if p.grant == "dynamic" else 0
        return self._send(self._ul, t_s, vehicle_ids, sinr_db, rng, p.report_bytes, sr_grant)

    def downlink(
        self, t_s: float, vehicle_ids: ArrayLike, sinr_db: ArrayLike, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Advisories of ``advisory_bytes`` sent at ``t_s``, as :meth:`uplink` on the DL slots, no grant."""
        return self._send(self._dl, t_s, vehicle_ids, sinr_db, rng, self.params.advisory_bytes, 0)

    def in_outage(self, t_s: float, vehicle_ids: ArrayLike) -> np.ndarray:
        """Whether each vehicle's link is down (RLF or re-establishing) at ``t_s``, as of the last sample."""
        ids = np.asarray(vehicle_ids, np.int64)
        known = (ids >= 0) & (ids < len(self._outage_until_s))
        until = np.full(ids.shape, -np.inf)
        until[known] = self._outage_until_s[ids[known]]
        return t_s < until

    def _send(
        self,
        frame: _Frame,
        t_s: float,
        vehicle_ids: ArrayLike,
        sinr_db: ArrayLike,
        rng: np.random.Generator,
        payload_bytes: int,
        grant_ranks: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        ids, sinr = self._checked_batch(t_s, vehicle_ids, sinr_db)
        up = self._monitor(t_s, ids, sinr)
        return _deliver(
            sinr, rng, frame.period_s, p.csi_error_std_db, p.transport_s, up, self._mcs, p.bler_slope_per_db,
            p.harq_max_tx,
            8 * payload_bytes, 1 - p.overhead, p.prb_per_message,
            frame.first_after, frame.position, frame.slot_s, grant_ranks,
            p.harq_rtt_periods * frame.per_period, (1 + p.decode_slots) * frame.slot_s,
        )  # fmt: skip

    def _checked_batch(
        self, t_s: float, vehicle_ids: ArrayLike, sinr_db: ArrayLike
    ) -> tuple[np.ndarray, np.ndarray]:
        if not math.isfinite(t_s) or t_s < self._t_last_s:
            raise ValueError(
                f"t_s: must be finite and not before the previous call ({t_s} < {self._t_last_s})"
            )
        ids = np.asarray(vehicle_ids)
        sinr = np.asarray(sinr_db, float)
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
            raise ValueError(
                f"vehicle_ids: must be a 1-D integer array (dtype {ids.dtype}, shape {ids.shape})"
            )
        if sinr.shape != ids.shape:
            raise ValueError(f"sinr_db: shape {sinr.shape} differs from vehicle_ids {ids.shape}")
        ids = ids.astype(np.int64, copy=False)
        ids_ok, sinr_ok = _batch_ok(ids, sinr)
        if not ids_ok:
            raise ValueError(f"vehicle_ids: must be in [0, 2**31) (got {ids.min()}..{ids.max()})")
        if not sinr_ok:
            raise ValueError("sinr_db: NaN (use -inf for no signal)")
        self._t_last_s = t_s
        return ids, sinr

    def _monitor(self, t_s: float, ids: np.ndarray, sinr: np.ndarray) -> np.ndarray:
        """Update the RLF state with this batch's SINR samples; whether each message's link is up."""
        p = self.params
        if ids.size and ids.max() >= len(self._outage_until_s):
            self._grow(int(ids.max()) + 1)
        return _monitor(
            t_s, ids, sinr, p.rlf_sinr_db, p.t310_s, p.reestablish_s,
            self._worst_db, self._below_since_s, self._outage_until_s,
        )  # fmt: skip

    def _grow(self, needed: int) -> None:
        size = max(needed, 2 * len(self._outage_until_s), 64)
        for name, fill in (("_below_since_s", np.nan), ("_outage_until_s", -np.inf), ("_worst_db", np.inf)):
            old = getattr(self, name)
            new = np.full(size, fill)
            new[: len(old)] = old
            setattr(self, name, new)
