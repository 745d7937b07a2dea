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
    serving = np.argmax(rx, axis=-1)
    p_mw = 10 ** (rx / 10)
    is_serving = np.arange(rx.shape[-1]) == serving[..., None]
    s_mw = np.take_along_axis(p_mw, serving[..., None], axis=-1)[..., 0]
    others_mw = np.where(is_serving, 0.0, p_mw).sum(axis=-1)
    n_mw = 10 ** ((np.asarray(noise_dbm, float) + np.asarray(iot_db, float)) / 10)
    return serving, 10 * np.log10(s_mw / (n_mw + others_load * others_mw))


def spectral_efficiency(
    sinr_db: ArrayLike, *, alpha: float = 0.6, sinr_min_db: float = -10.0, se_max_bps_hz: float = 4.4
) -> np.ndarray:
    """Attenuated Shannon (TR 36.942 A.1): 0 below ``sinr_min_db``, else min(alpha log2(1 + SINR), SE_max).

    >>> spectral_efficiency([-11.0, 0.0, 40.0]).tolist()
    [0.0, 0.6, 4.4]
    """
    x = np.asarray(sinr_db, float)
    se = np.minimum(alpha * np.log2(1 + 10 ** (x / 10)), se_max_bps_hz)
    return np.where(x < sinr_min_db, 0.0, se)


def bler(sinr_db: ArrayLike, sinr50_db: ArrayLike, slope_per_db: float) -> np.ndarray:
    """Logistic BLER 1 / (1 + exp(s (SINR - SINR50))) of one transmission (§5.2).

    >>> np.round(bler([0.0, 3.0, np.inf], 0.0, 1.5), 4).tolist()
    [0.5, 0.011, 0.0]
    """
    x = np.asarray(sinr_db, float) - np.asarray(sinr50_db, float)
    with np.errstate(over="ignore"):  # exp -> inf gives BLER 0, as it should
        return 1 / (1 + np.exp(slope_per_db * x))


def link_adaptation(sinr_est_db: ArrayLike, params: LinkParams) -> tuple[np.ndarray, np.ndarray]:
    """Spectral efficiency and SINR50 of the MCS chosen for an estimated SINR.

    The MCS puts the first-transmission BLER at ``bler_target_first_tx`` for the estimate,
    SINR50 = SINR_est - ln((1 - target) / target) / s (§5.2), within the MCS table: estimates are
    clipped to [sinr_min_db, sinr_max_db], the lowest and the highest MCS.

    >>> se, s50 = link_adaptation([-20.0, 0.0], LinkParams())
    >>> np.round(se, 4).tolist(), np.round(s50, 4).tolist()
    ([0.0825, 0.6], [-11.4648, -1.4648])
    """
    p = params
    sinr_mcs = np.clip(np.asarray(sinr_est_db, float), p.sinr_min_db, p.sinr_max_db)
    se = spectral_efficiency(
        sinr_mcs, alpha=p.se_alpha, sinr_min_db=p.sinr_min_db, se_max_bps_hz=p.se_max_bps_hz
    )
    target = p.bler_target_first_tx
    return se, sinr_mcs - math.log((1 - target) / target) / p.bler_slope_per_db


def harq_residuals(sinr_db: ArrayLike, sinr50_db: ArrayLike, slope_per_db: float, max_tx: int) -> np.ndarray:
    """P(not decoded after k transmissions), k = 1..max_tx, on a leading axis: shape (max_tx, ...).

    Chase combining adds the SINR linearly: the k-th try sees SINR + 10 log10(k), and the residual is
    the product of the per-try BLERs (§5.2).

    >>> np.round(harq_residuals(0.0, -np.log(9) / 1.5, 1.5, 2), 7).tolist()
    [0.1, 0.0001214]
    """
    sinr, sinr50 = np.broadcast_arrays(np.asarray(sinr_db, float), np.asarray(sinr50_db, float))
    gain_db = 10 * np.log10(np.arange(1, max_tx + 1)).reshape((max_tx,) + (1,) * sinr.ndim)
    residual = bler(sinr + gain_db, sinr50, slope_per_db)
    for k in range(1, max_tx):  # np.cumprod along a leading axis is several times slower
        residual[k] *= residual[k - 1]
    return residual


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

    def start_s(self, rank: np.ndarray) -> np.ndarray:
        """Start time of the slot of each rank, from the frame start."""
        period, k = np.divmod(rank, self.per_period)
        return period * self.period_s + self.position[k] * self.slot_s


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
        n = len(ids)
        phase_s = rng.random(n) * frame.period_s  # the message reaches the modem at a random frame phase
        sinr_est = sinr + p.csi_error_std_db * rng.standard_normal(n)
        u_harq = rng.random(n)
        lo_s, hi_s = p.transport_s
        transport_s = lo_s + (hi_s - lo_s) * rng.random(n)

        se, sinr50 = link_adaptation(sinr_est, p)
        residual = harq_residuals(sinr, sinr50, p.bler_slope_per_db, p.harq_max_tx)
        n_tx = 1 + (u_harq < residual[:-1]).sum(axis=0)  # P(n_tx > k) = residual after k
        decoded = u_harq >= residual[-1]
        bits_per_slot = se * _RE_PER_PRB_SLOT * (1 - p.overhead) * p.prb_per_message
        n_slots = np.ceil(8 * payload_bytes / bits_per_slot).astype(np.int64)  # TB over several slots

        slot = np.minimum((phase_s // frame.slot_s).astype(np.int64), frame.n_slots - 1)
        first = frame.first_after[slot] + grant_ranks
        rtt = p.harq_rtt_periods * frame.per_period
        last = first + (n_tx - 1) * (n_slots - 1 + rtt) + n_slots - 1
        latency_s = frame.start_s(last) + (1 + p.decode_slots) * frame.slot_s - phase_s + transport_s
        delivered = up & decoded
        return delivered, np.where(delivered, latency_s, np.nan)

    def _checked_batch(
        self, t_s: float, vehicle_ids: ArrayLike, sinr_db: ArrayLike
    ) -> tuple[np.ndarray, np.ndarray]:
        if not math.isfinite(t_s) or t_s < self._t_last_s:
            raise ValueError(
                f"t_s: must be finite and not before the previous call ({t_s} < {self._t_last_s})"
            )
        ids = np.asarray(vehicle_ids)
        sinr = np.asarray(sinr_db, float)
        if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(
                f"vehicle_ids: must be a 1-D integer array (dtype {ids.dtype}, shape {ids.shape})"
            )
        if sinr.shape != ids.shape:
            raise ValueError(f"sinr_db: shape {sinr.shape} differs from vehicle_ids {ids.shape}")
        ids = ids.astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() > _MAX_VEHICLE_ID):
            raise ValueError(f"vehicle_ids: must be in [0, 2**31) (got {ids.min()}..{ids.max()})")
        if np.isnan(sinr).any():
            raise ValueError("sinr_db: NaN (use -inf for no signal)")
        self._t_last_s = t_s
        return ids, sinr

    def _monitor(self, t_s: float, ids: np.ndarray, sinr: np.ndarray) -> np.ndarray:
        """Update the RLF state with this batch's SINR samples; whether each message's link is up."""
        p = self.params
        if ids.size and ids.max() >= len(self._outage_until_s):
            self._grow(int(ids.max()) + 1)
        self._worst_db[ids] = np.inf
        np.minimum.at(self._worst_db, ids, sinr)  # a vehicle twice in a batch: its worst sample counts
        below = self._worst_db[ids] < p.rlf_sinr_db
        since = np.where(below, np.fmin(self._below_since_s[ids], t_s), np.nan)
        until = self._outage_until_s[ids]
        until = np.where(below & ((until > t_s) | (t_s - since >= p.t310_s)), np.inf, until)
        until = np.where(~below & np.isposinf(until), t_s + p.reestablish_s, until)
        self._below_since_s[ids] = since
        self._outage_until_s[ids] = until
        return t_s >= until

    def _grow(self, needed: int) -> None:
        size = max(needed, 2 * len(self._outage_until_s), 64)
        for name, fill in (("_below_since_s", np.nan), ("_outage_until_s", -np.inf), ("_worst_db", np.inf)):
            old = getattr(self, name)
            new = np.full(size, fill)
            new[: len(old)] = old
            setattr(self, name, new)
