"""From a screened event or a received CDM to a Pc, and from an event to a CDM."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from kizuna.errors import InputError
from kizuna.space.cdm import Cdm, CdmObject
from kizuna.space.events import Event
from kizuna.space.frames import itrf_to_teme, rtn_basis, rtn_to_inertial_cov, teme_to_itrf
from kizuna.space.pc import METHOD_MAX, PcResult, assess

__all__ = ["Geometry", "assess_cdm", "assess_event", "cdm_geometry", "event_geometry", "event_to_cdm"]

#: Hard-body radius used when neither the CDM nor the user gives one (a combined 10 m sphere).
DEFAULT_HBR_M = 10.0
INERTIAL_FRAMES = {"EME2000", "GCRF", "ICRF", "TEME", "J2000"}
CDM_PC_METHODS = {"foster-2d": "FOSTER-1992", "monte-carlo": "MONTE-CARLO", METHOD_MAX: "MAXIMUM-PC"}


def _inertial(cdm: Cdm, obj: CdmObject) -> tuple[np.ndarray, np.ndarray]:
    r, v = np.array(obj.r_km, dtype=float), np.array(obj.v_km_s, dtype=float)
    frame = obj.ref_frame.upper()
    if frame in INERTIAL_FRAMES:
        return r, v
    if frame.startswith("ITRF"):
        return itrf_to_teme(cdm.tca, r, v)
    raise InputError(f"REF_FRAME {obj.ref_frame!r} is not supported (EME2000, GCRF, ITRF)")


def assess_cdm(cdm: Cdm, *, hbr_m: float | None = None, mc_samples: int = 100_000, seed: int = 0) -> PcResult:
    """Pc for a CDM; ``hbr_m`` overrides the CDM's own hard-body radius (then the default 10 m)."""
    radius_m = hbr_m if hbr_m is not None else cdm.hbr_m if cdm.hbr_m is not None else DEFAULT_HBR_M
    g = cdm_geometry(cdm)
    return assess(g.r1, g.v1, g.cov1, g.r2, g.v2, g.cov2, radius_m / 1000.0, mc_samples=mc_samples, seed=seed)


@dataclass(frozen=True)
class Geometry:
    """Inertial states (km, km/s) at TCA and 6x6 inertial covariances (km-based) or None."""

    r1: np.ndarray
    v1: np.ndarray
    cov1: np.ndarray | None
    r2: np.ndarray
    v2: np.ndarray
    cov2: np.ndarray | None


def cdm_geometry(cdm: Cdm) -> Geometry:
    states = [_inertial(cdm, o) for o in cdm.objects]
    covs = []
    for (r, v), obj in zip(states, cdm.objects, strict=True):
        cov = obj.cov_rtn
        covs.append(None if cov is None or not np.any(cov) else rtn_to_inertial_cov(r, v, cov / 1e6))
    (r1, v1), (r2, v2) = states
    return Geometry(r1, v1, covs[0], r2, v2, covs[1])


def event_geometry(event: Event) -> Geometry:
    r1, v1, r2, v2 = (
        np.array(x, dtype=float) for x in (event.r1_km, event.v1_km_s, event.r2_km, event.v2_km_s)
    )
    return Geometry(r1, v1, None, r2, v2, None)


def assess_event(event: Event, *, hbr_m: float = DEFAULT_HBR_M) -> Event:
    """A screened (TLE-only) event gets the maximum Pc of its geometry."""
    result = assess(
        np.array(event.r1_km), np.array(event.v1_km_s), None, np.array(event.r2_km), np.array(event.v2_km_s),
        None, hbr_m / 1000.0,
    )  # fmt: skip
    return event.with_pc(result.pc, result.method, hbr_m)


def event_to_cdm(
    event: Event,
    *,
    originator: str,
    message_id: str,
    created: datetime,
    intl_designators: tuple[str, str] = ("UNKNOWN", "UNKNOWN"),
) -> Cdm:
    """A CDM for a screened event: states turned from SGP4's TEME to ITRF, relative state in object 1's
    RTN frame, Pc as computed, and (TLE-only) a zero covariance marked as a placeholder."""
    r1, v1, r2, v2 = (
        np.array(x, dtype=float) for x in (event.r1_km, event.v1_km_s, event.r2_km, event.v2_km_s)
    )
    basis = rtn_basis(r1, v1)
    rel_pos_m = basis @ (r2 - r1) * 1000.0
    rel_vel_m_s = basis @ (v2 - v1) * 1000.0
    objects = []
    for k, (r, v, norad, name) in enumerate(
        ((r1, v1, event.norad_1, event.name_1), (r2, v2, event.norad_2, event.name_2))
    ):
        rf, vf = teme_to_itrf(event.tca_utc, r, v)
        objects.append(
            CdmObject(
                object_designator=f"{norad:05d}",
                object_name=name or str(norad),
                international_designator=intl_designators[k],
                r_km=(float(rf[0]), float(rf[1]), float(rf[2])),
                v_km_s=(float(vf[0]), float(vf[1]), float(vf[2])),
                cov_rtn=None,
                covariance_method="DEFAULT",
                maneuverable="N/A",
                ref_frame="ITRF",
                comments=[
                    "State from SGP4 (TLE), rotated TEME to ITRF by GMST (polar motion neglected)",
                    "No covariance is known for a TLE: the zero covariance below is a placeholder",
                ],
            )
        )
    comments = [f"Screened by kizuna; hard-body radius HBR = {event.hbr_m or DEFAULT_HBR_M:g} m"]
    if event.pc_method == METHOD_MAX:
        comments.append("COLLISION_PROBABILITY is the maximum Pc of the geometry over all covariances")
    return Cdm(
        creation_date=created,
        originator=originator,
        message_id=message_id,
        tca=event.tca_utc,
        miss_distance_m=event.miss_km * 1000.0,
        relative_speed_m_s=event.rel_speed_km_s * 1000.0,
        relative_position_rtn_m=(float(rel_pos_m[0]), float(rel_pos_m[1]), float(rel_pos_m[2])),
        relative_velocity_rtn_m_s=(float(rel_vel_m_s[0]), float(rel_vel_m_s[1]), float(rel_vel_m_s[2])),
        collision_probability=event.pc,
        collision_probability_method=CDM_PC_METHODS.get(event.pc_method, event.pc_method.upper() or None),
        hbr_m=event.hbr_m,
        comments=comments,
        objects=(objects[0], objects[1]),
    )
