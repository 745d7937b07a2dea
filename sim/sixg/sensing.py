"""Network (ISAC) sensing: what a monostatic TRP's scan reports about the drones around it.

Per (target, TRP) candidate pair and per scan (SIXG-MODEL.md §3): the 3GPP RCS draw (TR 38.901 §7.9.2.1),
the two-way coupling loss with the caller's one-way path loss counted twice and its shadow fading counted
twice (monostatic legs share LOS state and SF, §7.9.4.1), the integrated SNR after processing gain and
``L_impl`` (§3.4), a square-law detection (Swerling 0 on the drawn RCS, or Swerling 1 on the mean; §3.5),
the threshold effect (below ``snr_threshold_db``: a miss), Cramér-Rao noise inflated by κ on range, azimuth,
elevation and radial velocity (§3.6), the spherical-to-ENU transform of the measurement and its covariance
(§3.6's ``J Sigma J^T`` plus the variance of the range an angle error costs along the arc, which at FR3's
400 MHz is far above the range sigma: without it the detections' NEES was 10 instead of 3), and the delivery
time (scan time + CPI + processing + transport). Poisson false alarms (``P_fa,cell`` times
the resolution cells) land uniformly in each TRP's cells.

The TRP is an ``n_h`` x ``n_v`` vertical panel with TR 38.901 elements (8 dBi, 65° vertical beamwidth),
turned to face each target in azimuth (the "single 360° sector" that the TR 38.901 Table 7.9.6.1-1
calibration allows): elevation costs element gain twice (Tx and Rx) and angle accuracy through the
``cos(el)`` of the vertical phase progression, so a TRP is nearly blind overhead. Coverage is
``min_range_m`` to ``max_range_m`` and ``el_min_rad`` (-10°) to ``el_max_rad`` (60°, the scan limit of a
panel); false alarms in its cells below the horizon may lie under ground, as noise crossings in ground-clutter
cells would, for the tracker's altitude gate to reject.

In NLOS the CRBs are further multiplied by ``nlos_inflation`` (an assumption: the echo the TRP sees comes
by diffraction or reflection, so the direct-path bound is optimistic).

Calibration (SIXG-MODEL.md §3.7, NIST UMa-AV monostatic case: 6 GHz, 273 PRB at 30 kHz, 8x8, 64 pulses of
0.625 ms, BS at 25 m, small UAVs at 200 m within 250 m, all LOS; ``P_fa,cell`` set for a 5 % chance of a
false alarm per scan)::

    .venv/bin/python -c "from sim.sixg.sensing import calibrate_nist; print(calibrate_nist())"
    NistCalibration(pd=0.7923, p90_horizontal_m=6.03, p90_vertical_m=4.27, pfa_cell=4.71e-09, n_drops=20000)

with the defaults ``impl_loss_db = 45`` and ``crb_inflation = 1.0`` (targets: P_d 0.7-0.8, p90 errors about
6 m horizontal and 4 m vertical; over seeds 0-4 at 2000 drops P_d is 0.78-0.79, p90 5.9-6.1 m / 4.1-4.5 m).
About 16 % of the drops lie above the 60° elevation limit; the other misses sit near the detection threshold,
which is also where the errors come from, so P_d pins ``L_impl`` and the errors then ask for no inflation
(κ = 2.5 with ``L_impl`` = 45 dB gives p90 15.1 m / 10.7 m). ``L_impl`` is far above the 20 dB starting point
of §3.8 because it also stands for what this model leaves out: one wide Tx beam instead of a beam per target
(§3.4 (i), about 17 dB), residual clutter, multipath and the share of resources given to sensing.
Layer: sim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numba
import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from sim.errors import ScenarioError

__all__ = [
    "C_MPS",
    "RCS_CLASS",
    "Detections",
    "NistCalibration",
    "SensingParams",
    "albersheim_snr_db",
    "calibrate_nist",
    "coupling_loss_db",
    "crb_angle_rad",
    "crb_radial_velocity_mps",
    "crb_range_m",
    "element_gain_db",
    "pd_swerling0",
    "pd_swerling1",
    "scan",
    "spherical_to_enu",
]

C_MPS = 299_792_458.0
"""Speed of light."""

RCS_CLASS = {"small_uav": 0, "evtol": 1}
"""Target RCS classes: the row of ``SensingParams.rcs_dbsm`` / ``rcs_std_db`` a target's kind selects."""

_KTB_DBM_PER_HZ = -174.0
_DB = math.log(10.0) / 10.0
_SURE = 6.0  # sqrt(SNR) - sqrt(eta) above which a square-law detection fails with probability < 1e-16


def _lin(db: ArrayLike) -> np.ndarray:
    """dB to linear power ratio (``exp`` runs several times faster than ``10 **``)."""
    return np.exp(np.asarray(db, float) * _DB)


def albersheim_snr_db(pd: ArrayLike, pfa: ArrayLike, n: ArrayLike = 1) -> np.ndarray:
    """Single-pulse SNR (dB) that ``n`` non-coherently integrated steady pulses need for ``pd`` at ``pfa``.

    Albersheim's closed form (SIXG-MODEL.md §3.5), accurate to about 0.2 dB for 0.1 <= pd <= 0.9,
    1e-7 <= pfa <= 1e-3 and 1 <= n <= 8096.

    >>> round(float(albersheim_snr_db(0.9, 1e-6)), 4)
    13.1145
    >>> albersheim_snr_db([0.5, 0.9], 1e-6, n=[1, 10]).round(2)
    array([11.23,  4.99])
    """
    pd, pfa, n = (np.asarray(v, float) for v in (pd, pfa, n))
    a = np.log(0.62 / pfa)
    b = np.log(pd / (1.0 - pd))
    return -5.0 * np.log10(n) + (6.2 + 4.54 / np.sqrt(n + 0.44)) * np.log10(a + 0.12 * a * b + 1.7 * b)


def pd_swerling0(snr_db: ArrayLike, pfa: ArrayLike) -> np.ndarray:
    """Detection probability of a steady target on one square-law cell: ``Q1(sqrt(2 SNR), sqrt(2 eta))``.

    ``eta = -ln(pfa)`` (complex Gaussian noise of unit power); scipy's ``ncx2.sf`` runs only where the
    result is not 1 to double precision (SIXG-MODEL.md §3.5, check value D2).

    >>> round(float(pd_swerling0(13.1145, 1e-6)), 3)
    0.891
    >>> pd_swerling0([-np.inf, 40.0], 1e-6).round(9).tolist()
    [1e-06, 1.0]
    """
    snr_db, pfa = np.broadcast_arrays(np.asarray(snr_db, float), np.asarray(pfa, float))
    snr = _lin(snr_db)
    eta = -np.log(pfa)
    live = np.sqrt(snr) - np.sqrt(eta) < _SURE
    out = np.ones(snr.shape)
    out[live] = stats.ncx2.sf(2.0 * eta[live], 2.0, 2.0 * snr[live])
    return out


def pd_swerling1(snr_db: ArrayLike, pfa: ArrayLike) -> np.ndarray:
    """Detection probability of a Rayleigh (scan-to-scan) target on one square-law cell: ``pfa^(1/(1+SNR))``.

    >>> round(float(pd_swerling1(21.1, 1e-6)), 2)  # SIXG-MODEL.md D5
    0.9
    >>> pd_swerling1(-np.inf, 1e-6).tolist()
    1e-06
    """
    return np.asarray(pfa, float) ** (1.0 / (1.0 + _lin(snr_db)))


def crb_range_m(snr_int_db: ArrayLike, bandwidth_hz: ArrayLike) -> np.ndarray:
    """Range CRB ``sqrt(6) c / (4 pi B sqrt(SNR_int))`` of a flat spectrum of width B (SIXG-MODEL.md §3.6).

    >>> round(float(crb_range_m(30.0, 100e6)), 5)
    0.01848
    """
    return _crb_range_ufunc(np.asarray(snr_int_db, float), np.asarray(bandwidth_hz, float))


def crb_angle_rad(snr_int_db: ArrayLike, n_elements: ArrayLike, theta_rad: ArrayLike = 0.0) -> np.ndarray:
    """Angle CRB ``sqrt(6) / (pi cos(theta) sqrt(SNR_int (N^2 - 1)))`` of a lambda/2 ULA, theta off broadside.

    >>> round(float(np.degrees(crb_angle_rad(20.0, 8))), 3)
    0.563
    >>> round(float(crb_angle_rad(20.0, 8, np.pi / 3) / crb_angle_rad(20.0, 8)), 6)  # 60° off broadside
    2.0
    """
    args = (snr_int_db, n_elements, theta_rad)
    return _crb_angle_ufunc(*(np.asarray(v, float) for v in args))


def crb_radial_velocity_mps(snr_int_db: ArrayLike, wavelength_m: ArrayLike, cpi_s: ArrayLike) -> np.ndarray:
    """Radial-velocity CRB ``sqrt(6) lambda / (4 pi T_CPI sqrt(SNR_int))`` (SIXG-MODEL.md §3.6).

    >>> round(float(crb_radial_velocity_mps(20.0, C_MPS / 4e9, 0.04)), 4)
    0.0365
    """
    args = (snr_int_db, wavelength_m, cpi_s)
    return _crb_radial_velocity_ufunc(*(np.asarray(v, float) for v in args))


# The CRBs of one measurement (SIXG-MODEL.md §3.6), compiled with numba: the functions above apply them as
# ufuncs, :func:`scan`'s measurement kernel per detection.


def _crb_range_one(snr_int_db: float, bandwidth_hz: float) -> float:
    return math.sqrt(6.0) * C_MPS / (4.0 * math.pi * bandwidth_hz * math.sqrt(math.exp(snr_int_db * _DB)))


def _crb_angle_one(snr_int_db: float, n_elements: float, theta_rad: float) -> float:
    snr = math.exp(snr_int_db * _DB)
    return math.sqrt(6.0) / (math.pi * math.cos(theta_rad) * math.sqrt(snr * (n_elements * n_elements - 1.0)))


def _crb_radial_velocity_one(snr_int_db: float, wavelength_m: float, cpi_s: float) -> float:
    return math.sqrt(6.0) * wavelength_m / (4.0 * math.pi * cpi_s * math.sqrt(math.exp(snr_int_db * _DB)))


_crb_range_ufunc = numba.vectorize(cache=True)(_crb_range_one)
_crb_angle_ufunc = numba.vectorize(cache=True)(_crb_angle_one)
_crb_radial_velocity_ufunc = numba.vectorize(cache=True)(_crb_radial_velocity_one)
_crb_range_one, _crb_angle_one, _crb_radial_velocity_one = (
    numba.njit(cache=True)(f) for f in (_crb_range_one, _crb_angle_one, _crb_radial_velocity_one)
)


def coupling_loss_db(pl_db: ArrayLike, sf_db: ArrayLike, rcs_dbsm: ArrayLike, fc_hz: float) -> np.ndarray:
    """Monostatic coupling loss ``2 PL + 2 SF + 10 log(c^2 / (4 pi f^2)) - RCS`` (TR 38.901 Table 7.9.6.1-1).

    The two legs share the path loss and the shadow fading (one LOS draw, §7.9.4.1); with free-space PL this
    is the radar equation.

    >>> fspl = 20 * np.log10(4 * np.pi * 300.0 * 4e9 / C_MPS)
    >>> round(float(53 + 24 + 24 - coupling_loss_db(fspl, 0.0, -12.81, 4e9) - 3), 4)  # SIXG-MODEL.md S2
    -69.3759
    """
    args = (np.asarray(v, float) for v in (pl_db, sf_db, rcs_dbsm))
    return _coupling_ufunc(*args, _aperture_db(fc_hz))


def element_gain_db(el_rad: ArrayLike, g_max_dbi: float = 8.0) -> np.ndarray:
    """Gain of a TR 38.901 Table 7.3-1 element in its vertical cut: ``G_max - min(12 (el / 65°)^2, 30)``.

    >>> element_gain_db(np.radians([0.0, 65.0, 90.0])).round(2)
    array([  8.  ,  -4.  , -15.01])
    """
    return _element_gain_ufunc(np.asarray(el_rad, float), float(g_max_dbi))


def _aperture_db(fc_hz: float) -> float:
    """``10 log(c^2 / (4 pi f^2))``, the coupling loss's term of the carrier."""
    wl_m = C_MPS / fc_hz
    return float(10.0 * np.log10(wl_m * wl_m / (4.0 * np.pi)))


# The link budget of one pair, compiled with numba: the functions above apply it as ufuncs,
# SensingParams.snr_int_db in a loop.

_HPBW_V_RAD = float(np.radians(65.0))  # the element's vertical 3 dB beamwidth


def _coupling_one(pl_db: float, sf_db: float, rcs_dbsm: float, aperture_db: float) -> float:
    """:func:`coupling_loss_db` of one pair, given the carrier's :func:`_aperture_db`."""
    return 2.0 * pl_db + 2.0 * sf_db + aperture_db - rcs_dbsm


def _element_gain_one(el_rad: float, g_max_dbi: float) -> float:
    """:func:`element_gain_db` at one elevation."""
    ratio = el_rad / _HPBW_V_RAD
    return g_max_dbi - min(12.0 * ratio * ratio, 30.0)  # NaN stays NaN, as in np.minimum


_coupling_ufunc = numba.vectorize(cache=True)(_coupling_one)
_element_gain_ufunc = numba.vectorize(cache=True)(_element_gain_one)
_coupling_one, _element_gain_one = (
    numba.njit(cache=True)(_coupling_one),
    numba.njit(cache=True)(_element_gain_one),
)


@numba.njit(cache=True, nogil=True)
def _snr_int(
    pl_db: np.ndarray,
    sf_db: np.ndarray,
    rcs_dbsm: np.ndarray,
    el_rad: np.ndarray,
    budget_db: float,
    g_max_dbi: float,
    array_db: float,
    aperture_db: float,
) -> np.ndarray:
    """:meth:`SensingParams.snr_int_db` of flat pairs (a loop, not a ufunc: no dispatch cost at first use)."""
    out = np.empty(pl_db.size)
    for i in range(pl_db.size):
        gain_db = _element_gain_one(el_rad[i], g_max_dbi) + array_db
        out[i] = budget_db + 2.0 * gain_db - _coupling_one(pl_db[i], sf_db[i], rcs_dbsm[i], aperture_db)
    return out


def spherical_to_enu(
    r_m: ArrayLike,
    az_rad: ArrayLike,
    el_rad: ArrayLike,
    sigma_r_m: ArrayLike,
    sigma_az_rad: ArrayLike,
    sigma_el_rad: ArrayLike,
) -> tuple[np.ndarray, np.ndarray]:
    """ENU offsets ``(n, 3)`` of (range, azimuth from east, elevation) and their covariance ``(n, 3, 3)``.

    ``p = r [cos el cos az, cos el sin az, sin el]`` and ``Sigma = J diag(sigma^2) J^T`` with
    ``J = dp / d(r, az, el)`` (SIXG-MODEL.md §3.6); independent errors on the three spherical axes.

    >>> p, c = spherical_to_enu([100.0], [np.pi / 2], [0.0], [1.0], [0.01], [0.02])
    >>> p.round(6).tolist(), np.diag(c[0]).round(6).tolist()
    ([[0.0, 100.0, 0.0]], [1.0, 1.0, 4.0])
    """
    r, az, el, s_r, s_az, s_el = np.broadcast_arrays(
        *(
            np.atleast_1d(np.asarray(v, float))
            for v in (r_m, az_rad, el_rad, sigma_r_m, sigma_az_rad, sigma_el_rad)
        )
    )
    pos, cov = _spherical_to_enu(*(v.ravel() for v in (r, az, el, s_r, s_az, s_el)))
    return pos.reshape((*r.shape, 3)), cov.reshape((*r.shape, 3, 3))


@numba.njit(cache=True, nogil=True)
def _spherical_to_enu(
    r: np.ndarray, az: np.ndarray, el: np.ndarray, s_r: np.ndarray, s_az: np.ndarray, s_el: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`spherical_to_enu` of flat arrays, one pass."""
    pos, cov = np.empty((r.size, 3)), np.empty((r.size, 3, 3))
    for i in range(r.size):
        _spherical_to_enu_one(r[i], _trig(az[i], el[i]), s_r[i], s_az[i], s_el[i], pos[i], cov[i])
    return pos, cov


_Trig = tuple[float, float, float, float]


@numba.njit(cache=True, inline="always")
def _trig(az: float, el: float) -> _Trig:
    """``(cos az, sin az, cos el, sin el)`` of a measurement, worked out once for its ENU transform and its
    curvature term (libm's sine and cosine are most of a detection's cost)."""
    return math.cos(az), math.sin(az), math.cos(el), math.sin(el)


@numba.njit(cache=True, inline="always")
def _spherical_to_enu_one(
    r: float, trig: _Trig, s_r: float, s_az: float, s_el: float, pos: np.ndarray, c: np.ndarray
) -> None:
    """:func:`spherical_to_enu` of one measurement (its angles as :func:`_trig`) into ``pos`` (3,) and ``c``
    (3, 3)."""
    ca, sa, ce, se = trig
    # J = [r_hat s_r | a_hat r ce s_az | e_hat r s_el], a_hat = (-sa, ca, 0), e_hat = (-se ca, -se sa, ce)
    var_r, var_a, var_e = s_r * s_r, (r * ce * s_az) ** 2, (r * s_el) ** 2
    cc, ss, cs = ce * ce, se * se, ce * se
    horiz = var_r * cc + var_e * ss
    xy = ca * sa * (var_r * cc - var_a + var_e * ss)
    xz, yz = ca * cs * (var_r - var_e), sa * cs * (var_r - var_e)
    c[0, 0], c[0, 1], c[0, 2] = horiz * ca * ca + var_a * sa * sa, xy, xz
    c[1, 0], c[1, 1], c[1, 2] = xy, horiz * sa * sa + var_a * ca * ca, yz
    c[2, 0], c[2, 1], c[2, 2] = xz, yz, var_r * ss + var_e * cc
    pos[0], pos[1], pos[2] = ce * ca * r, ce * sa * r, se * r


@numba.njit(cache=True, inline="always")
def _add_curvature(r: float, trig: _Trig, s_az: float, s_el: float, c: np.ndarray) -> None:
    """Add to ``c`` (3, 3) the second-order term the linear ``J Sigma J^T`` leaves out: an angle error
    ``d`` also shortens the range along the arc by ``r (1 - cos d) ~ r d^2 / 2``, of variance ``r^2 s^4 / 2``
    (horizontally from azimuth, radially from elevation). It matters when ``r s_theta^2`` is not small
    against ``s_r`` (Lerro and Bar-Shalom 1993): at 400 MHz (FR3) range is known to centimetres while the
    cross-range sigma is metres, and without it the detections' NEES was 10.5 instead of 3. The angles come
    as :func:`_trig`."""
    ca, sa, ce, se = trig
    v_h, v_r = (r * ce) ** 2 * s_az**4 / 2.0, r * r * s_el**4 / 2.0
    h = (ca, sa, 0.0)
    u = (ce * ca, ce * sa, se)
    for i in range(3):
        for j in range(3):
            c[i, j] += v_h * h[i] * h[j] + v_r * u[i] * u[j]


@dataclass(frozen=True, slots=True)
class SensingParams:
    """Monostatic TRP sensing parameters, SI units (SIXG-MODEL.md §3.8 and §8 ``sensing:``).

    ``impl_loss_db`` and ``crb_inflation`` are calibrated against the NIST case (module docstring). The eVTOL
    RCS (+10 dBsm, 2.5 dB small-scale std of the TR 38.901 large UAV) is the §3.8 assumption.
    ``scan_period_s`` paces the caller's scan process; the §8 ``*_ms`` values are given here in seconds.
    """

    fc_hz: float = 4.0e9
    bandwidth_hz: float = 100e6
    scs_hz: float = 30e3
    comb: int = 2
    symbols_per_pri: int = 2
    tx_dbm_per_20mhz: float = 46.0
    tx_max_dbm: float = 56.0
    n_h: int = 8
    n_v: int = 8
    element_gain_dbi: float = 8.0
    nf_db: float = 5.0
    rcs_dbsm: tuple[float, ...] = (-12.81, 10.0)
    rcs_std_db: tuple[float, ...] = (3.74, 2.50)
    cpi_s: float = 0.040
    pri_s: float = 0.625e-3
    scan_period_s: float = 1.0
    pfa_cell: float = 1e-6
    impl_loss_db: float = 45.0
    crb_inflation: float = 1.0
    nlos_inflation: float = 2.0
    snr_threshold_db: float = 12.0
    processing_s: float = 0.030
    transport_s: tuple[float, float] = (0.002, 0.010)
    swerling: Literal[0, 1] = 0
    min_range_m: float = 10.0
    max_range_m: float = 1500.0
    el_min_rad: float = -math.pi / 18
    el_max_rad: float = math.pi / 3
    _rcs: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        positive = ("fc_hz", "bandwidth_hz", "scs_hz", "cpi_s", "pri_s", "scan_period_s", "crb_inflation")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ScenarioError(f"sensing.{name}", f"must be > 0 (got {getattr(self, name)})")
        if not 0.0 < self.pfa_cell < 1.0:
            raise ScenarioError("sensing.pfa_cell", f"must be in (0, 1) (got {self.pfa_cell})")
        if self.swerling not in (0, 1):
            raise ScenarioError("sensing.swerling", f"must be one of [0, 1] (got {self.swerling!r})")
        if len(self.rcs_dbsm) != len(self.rcs_std_db):
            raise ScenarioError("sensing.rcs_std_db", f"needs one value per RCS class ({len(self.rcs_dbsm)})")
        if self.cpi_s < self.pri_s or not 0 < self.min_range_m < self.max_range_m:
            raise ScenarioError("sensing", "needs cpi_s >= pri_s and 0 < min_range_m < max_range_m")
        if not -math.pi / 2 < self.el_min_rad < self.el_max_rad < math.pi / 2:
            raise ScenarioError("sensing.el_max_rad", "needs -pi/2 < el_min_rad < el_max_rad < pi/2")
        std = np.asarray(self.rcs_std_db, float)
        # log-normal sigma_S with E[sigma_S] = 1: mu_dB = -(ln 10 / 20) std^2 (TR 38.901 Eq. 7.9.2-1)
        rcs = np.stack([np.asarray(self.rcs_dbsm, float) - math.log(10.0) / 20.0 * std * std, std])
        object.__setattr__(self, "_rcs", rcs)

    @property
    def wavelength_m(self) -> float:
        return C_MPS / self.fc_hz

    @property
    def tx_dbm(self) -> float:
        """46 dBm per 20 MHz scaled with the bandwidth, capped (Rel-20 6G ISAC evaluation assumptions)."""
        return min(self.tx_dbm_per_20mhz + 10.0 * math.log10(self.bandwidth_hz / 20e6), self.tx_max_dbm)

    @property
    def n_pulses(self) -> int:
        return max(1, round(self.cpi_s / self.pri_s))

    @property
    def processing_gain_db(self) -> float:
        """``10 log N_RE``: subcarriers (``B / SCS / comb``) x symbols per pulse x pulses per CPI (§3.4)."""
        n_re = math.floor(self.bandwidth_hz / self.scs_hz) / self.comb * self.symbols_per_pri * self.n_pulses
        return 10.0 * math.log10(n_re)

    @property
    def noise_dbm(self) -> float:
        return _KTB_DBM_PER_HZ + 10.0 * math.log10(self.bandwidth_hz) + self.nf_db

    @property
    def range_resolution_m(self) -> float:
        return C_MPS / (2.0 * self.bandwidth_hz)

    @property
    def v_max_mps(self) -> float:
        """Unambiguous radial speed ``lambda / (4 T_PRI)``; faster targets alias (§3.6)."""
        return self.wavelength_m / (4.0 * self.pri_s)

    @property
    def n_cells(self) -> int:
        """Resolution cells of one TRP's coverage: range bins x Doppler bins x beams of 0.886 * 2 / N rad."""
        n_range = math.ceil((self.max_range_m - self.min_range_m) / self.range_resolution_m)
        n_az = math.ceil(2.0 * math.pi / (1.772 / self.n_h))
        n_el = math.ceil((self.el_max_rad - self.el_min_rad) / (1.772 / self.n_v))
        return n_range * self.n_pulses * n_az * n_el

    def snr_int_db(
        self, pl_db: ArrayLike, sf_db: ArrayLike, rcs_dbsm: ArrayLike, el_rad: ArrayLike
    ) -> np.ndarray:
        """Integrated SNR: ``P_t + G_t + G_r - L_coupling - N + 10 log N_RE - L_impl`` (SIXG-MODEL.md §3.4).

        ``G_t = G_r`` = element gain at ``el_rad`` + ``10 log(n_h n_v)`` (panel facing the target in azimuth).
        """
        array_db = 10.0 * math.log10(self.n_h * self.n_v)
        budget_db = self.tx_dbm - self.noise_dbm + self.processing_gain_db - self.impl_loss_db
        args = np.broadcast_arrays(*(np.asarray(v, float) for v in (pl_db, sf_db, rcs_dbsm, el_rad)))
        flat = (a.ravel() for a in args)
        snr_db = _snr_int(*flat, budget_db, self.element_gain_dbi, array_db, _aperture_db(self.fc_hz))
        return snr_db.reshape(args[0].shape)[()]


@dataclass(frozen=True, slots=True)
class Detections:
    """One scan's reports, one row each: target detections in pair order, then false alarms by TRP.

    ``target`` is -1 on a false alarm and ``los`` is the pair's LOS state: truth labels for metrics, which a
    tracker must not read. ``cov_m2`` is what the sensing function reports (CRB x κ at the measured angles).
    """

    t_s: float  # the scan's measurement epoch
    trp: np.ndarray  # (n,) int64, row into the TRP positions
    target: np.ndarray  # (n,) int64, row into the target arrays; -1 = false alarm
    pos_m: np.ndarray  # (n, 3) ENU
    cov_m2: np.ndarray  # (n, 3, 3)
    vr_mps: np.ndarray  # (n,) measured radial velocity, folded into +-v_max
    sigma_vr_mps: np.ndarray  # (n,)
    snr_db: np.ndarray  # (n,) integrated SNR; for a false alarm the apparent one
    los: np.ndarray  # (n,) bool
    t_delivery_s: np.ndarray  # (n,) arrival at the sensing function / USS

    @property
    def false_alarm(self) -> np.ndarray:
        return self.target < 0

    def __len__(self) -> int:
        return len(self.trp)


def scan(
    params: SensingParams,
    rng: np.random.Generator,
    *,
    t_s: float,
    target_pos_m: np.ndarray,
    target_vel_mps: np.ndarray,
    target_rcs_class: np.ndarray,
    trp_pos_m: np.ndarray,
    pair_target: np.ndarray,
    pair_trp: np.ndarray,
    pl_db: np.ndarray,
    los: np.ndarray,
    sf_db: np.ndarray,
) -> Detections:
    """Every TRP's detections of one scan at ``t_s``, plus its false alarms.

    Parameters
    ----------
    target_pos_m, target_vel_mps : (n_target, 3) ENU, m and m/s.
    target_rcs_class : (n_target,) int, values of :data:`RCS_CLASS`.
    trp_pos_m : (n_trp, 3) ENU antenna positions.
    pair_target, pair_trp : (n_pair,) int, the candidate pairs (rows into the arrays above).
    pl_db, los, sf_db : (n_pair,) one-way path loss, LOS state and shadow fading of each pair, drawn once by
        the caller and used for both legs.

    Returns
    -------
    Detections; a pair outside the TRP's coverage, below the SNR threshold or not detected gives no row.

    Examples
    --------
    >>> p = SensingParams(pfa_cell=1e-12)
    >>> one = np.array([0])
    >>> d = scan(p, np.random.default_rng(1), t_s=10.0, target_pos_m=np.array([[300.0, 0, 125]]),
    ...          target_vel_mps=np.zeros((1, 3)), target_rcs_class=one, trp_pos_m=np.array([[0.0, 0, 25]]),
    ...          pair_target=one, pair_trp=one, pl_db=np.array([80.0]), los=one == 0, sf_db=np.zeros(1))
    >>> d.target.tolist(), bool(np.abs(d.pos_m[0] - [300, 0, 125]).max() < 3), d.cov_m2.shape
    ([0], True, (1, 3, 3))
    >>> d.t_delivery_s[0] > 10.0 + p.cpi_s + p.processing_s
    np.True_
    """
    offset, horiz_m, r_m = _pair_offsets(target_pos_m, trp_pos_m, pair_target, pair_trp)
    el_rad = np.arctan2(offset[:, 2], horiz_m)  # numpy's arctan2, as everywhere the angles are taken
    covered = (
        (r_m >= params.min_range_m)
        & (r_m <= params.max_range_m)
        & (el_rad >= params.el_min_rad)
        & (el_rad <= params.el_max_rad)
    )
    kind = target_rcs_class.take(pair_target)
    if params.swerling == 0:
        rcs_dbsm = _rcs_draws(rng, params._rcs, kind)
    else:
        rcs_dbsm = np.asarray(params.rcs_dbsm, float).take(kind)
    snr_db = params.snr_int_db(pl_db, sf_db, rcs_dbsm, el_rad)
    live = np.flatnonzero(covered & (snr_db >= params.snr_threshold_db))
    if params.swerling == 0:
        # the square-law statistic |sqrt(SNR) + n|^2, n ~ CN(0, 1), exceeds eta with probability pd_swerling0;
        # it is drawn only where the outcome is in doubt
        eta = -math.log(params.pfa_cell)
        amp = np.sqrt(_lin(snr_db[live]))
        hit = amp - math.sqrt(eta) >= _SURE
        doubt = np.flatnonzero(~hit)
        noise = rng.standard_normal((2, len(doubt))) * math.sqrt(0.5)
        hit[doubt] = (amp[doubt] + noise[0]) ** 2 + noise[1] ** 2 > eta
    else:
        hit = rng.random(len(live)) < pd_swerling1(snr_db[live], params.pfa_cell)
    rows = live[hit]

    snr_db = snr_db[rows]
    true, off_xy = _true_measurements(rows, offset, r_m, el_rad, target_vel_mps, pair_target)
    np.arctan2(off_xy[1], off_xy[0], out=true[1])
    noise, transport_s, fa_trp, fa = _scan_draws(
        rng,
        len(rows),
        len(trp_pos_m),
        params.transport_s,
        params.pfa_cell * params.n_cells,
        _fa_bounds(params),
    )
    _false_alarms(params, fa)
    # the targets' rows, then the false alarms', through one kernel
    n_fa = len(fa_trp)
    trp = np.concatenate([pair_trp[rows].astype(np.int64, copy=False), fa_trp])
    kappa = np.where(los[rows], params.crb_inflation * 1.0, params.crb_inflation * params.nlos_inflation)
    pos_m, cov_m2, vr_mps, sigma_vr_mps = _measure(
        true, noise, snr_db, kappa, fa, params.crb_inflation * 1.0, trp, trp_pos_m.astype(float, copy=False),
        params.bandwidth_hz, params.n_h, params.n_v, params.wavelength_m, params.cpi_s, params.v_max_mps,
    )  # fmt: skip
    return Detections(
        t_s=t_s,
        trp=trp,
        target=np.concatenate([pair_target[rows].astype(np.int64, copy=False), np.full(n_fa, -1, np.int64)]),
        pos_m=pos_m,
        cov_m2=cov_m2,
        vr_mps=vr_mps,
        sigma_vr_mps=sigma_vr_mps,
        snr_db=np.concatenate([snr_db, fa[3]]),
        los=np.concatenate([los[rows].astype(bool, copy=False), np.zeros(n_fa, bool)]),
        t_delivery_s=t_s + params.cpi_s + params.processing_s + transport_s[trp],
    )


@numba.njit(cache=True, nogil=True)
def _rcs_draws(rng: np.random.Generator, rcs: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Swerling 0 RCS of each pair, dBsm: ``rcs`` (2, classes) mean + std x a standard normal of ``rng``, by
    the pair's ``kind`` (numba's draws are numpy's, at half the cost)."""
    out = np.empty(kind.size)
    for i in range(kind.size):
        out[i] = rcs[0, kind[i]] + rcs[1, kind[i]] * rng.standard_normal()
    return out


@numba.njit(cache=True, nogil=True)
def _pair_offsets(
    target_pos_m: np.ndarray, trp_pos_m: np.ndarray, pair_target: np.ndarray, pair_trp: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pair's target offset from its TRP (n, 3), its horizontal and its 3D range, one pass."""
    n = pair_target.size
    offset, horiz_m, r_m = np.empty((n, 3)), np.empty(n), np.empty(n)
    for i in range(n):
        for a in range(3):
            offset[i, a] = target_pos_m[pair_target[i], a] - trp_pos_m[pair_trp[i], a]
        dx, dy, dz = offset[i, 0], offset[i, 1], offset[i, 2]
        horiz_m[i] = math.sqrt(dx * dx + dy * dy)
        r_m[i] = math.sqrt(horiz_m[i] * horiz_m[i] + dz * dz)
    return offset, horiz_m, r_m


@numba.njit(cache=True, nogil=True)
def _true_measurements(
    rows: np.ndarray,
    offset: np.ndarray,
    r_m: np.ndarray,
    el_rad: np.ndarray,
    target_vel_mps: np.ndarray,
    pair_target: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The true range, (azimuth: left to the caller), elevation and radial velocity (4, n) of the detected
    pairs ``rows``, and their horizontal offsets (2, n) for the azimuth."""
    true, off_xy = np.empty((4, rows.size)), np.empty((2, rows.size))
    for m in range(rows.size):
        p, v = rows[m], target_vel_mps[pair_target[rows[m]]]
        x, y, z = offset[p, 0], offset[p, 1], offset[p, 2]
        true[0, m], true[2, m], true[3, m] = r_m[p], el_rad[p], (v[0] * x + v[1] * y + v[2] * z) / r_m[p]
        off_xy[0, m], off_xy[1, m] = x, y
    return true, off_xy


def _fa_bounds(params: SensingParams) -> tuple[tuple[float, float], ...]:
    """The bounds of a false alarm's uniform draws (:func:`_scan_draws`): range, azimuth, sine of the
    elevation (uniform over the sphere's band) and radial velocity; floats, one tuple type for the kernel."""
    return (
        (float(params.min_range_m), float(params.max_range_m)),
        (-np.pi, np.pi),
        (math.sin(params.el_min_rad), math.sin(params.el_max_rad)),
        (-params.v_max_mps, params.v_max_mps),
    )


@numba.njit(cache=True, nogil=True)
def _scan_draws(
    rng: np.random.Generator,
    n_det: int,
    n_trp: int,
    transport_s: tuple[float, float],
    fa_per_trp: float,
    fa_bounds: tuple[tuple[float, float], ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A scan's draws after its detections, in stream order (numba's draws are numpy's, at half the cost):
    the detections' measurement noise (4, n_det), each TRP's transport delay, and Poisson(``fa_per_trp``)
    false alarms per TRP (§3.5): their TRPs and ``(5, n_fa)`` range, azimuth, sine of the elevation, Exp(1)
    excess of the statistic and radial velocity, each row drawn whole in turn (:func:`_false_alarms` maps
    rows 2 and 3 to the elevation and the apparent SNR)."""
    noise = rng.standard_normal((4, n_det))
    transport = np.empty(n_trp)
    for t in range(n_trp):
        transport[t] = rng.uniform(transport_s[0], transport_s[1])
    counts = np.empty(n_trp, np.int64)
    for t in range(n_trp):
        counts[t] = rng.poisson(fa_per_trp)
    trp = np.repeat(np.arange(n_trp), counts)
    fa = np.empty((5, trp.size))
    for row in range(5):
        lo, hi = fa_bounds[row if row < 3 else row - 1]  # row 3, the Exp(1) excess, has none
        for m in range(trp.size):
            fa[row, m] = rng.exponential() if row == 3 else rng.uniform(lo, hi)
    return noise, transport, trp, fa


def _false_alarms(params: SensingParams, fa: np.ndarray) -> None:
    """Noise crossings uniform over a TRP's resolution cells (§3.5), from :func:`_scan_draws`' rows: the
    elevation from its sine, the apparent SNR (dB) from the Exp(1) excess, in place.

    A crossing's statistic is ``eta + Exp(1)`` (noise is memoryless above the threshold), so its apparent
    SNR is that minus the unit noise power; it is reported with the covariance that SNR implies.
    """
    fa[2] = np.arcsin(fa[2])
    fa[3] = 10.0 * np.log10(-math.log(params.pfa_cell) - 1.0 + fa[3])


@numba.njit(cache=True, nogil=True)
def _measure(
    true: np.ndarray,
    noise: np.ndarray,
    snr_db: np.ndarray,
    kappa: np.ndarray,
    fa: np.ndarray,
    kappa_fa: float,
    trp: np.ndarray,
    trp_pos_m: np.ndarray,
    bandwidth_hz: float,
    n_h: int,
    n_v: int,
    wavelength_m: float,
    cpi_s: float,
    v_max_mps: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What the sensing function reports of the ``n`` detections, then the false alarms (§3.6): ENU positions
    ``(n + n_fa, 3)``, covariances, radial velocities (folded into ``[-v_max, v_max)``) and their sigmas.

    A detection's measurement (integrated SNR ``snr_db``) is its ``true`` (4, n) range, azimuth, elevation
    and radial velocity plus ``sigma * noise``; a false alarm's (``fa`` (5, n_fa), :func:`_false_alarms`) is
    given. Sigmas are the CRBs x ``kappa``; the vertical panel faces the target in azimuth: the vertical
    phase progression is ``pi sin(el)`` (theta = el off broadside), the horizontal one
    ``pi cos(el) sin(d_az)``, hence the ``1 / cos(el)`` at the true elevation.
    """
    n, n_fa = true.shape[1], fa.shape[1]
    pos, cov = np.empty((n + n_fa, 3)), np.empty((n + n_fa, 3, 3))
    vr, sigma_vr = np.empty(n + n_fa), np.empty(n + n_fa)
    meas = np.empty(4)
    for i in range(n + n_fa):
        det = i < n
        snr, el, k = (snr_db[i], true[2, i], kappa[i]) if det else (fa[3, i - n], fa[2, i - n], kappa_fa)
        sigma = (
            k * _crb_range_one(snr, bandwidth_hz),
            k * (_crb_angle_one(snr, n_h, 0.0) / math.cos(el)),
            k * _crb_angle_one(snr, n_v, el),
            k * _crb_radial_velocity_one(snr, wavelength_m, cpi_s),
        )
        for f in range(4):
            meas[f] = true[f, i] + sigma[f] * noise[f, i] if det else fa[f if f < 3 else 4, i - n]
        trig = _trig(meas[1], meas[2])
        _spherical_to_enu_one(meas[0], trig, sigma[0], sigma[1], sigma[2], pos[i], cov[i])
        _add_curvature(meas[0], trig, sigma[1], sigma[2], cov[i])
        for a in range(3):
            pos[i, a] += trp_pos_m[trp[i], a]
        vr[i] = (meas[3] + v_max_mps) % (2.0 * v_max_mps) - v_max_mps if det else meas[3]
        sigma_vr[i] = sigma[3]
    return pos, cov, vr, sigma_vr


@dataclass(frozen=True, slots=True)
class NistCalibration:
    """Outcome of :func:`calibrate_nist`: detection rate and 90th-percentile errors of the detections."""

    pd: float
    p90_horizontal_m: float
    p90_vertical_m: float
    pfa_cell: float
    n_drops: int


def calibrate_nist(
    params: SensingParams | None = None, *, n_drops: int = 20_000, seed: int = 0, pfa_scan: float = 0.05
) -> NistCalibration:
    """Run the NIST UMa-AV monostatic reference case (SIXG-MODEL.md §3.7) with ``params``' losses and κ.

    One BS at 25 m; small UAVs at 200 m, uniform over the disc d_2D <= 250 m, 0-50 m/s horizontally; 6 GHz,
    273 PRB at 30 kHz, 8x8, 64 pulses of 0.625 ms; ``P_fa,cell`` such that a scan holds a false alarm with
    probability ``pfa_scan``. UMa-AV above 100 m is always LOS, with TR 36.777 Table B-2/B-3
    ``PL = 28 + 22 log d_3D + 20 log f_c`` and ``sigma_SF = 4.64 exp(-0.0066 h)``.
    """
    base = replace(
        params or SensingParams(),
        fc_hz=6e9,
        bandwidth_hz=273 * 12 * 30e3,
        scs_hz=30e3,
        n_h=8,
        n_v=8,
        cpi_s=64 * 0.625e-3,
        pri_s=0.625e-3,
        rcs_dbsm=(-12.81,),
        rcs_std_db=(3.74,),
    )
    p = replace(base, pfa_cell=-math.log1p(-pfa_scan) / base.n_cells)
    rng = np.random.default_rng(seed)
    d2d_m = 250.0 * np.sqrt(rng.random(n_drops))
    az_rad, hdg_rad = rng.uniform(-np.pi, np.pi, (2, n_drops))
    pos_m = np.stack([d2d_m * np.cos(az_rad), d2d_m * np.sin(az_rad), np.full(n_drops, 200.0)], axis=1)
    speed_mps = rng.uniform(0.0, 50.0, n_drops)
    vel_mps = np.stack([speed_mps * np.cos(hdg_rad), speed_mps * np.sin(hdg_rad), np.zeros(n_drops)], axis=1)
    trp_m = np.array([[0.0, 0.0, 25.0]])
    d3d_m = np.linalg.norm(pos_m - trp_m, axis=1)
    rows = np.arange(n_drops)
    det = scan(
        p,
        rng,
        t_s=0.0,
        target_pos_m=pos_m,
        target_vel_mps=vel_mps,
        target_rcs_class=np.zeros(n_drops, np.int64),
        trp_pos_m=trp_m,
        pair_target=rows,
        pair_trp=np.zeros(n_drops, np.int64),
        pl_db=28.0 + 22.0 * np.log10(d3d_m) + 20.0 * math.log10(p.fc_hz / 1e9),
        los=np.ones(n_drops, bool),
        sf_db=4.64 * math.exp(-0.0066 * 200.0) * rng.standard_normal(n_drops),
    )
    hit = det.target >= 0
    err_m = det.pos_m[hit] - pos_m[det.target[hit]]
    return NistCalibration(
        pd=round(float(hit.sum()) / n_drops, 4),
        p90_horizontal_m=round(float(np.percentile(np.hypot(err_m[:, 0], err_m[:, 1]), 90)), 2),
        p90_vertical_m=round(float(np.percentile(np.abs(err_m[:, 2]), 90)), 2),
        pfa_cell=float(f"{p.pfa_cell:.3g}"),
        n_drops=n_drops,
    )
