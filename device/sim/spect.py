"""SPECT-like myocardial perfusion studies (stress + rest) with perfusion defects in coronary territories.

The LV is a truncated prolate-ellipsoid shell (endocardial radius, wall thickness, apical thinning) placed in a
64^3 volume, either already in short axis (``orientation="short_axis"``: slice axis = LV long axis, rows anterior ->
inferior, columns septal -> lateral, see ``device.perfusion.geometry``) or in patient transaxial space
(``"transaxial"``: axes z (inferior -> superior), y (anterior -> posterior), x (right -> left), the DICOM LPS index
directions, with the long axis pointing left-anterior-inferior plus jitter). Uptake includes normal heterogeneity
(lateral > septum, lower basal septum), attenuation-like fall-off (inferior "diaphragm" or anterior "breast"),
right ventricle, blood pool, subdiaphragmatic liver/gut activity, scanner blur (FWHM) and Poisson noise.

Defects: a smooth count reduction over a territory-shaped region of the polar (height, angle) plane. LAD: anterior
and septal walls from the apex up; LCX: lateral wall; RCA: inferior wall. The known overlap is simulated: coronary
dominance moves the RCA/LCX border across the inferolateral wall, and an LAD may wrap around the apex into the
inferior apex. ``at_risk[t]`` is True when territory ``t`` carries a defect of severity >= ``RISK_SEVERITY``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from device.perfusion.geometry import N_RINGS, TERRITORIES, sector_centres_deg

RISK_SEVERITY = 0.2
_CENTRE_DEG = {"LAD": 120.0, "LCX": 0.0, "RCA": 240.0}


@dataclass(frozen=True)
class Defect:
    """A perfusion defect. severity: fractional count loss at its centre at stress (0..1); extent: 0..1 size;
    reversibility: share of the loss that recovers at rest (1 = pure ischaemia, 0 = scar); wrap: LAD around apex."""

    territory: str
    severity: float
    extent: float
    reversibility: float = 1.0
    wrap: bool = False


@dataclass(frozen=True)
class Phantom:
    """Patient geometry and physiology; lengths in mm."""

    r_endo_mm: float = 22.0
    wall_mm: float = 10.0
    apex_wall_mm: float = 6.0
    length_mm: float = 70.0  # base plane to endocardial apex
    attenuation: str = "inferior"  # "inferior" | "anterior" | "none"
    attenuation_strength: float = 0.10
    dominance: str = "right"  # "right" | "left" | "balanced"
    angle_jitter_deg: float = 0.0
    liver: float = 0.5  # subdiaphragmatic activity relative to normal myocardium
    fwhm_mm: float = 12.0
    peak_counts: float = 150.0
    fwhm_z_mm: float | None = None    # blur along the slice axis (None: fwhm_mm, isotropic)
    shape_p: float = 2.0              # long-axis profile (r/R)^2 + (s/L)^p < 1: 2 ellipsoid, < 2 more conical
    septal_drop: float = 0.0          # normal septal count deficit relative to the lateral wall (0..1)


@dataclass(frozen=True)
class SimStudy:
    """stress, rest: (nz, ny, nx) float32 counts; voxel_mm: (dz, dy, dx); truth_polar: (N_RINGS, N_SECTORS) stress
    uptake fraction (noise-free, before blur) in the ``device.perfusion.geometry`` grid; axis_index: unit vector in
    (z, y, x) index space pointing from base to apex; apex_first: for short_axis, slice 0 is nearest the apex."""

    stress: np.ndarray
    rest: np.ndarray
    voxel_mm: tuple[float, float, float]
    orientation: str
    apex_first: bool
    axis_index: np.ndarray
    defects: tuple[Defect, ...]
    at_risk: dict[str, bool]
    truth_polar: np.ndarray
    phantom: Phantom = field(default_factory=Phantom)


def _angdiff(a: np.ndarray, b: float) -> np.ndarray:
    return (a - b + 180.0) % 360.0 - 180.0


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def defect_factor(h: np.ndarray, theta: np.ndarray, d: Defect, ph: Phantom) -> np.ndarray:
    """Fraction of counts lost (0..severity) at normalised height h (0 apex .. 1 base) and angle theta (deg)."""
    centre = _CENTRE_DEG[d.territory] + ph.angle_jitter_deg
    if d.territory == "RCA":
        centre += {"right": 20.0, "left": -25.0, "balanced": 0.0}[ph.dominance]
    if d.territory == "LCX":
        centre += {"right": 15.0, "left": -35.0, "balanced": 0.0}[ph.dominance]
    half = 25.0 + 45.0 * d.extent
    ang = _smoothstep((half - np.abs(_angdiff(theta, centre))) / 15.0)
    if d.territory == "LAD":
        top = 0.3 + 0.65 * d.extent
        ax = _smoothstep((top - h) / 0.12)
        if d.wrap:  # apical wrap-around: the whole apex, all angles
            ang = np.maximum(ang, _smoothstep((0.3 - h) / 0.1))
    else:
        bottom = 0.55 - 0.5 * d.extent
        ax = _smoothstep((h - bottom) / 0.12) * _smoothstep((h - 0.02) / 0.05)
    return d.severity * ang * ax


def uptake(h: np.ndarray, theta: np.ndarray, ph: Phantom, defects: tuple[Defect, ...], rest: bool) -> np.ndarray:
    """Relative myocardial uptake (about 1 in normal lateral wall) at (h, theta); arrays broadcast together."""
    th = np.deg2rad(theta)
    u = 1.0 + 0.05 * np.cos(th) - 0.10 * _smoothstep((h - 0.8) / 0.2) * np.clip(-np.cos(th), 0, 1)
    if ph.septal_drop:
        u = u * (1 - ph.septal_drop * np.clip(-np.cos(th), 0, 1))
    if ph.attenuation == "inferior":
        u = u * (1 - ph.attenuation_strength * np.clip(-np.sin(th), 0, 1) ** 1.5 * (0.5 + 0.5 * h))
    elif ph.attenuation == "anterior":
        u = u * (1 - ph.attenuation_strength * np.clip(np.sin(th), 0, 1) ** 1.5)
    loss = np.zeros(np.broadcast(h, theta).shape)
    for d in defects:
        sev = d.severity * (1 - d.reversibility) if rest else d.severity
        f = defect_factor(h, theta, Defect(d.territory, sev, d.extent, d.reversibility, d.wrap), ph)
        loss = 1 - (1 - loss) * (1 - f)
    return u * (1 - loss)


def truth_polar(ph: Phantom, defects: tuple[Defect, ...], rest: bool = False) -> np.ndarray:
    """(N_RINGS, N_SECTORS) float32 noise-free uptake on the polar grid (ring centres from apex to base)."""
    h = ((np.arange(N_RINGS) + 0.5) / N_RINGS)[:, None]
    return uptake(h, sector_centres_deg()[None, :], ph, defects, rest).astype(np.float32)


def _heart_frame(orientation: str, rng: np.random.Generator) -> np.ndarray:
    """3x3 matrix whose rows are the unit vectors (lateral, anterior, apex) in (z, y, x) index space."""
    if orientation == "short_axis":
        # index space: z = slice (apex -> base when apex_first), y = row (anterior -> inferior),
        # x = column (septal -> lateral)
        return np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 0.0]])
    # transaxial in LPS index directions: z -> superior, y -> posterior, x -> left. Apex: left, anterior, inferior.
    apex_lps = np.array([0.62, -0.55, -0.56]) + rng.normal(0, 0.12, 3)
    apex_lps /= np.linalg.norm(apex_lps)
    ant = np.array([0.0, -1.0, 0.0]) + apex_lps[1] * apex_lps  # minus the projection of (0, -1, 0) on the axis
    ant /= np.linalg.norm(ant)
    lat = np.cross(ant, apex_lps)
    to_zyx = lambda v: np.array([v[2], v[1], v[0]])  # noqa: E731 - (x, y, z) LPS -> (z, y, x) index
    return np.stack([to_zyx(lat), to_zyx(ant), to_zyx(apex_lps)])


def simulate_study(defects: tuple[Defect, ...] = (), phantom: Phantom | None = None, shape: int = 64,
                   voxel_mm: float = 3.2, orientation: str = "short_axis", apex_first: bool = True,
                   offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0), seed: int = 0) -> SimStudy:
    """Render a stress/rest pair. Returns counts volumes (float32, Poisson noise) and the ground truth."""
    if orientation not in ("short_axis", "transaxial"):
        raise ValueError(f"orientation must be short_axis or transaxial, not {orientation!r}")
    rng = np.random.default_rng(seed)
    ph = phantom or Phantom()
    frame = _heart_frame(orientation, rng)
    if orientation == "short_axis" and not apex_first:
        frame[2] = -frame[2]  # stored base first; each slice still displays anterior up, septum left
    idx = (np.indices((shape,) * 3).reshape(3, -1).T + 0.5 - shape / 2) * voxel_mm - np.asarray(offset_mm)
    lat, ant, apx = (idx @ frame[k] for k in range(3))
    s = apx + ph.length_mm * 0.45  # distance from the base plane toward the apex
    r = np.hypot(lat, ant)
    theta = np.rad2deg(np.arctan2(ant, lat)) % 360.0
    l_in, l_out = ph.length_mm, ph.length_mm + ph.apex_wall_mm
    r_out = ph.r_endo_mm + ph.wall_mm
    inner = (r / ph.r_endo_mm) ** 2 + (np.clip(s, 0, None) / l_in) ** ph.shape_p < 1
    outer = (r / r_out) ** 2 + (np.clip(s, 0, None) / l_out) ** ph.shape_p < 1
    myo = outer & ~inner & (s >= 0)
    cavity = inner & (s >= 0)
    h = np.clip(1 - s / l_out, 0, 1)
    # right ventricle: a thinner shell on the septal side
    rv_c = np.array([-1.6 * r_out, 0.35 * r_out])
    rv_r = np.hypot(lat - rv_c[0], (ant - rv_c[1]) * 1.3)
    rv = (np.abs(rv_r - 1.2 * r_out) < 3.0) & (s > 5) & (s < 0.75 * l_in) & (lat < -0.5 * r_out)
    # liver / gut: a blob below the inferior wall near the base
    liver_c = np.array([0.4 * r_out, -2.4 * r_out, 0.15 * l_in])
    liver = ((lat - liver_c[0]) ** 2 / 900 + (ant - liver_c[1]) ** 2 / 250 + (s - liver_c[2]) ** 2 / 1200) < 1
    body = (idx[:, 1] ** 2 / (0.42 * shape * voxel_mm) ** 2 + idx[:, 2] ** 2 / (0.48 * shape * voxel_mm) ** 2) < 1
    out = []
    for is_rest in (False, True):
        act = 0.04 * body + 0.12 * cavity + 0.3 * rv + ph.liver * liver
        act = act.astype(np.float64)
        act[myo] = uptake(h[myo], theta[myo], ph, defects, is_rest)
        vol = act.reshape((shape,) * 3)
        fz = ph.fwhm_mm if ph.fwhm_z_mm is None else ph.fwhm_z_mm
        sig_axis = np.abs(frame[2]) * fz + (1 - np.abs(frame[2])) * ph.fwhm_mm   # slice axis (short axis) blur
        vol = ndimage.gaussian_filter(vol, tuple(sig_axis / 2.3548 / voxel_mm))
        counts = rng.poisson(np.clip(vol, 0, None) * ph.peak_counts).astype(np.float32)
        out.append(counts)
    at_risk = {t: any(d.territory == t and d.severity >= RISK_SEVERITY for d in defects) for t in TERRITORIES}
    return SimStudy(out[0], out[1], (voxel_mm,) * 3, orientation, apex_first, frame[2].copy(), tuple(defects),
                    at_risk, truth_polar(ph, defects), ph)


def random_phantom(rng: np.random.Generator, wide: bool = False) -> Phantom:
    """A plausible patient: size, wall, attenuation, dominance, liver and count level vary (the ranges the shipped
    networks and normals were trained on). ``wide`` (issue 16 point 5, 2026-12-04): also shape (ellipsoid to
    near-cone), thicker/thinner walls with stronger apical thinning, septal deficit and anisotropic blur, over wider
    size, length and count ranges - an evaluation family for robustness; no shipped model is trained on it yet."""
    if not wide:
        return Phantom(
            r_endo_mm=float(rng.uniform(17, 27)), wall_mm=float(rng.uniform(8, 12)),
            apex_wall_mm=float(rng.uniform(4, 8)), length_mm=float(rng.uniform(60, 80)),
            attenuation=str(rng.choice(["inferior", "anterior", "none"], p=[0.5, 0.3, 0.2])),
            attenuation_strength=float(rng.uniform(0.0, 0.18)),
            dominance=str(rng.choice(["right", "left", "balanced"], p=[0.7, 0.1, 0.2])),
            angle_jitter_deg=float(rng.normal(0, 8)), liver=float(rng.uniform(0.1, 1.1)),
            fwhm_mm=float(rng.uniform(10, 15)), peak_counts=float(rng.uniform(60, 250)),
        )
    return Phantom(
        r_endo_mm=float(rng.uniform(15, 30)), wall_mm=float(rng.uniform(6, 16)),
        apex_wall_mm=float(rng.uniform(3, 10)), length_mm=float(rng.uniform(50, 100)),
        attenuation=str(rng.choice(["inferior", "anterior", "none"], p=[0.5, 0.3, 0.2])),
        attenuation_strength=float(rng.uniform(0.0, 0.2)),
        dominance=str(rng.choice(["right", "left", "balanced"], p=[0.7, 0.1, 0.2])),
        angle_jitter_deg=float(rng.normal(0, 8)), liver=float(rng.uniform(0.1, 1.1)),
        fwhm_mm=float(rng.uniform(9, 16)), peak_counts=float(np.exp(rng.uniform(np.log(35), np.log(300)))),
        fwhm_z_mm=float(rng.uniform(9, 20)), shape_p=float(rng.uniform(1.3, 3.0)),
        septal_drop=float(rng.uniform(0.0, 0.15)),
    )


def random_defects(rng: np.random.Generator, p_abnormal: float = 0.6) -> tuple[Defect, ...]:
    """0-3 defects; severities 0.08-0.7 (those below RISK_SEVERITY are sub-threshold and not 'at risk')."""
    if rng.random() >= p_abnormal:
        return ()
    n = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
    out = []
    for t in rng.choice(TERRITORIES, size=n, replace=False):
        out.append(Defect(str(t), float(rng.uniform(0.08, 0.7)), float(rng.uniform(0.1, 1.0)),
                          float(rng.uniform(0.0, 1.0)), bool(t == "LAD" and rng.random() < 0.3)))
    return tuple(out)


def random_study(seed: int, p_abnormal: float = 0.6, orientation: str = "short_axis",
                 wide: bool = False) -> SimStudy:
    """A random patient and defects, random position offset and slice order; deterministic in ``seed``; ``wide``:
    the wider patient family of :func:`random_phantom`."""
    rng = np.random.default_rng(seed)
    ph = random_phantom(rng, wide)
    defects = random_defects(rng, p_abnormal)
    off = tuple(float(v) for v in rng.normal(0, 6, 3))
    return simulate_study(defects, ph, orientation=orientation, apex_first=bool(rng.random() < 0.5),
                          offset_mm=off, seed=int(rng.integers(1 << 31)))


def write_nm_dicom(path: str, counts: np.ndarray, voxel_mm: tuple[float, float, float],
                   orientation: str = "short_axis", series_description: str = "STRESS SA",
                   modality: str = "NM") -> None:
    """Write a volume as one multi-frame DICOM file (NM tomo or PET) for demos and tests.

    orientation "transaxial": ImageOrientationPatient [1,0,0,0,1,0] (slices along +z, LPS); "short_axis": an oblique
    plane (rows/columns not along the patient axes) and ImageType naming the reformat.
    """
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.20" if modality == "NM" else "1.2.840.10008.5.1.4.1.1.128"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientName, ds.PatientID = "SIM^SPECT", "SIM0001"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SeriesDescription = series_description
    if orientation == "transaxial":
        iop = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "TRANSAXIAL"]
    else:
        iop = [0.7071, 0.7071, 0.0, 0.4082, -0.4082, -0.8165]
        ds.ImageType = ["DERIVED", "SECONDARY", "RECON TOMO", "SHORT_AXIS"]
    scale = float(counts.max()) / 30000.0 if counts.max() > 30000 else 1.0
    px = np.round(counts / scale).astype(np.uint16)
    ds.NumberOfFrames = px.shape[0]
    ds.Rows, ds.Columns = px.shape[1], px.shape[2]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelSpacing = [f"{voxel_mm[1]:.4f}", f"{voxel_mm[2]:.4f}"]
    ds.SliceThickness = f"{voxel_mm[0]:.4f}"
    ds.SpacingBetweenSlices = f"{voxel_mm[0]:.4f}"
    ds.RescaleSlope, ds.RescaleIntercept = f"{scale:.6g}", "0"
    det = pydicom.Dataset()
    det.ImageOrientationPatient = iop
    det.ImagePositionPatient = [0.0, 0.0, 0.0]
    ds.DetectorInformationSequence = pydicom.Sequence([det])
    ds.PixelData = px.tobytes()
    ds.save_as(str(path), enforce_file_format=True)
