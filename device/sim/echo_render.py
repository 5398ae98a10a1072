"""B-mode rendering of a phantom scene: sector scan geometry, speckle, attenuation, log compression.

The renderer works on a fixed screen geometry (`SectorGeom`): a fan with its virtual apex above the top of the image.
Speckle is made on a polar grid (range samples x beams) and scan-converted, so its lateral size grows with depth as on
a real phased-array image; it decorrelates partly from frame to frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from device.sim.echo_shapes import Shape


@dataclass(frozen=True)
class SectorGeom:
    """Where the imaging fan sits on the screen (pixels).

    apex_xy: virtual apex (x, y); r0_px: radius of the top arc (probe face); radius_px: radius of the bottom arc;
    half_angle_deg: half the fan opening. The imaging depth spans radius_px - r0_px pixels.
    """

    width: int
    height: int
    apex_xy: tuple[float, float]
    r0_px: float
    radius_px: float
    half_angle_deg: float

    def mm_per_px(self, depth_mm: float) -> float:
        return depth_mm / (self.radius_px - self.r0_px)

    def bbox(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the fan, clipped to the image, x1/y1 exclusive."""
        ax, ay = self.apex_xy
        s = np.sin(np.radians(self.half_angle_deg))
        x0 = int(max(0, np.floor(ax - self.radius_px * s)))
        x1 = int(min(self.width, np.ceil(ax + self.radius_px * s) + 1))
        y0 = int(max(0, np.floor(ay + self.r0_px)))
        y1 = int(min(self.height, np.ceil(ay + self.radius_px) + 1))
        return x0, y0, x1, y1


def sonosite_geom(width: int = 640, height: int = 480, half_angle_deg: float = 45.0) -> SectorGeom:
    """The fan layout of the real SonoSite cine (640x480): apex near (340, 33), bottom arc near y = 405."""
    k = height / 480.0
    return SectorGeom(width, height, (width * 340 / 640, 33 * k), 12 * k, 372 * k, half_angle_deg)


@dataclass(frozen=True)
class Look:
    """Machine settings that change the look: overall gain, dynamic range (dB), attenuation (dB/cm net of TGC)."""

    gain: float = 1.0
    dyn_range_db: float = 40.0
    atten_db_cm: float = 0.55
    gamma: float = 1.7
    speckle_persist: float = 0.6


class BModeRenderer:
    """Renders scenes onto one `SectorGeom`; keeps speckle state between frames (not thread-safe)."""

    def __init__(self, geom: SectorGeom, seed: int = 0, n_beams: int = 0):
        self.geom = geom
        self.rng = np.random.default_rng(seed)
        h, w = geom.height, geom.width
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        dx, dy = xx - geom.apex_xy[0], yy - geom.apex_xy[1]
        self.r_px = np.hypot(dx, dy)
        self.theta = np.degrees(np.arctan2(dx, dy))
        ha = geom.half_angle_deg
        self.n_r = int(np.ceil(geom.radius_px)) + 2
        # about one beam per 2.5 px of arc at the bottom of the fan (fine speckle, as on the SonoSite cine)
        n_beams = n_beams or int(np.clip(2 * np.radians(ha) * geom.radius_px / 2.5, 60, 400))
        self.n_beams = n_beams
        self.map_x = ((self.theta + ha) / (2 * ha) * (n_beams - 1)).astype(np.float32)
        self.map_y = self.r_px.astype(np.float32)
        inside = (np.abs(self.theta) <= ha) & (self.r_px <= geom.radius_px) & (self.r_px >= geom.r0_px)
        edge = np.clip((ha - np.abs(self.theta)) / 2.5, 0, 1) * np.clip((geom.radius_px - self.r_px) / 2.0, 0, 1)
        lateral = 0.3 + 0.7 * np.cos(np.radians(self.theta) * 1.7).clip(0, 1)  # dim lateral field
        self.fan = (inside * edge * lateral).astype(np.float32)
        self.fan_mask = inside
        self._speckle = self._fresh()
        self._texture = self._smooth_noise(18.0)
        self._fine = self._smooth_noise(3.0)
        self._ux = np.sin(np.radians(self.theta)).astype(np.float32)  # beam direction on screen
        self._uy = np.cos(np.radians(self.theta)).astype(np.float32)

    def _fresh(self) -> np.ndarray:
        z = self.rng.standard_normal((self.n_r, self.n_beams, 2)).astype(np.float32)
        z[..., 0] = cv2.GaussianBlur(z[..., 0], (0, 0), sigmaX=0.75, sigmaY=1.0)
        z[..., 1] = cv2.GaussianBlur(z[..., 1], (0, 0), sigmaX=0.75, sigmaY=1.0)
        return z

    def _smooth_noise(self, sigma_px: float) -> np.ndarray:
        """Unit-variance smooth noise (H, W) float32, made at reduced size and enlarged (cheap for large sigma)."""
        h, w = self.geom.height, self.geom.width
        f = int(max(1, min(4, sigma_px // 3)))
        n = self.rng.standard_normal((h // f + 2, w // f + 2)).astype(np.float32)
        n = cv2.GaussianBlur(n, (0, 0), sigma_px / f)
        n = cv2.resize(n, (w + 2 * f, h + 2 * f), interpolation=cv2.INTER_LINEAR)[f:f + h, f:f + w]
        return n / max(float(n.std()), 1e-6)

    def mm_to_px(self, pts_mm: np.ndarray, depth_mm: float) -> np.ndarray:
        s = 1.0 / self.geom.mm_per_px(depth_mm)
        return pts_mm * s + np.asarray(self.geom.apex_xy) + np.array([0.0, self.geom.r0_px])

    def rasterise(self, shapes: list[Shape] | tuple[Shape, ...], depth_mm: float,
                  tags: tuple[str, ...] = ("lv_cavity", "lv_myo")) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Reflectivity map (H, W) float32 and boolean masks (H, W) per tag (tags paint in draw order)."""
        g = self.geom
        refl = (0.11 * np.clip(1 + 0.45 * self._texture, 0.1, None)).astype(np.float32)
        label = np.zeros((g.height, g.width), np.uint8)  # 0 none, i+1 = tags[i]
        shift = 4
        scale = float(1 << shift)
        mmpp = g.mm_per_px(depth_mm)
        for sh in shapes:
            pts = np.round(self.mm_to_px(sh.points, depth_mm) * scale).astype(np.int32).reshape(-1, 1, 2)
            code = tags.index(sh.tag) + 1 if sh.tag in tags else 0
            if sh.closed:
                cv2.fillPoly(refl, [pts], sh.reflect, lineType=cv2.LINE_AA, shift=shift)
                cv2.fillPoly(label, [pts], code, shift=shift)
            else:
                th = max(1, int(round(sh.thickness_mm / mmpp)))
                cv2.polylines(refl, [pts], False, sh.reflect, th, lineType=cv2.LINE_AA, shift=shift)
                cv2.polylines(label, [pts], False, code, th, shift=shift)
        masks = {t: (label == i + 1) & self.fan_mask for i, t in enumerate(tags)}
        return refl, masks

    def render(self, refl: np.ndarray, depth_mm: float, look: Look = Look(), haze_near: float = 0.0,
               haze_far: float = 0.0, shadow: tuple[float, float] | None = None) -> np.ndarray:
        """Grey B-mode image (H, W) uint8 from a reflectivity map.

        haze_near / haze_far (0..1): out-of-plane blur and clutter in the near / far field (probe tilt);
        shadow: (centre angle deg, width deg) of a rib shadow, or None.
        """
        g = self.geom
        mmpp = g.mm_per_px(depth_mm)
        depth_map = np.clip(self.r_px - g.r0_px, 0, None) * mmpp
        sig = max(0.6, 0.9 / mmpp)
        tissue = refl > 0.08
        mod = np.exp(0.35 * self._texture + 0.3 * self._fine).astype(np.float32)
        refl = np.where(tissue, refl * mod, refl).astype(np.float32)
        refl = cv2.GaussianBlur(refl, (0, 0), sig)
        # specular reflection: boundaries facing the beam are bright, walls parallel to it drop out
        gx = cv2.Sobel(refl, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(refl, cv2.CV_32F, 0, 1, ksize=3)
        spec = np.abs(gx * self._ux + gy * self._uy) * (1.2 * mmpp / 0.4)
        refl = 0.75 * refl + np.clip(spec, 0, 1.0)
        if haze_near > 0 or haze_far > 0:
            t = np.clip(depth_map / depth_mm, 0, 1)
            h = np.clip(haze_near * (1 - t) + haze_far * t, 0, 1).astype(np.float32)
            blurred = cv2.GaussianBlur(refl, (0, 0), 6.0 / mmpp)
            refl = (1 - h) * refl + h * (blurred + 0.1)
        near = np.exp(-((depth_map - 4.0) / 6.0) ** 2) * (0.5 + 0.4 * self._texture)
        refl = np.maximum(refl, near.astype(np.float32))
        # speckle: partly persistent complex field on the polar grid, scan-converted
        a = look.speckle_persist
        self._speckle = a * self._speckle + np.sqrt(1 - a * a) * self._fresh()
        mag = np.sqrt(self._speckle[..., 0] ** 2 + self._speckle[..., 1] ** 2) * 1.25
        spk = cv2.remap(mag, self.map_x, self.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        amp = refl * spk * np.exp(-look.atten_db_cm / 8.686 * depth_map / 10.0 * 2)
        if shadow is not None:
            c, w = shadow
            amp *= 1 - 0.85 * np.exp(-((self.theta - c) / max(w, 1e-3)) ** 2 / 2) * (depth_map > 8)
        db = 20 * np.log10(np.clip(amp, 0, None) * look.gain + 1e-5)
        disp = np.clip((db + look.dyn_range_db) / look.dyn_range_db, 0, 1) ** look.gamma
        disp = disp * self.fan + 0.008 * self.rng.random(disp.shape, dtype=np.float32) * self.fan
        return np.clip(disp * 255.0, 0, 255).astype(np.uint8)
