"""Fast, vectorised numpy rendering of synthetic chest radiographs with visible findings.

The images are not meant to fool a radiologist; they are meant to exercise the real loaders and give the
downstream metrics something to tell apart. Each finding of a study changes the picture the way it does on
a real film (and in the place the report names, see `unix.data.report_text`):

- Cardiomegaly: wider cardiac silhouette; Enlarged Cardiomediastinum: wider upper mediastinum;
- Pleural Effusion: basal opacity with a meniscus that blunts the costophrenic angle;
- Pneumothorax: a lung edge without markings beyond a thin visceral pleural line;
- Consolidation / Pneumonia / Lung Opacity: patchy airspace opacities in a lung zone;
- Edema: perihilar haze with prominent markings; Atelectasis: a plate-like linear band;
- Lung Lesion: a round nodule; Fracture: a step in a rib contour; Pleural Other: pleural thickening;
- Support Devices: tubes, lines, leads and pacemakers drawn as thin bright polylines.

An uncertain mention (-1.0) is rendered at half strength. Coordinates are in units of half the shorter
image side, origin at the image centre, x to the image right (the patient's left), y downwards.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

LATERAL_RENDER_VIEWS = frozenset({"LATERAL", "LL", "XTABLE LATERAL", "SWIMMERS"})


@dataclass(frozen=True)
class Anatomy:
    """Per-patient constants, so that all studies of one patient look alike."""

    dx: float = 0.0
    """horizontal shift of the thorax"""
    dy: float = 0.0
    """vertical shift of the thorax"""
    scale: float = 1.0
    """size of the thorax relative to the image"""
    heart: float = 1.0
    """heart width factor (normal range)"""
    lung_height: float = 1.0
    """vertical lung extent factor"""
    female: bool = False
    """adds breast shadows over the lower lungs"""
    brightness: float = 0.0
    """exposure offset"""

    @staticmethod
    def sample(rng: np.random.Generator) -> "Anatomy":
        """A random patient."""
        return Anatomy(
            dx=float(rng.normal(0, 0.03)), dy=float(rng.normal(0, 0.03)), scale=float(rng.uniform(0.9, 1.02)),
            heart=float(rng.uniform(0.9, 1.05)), lung_height=float(rng.uniform(0.93, 1.05)),
            female=bool(rng.random() < 0.45), brightness=float(rng.normal(0, 0.03)),
        )


@dataclass
class Findings:
    """What to draw: label name -> strength (1.0 positive, 0.5 uncertain) plus where (see report_text)."""

    strength: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def get(self, label: str) -> float:
        return self.strength.get(label, 0.0)


def _sig(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Zero-mean, unit-ish smooth noise: random values on a coarse grid, bicubically upsampled."""
    h, w = shape
    ch, cw = max(2, round(cells * h / max(h, w))), max(2, round(cells * w / max(h, w)))
    coarse = rng.standard_normal((ch, cw)).astype(np.float32)
    img = Image.fromarray(coarse, mode="F").resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float32)


def _segment_distance(x: np.ndarray, y: np.ndarray, p0: tuple[float, float], p1: tuple[float, float]) -> np.ndarray:
    """Distance of every grid point to the segment p0-p1."""
    (x0, y0), (x1, y1) = p0, p1
    vx, vy = x1 - x0, y1 - y0
    t = np.clip(((x - x0) * vx + (y - y0) * vy) / (vx * vx + vy * vy + 1e-12), 0.0, 1.0)
    return np.hypot(x - (x0 + t * vx), y - (y0 + t * vy))


class _Canvas:
    """The coordinate grid of one image and conversions to pixel coordinates."""

    def __init__(self, rows: int, cols: int, anatomy: Anatomy, shift: float = 0.0):
        self.rows, self.cols, self.shift = rows, cols, shift
        self.half = min(rows, cols) / 2.0
        xs = ((np.arange(cols, dtype=np.float32) + 0.5 - cols / 2) / self.half)[None, :]
        ys = ((np.arange(rows, dtype=np.float32) + 0.5 - rows / 2) / self.half)[:, None]
        self.a = anatomy
        self.x = (xs - anatomy.dx) / anatomy.scale  # (1, W)
        self.y = (ys - anatomy.dy - shift) / anatomy.scale  # (H, 1)

    def to_px(self, pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
        a = self.a
        return [((x * a.scale + a.dx) * self.half + self.cols / 2,
                 (y * a.scale + a.dy + self.shift) * self.half + self.rows / 2) for x, y in pts]

    def polylines(self, lines: list[tuple[list[tuple[float, float]], float, float]], blur: float = 0.8) -> np.ndarray:
        """Rasterise (points, width in units, intensity) polylines with PIL and soften them."""
        img = Image.new("L", (self.cols, self.rows), 0)
        draw = ImageDraw.Draw(img)
        for pts, width, value in lines:
            w = max(1, round(width * self.half * self.a.scale))
            draw.line(self.to_px(pts), fill=int(255 * value), width=w, joint="curve")
        if blur:
            img = img.filter(ImageFilter.GaussianBlur(blur))
        return np.asarray(img, dtype=np.float32) / 255.0

    def shapes(self, ellipses: list[tuple[float, float, float, float, float]],
               rects: list[tuple[float, float, float, float, float]]) -> np.ndarray:
        """Rasterise filled (cx, cy, rx, ry, value) ellipses and (x0, y0, x1, y1, value) rectangles."""
        img = Image.new("L", (self.cols, self.rows), 0)
        draw = ImageDraw.Draw(img)
        for cx, cy, rx, ry, value in ellipses:
            (x0, y0), (x1, y1) = self.to_px([(cx - rx, cy - ry), (cx + rx, cy + ry)])
            draw.ellipse([x0, y0, x1, y1], fill=int(255 * value))
        for x0, y0, x1, y1, value in rects:
            (a0, b0), (a1, b1) = self.to_px([(x0, y0), (x1, y1)])
            draw.rectangle([a0, b0, a1, b1], fill=int(255 * value))
        return np.asarray(img.filter(ImageFilter.GaussianBlur(0.7)), dtype=np.float32) / 255.0


def _curve(p0, p1, bend: float, n: int = 12) -> list[tuple[float, float]]:
    """A gently bent curve from p0 to p1 (quadratic Bezier with the control point pushed sideways)."""
    (x0, y0), (x1, y1) = p0, p1
    mx, my = (x0 + x1) / 2 - bend * (y1 - y0), (y0 + y1) / 2 + bend * (x1 - x0)
    t = np.linspace(0, 1, n)
    xs = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * mx + t**2 * x1
    ys = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * my + t**2 * y1
    return list(zip(xs.tolist(), ys.tolist()))


# Zones named in reports -> (side, centre y) in frontal coordinates; side +1 = patient's left = image right.
ZONES = {
    "right upper": (-1, -0.45), "right middle": (-1, -0.05), "right lower": (-1, 0.22),
    "left upper": (1, -0.45), "left lingular": (1, -0.02), "left lower": (1, 0.25),
}


def _side_signs(side: str) -> list[int]:
    return {"right": [-1], "left": [1], "bilateral": [-1, 1]}[side]


def _device_lines(devices: list[str], lateral: bool) -> tuple[list, list, list]:
    """Polylines, ellipses and rectangles of the support devices (frontal or lateral geometry)."""
    lines, ellipses, rects = [], [], []
    for dev in devices:
        if dev == "endotracheal tube":
            pts = [(0.0, -1.4), (0.0, -0.45)] if not lateral else [(-0.25, -1.4), (-0.12, -0.5)]
            lines.append((pts, 0.028, 0.55))
        elif dev == "enteric tube":
            pts = ([(0.0, -1.4)] + _curve((0.02, -0.9), (0.45, 0.62), 0.25)) if not lateral else \
                [(-0.1, -1.4)] + _curve((0.05, -0.8), (0.1, 0.7), -0.1)
            lines.append((pts, 0.022, 0.6))
        elif dev == "right internal jugular catheter":
            pts = _curve((-0.3, -1.2), (-0.08, -0.2), 0.15) if not lateral else _curve((-0.1, -1.2), (-0.15, -0.1), 0.1)
            lines.append((pts, 0.014, 0.75))
        elif dev == "left PICC line":
            pts = (_curve((1.05, -0.55), (0.0, -0.22), -0.12) if not lateral
                   else _curve((-0.4, -0.9), (-0.15, -0.15), 0.1))
            lines.append((pts, 0.01, 0.75))
        elif dev == "pacemaker":
            if not lateral:
                rects.append((0.5, -0.78, 0.72, -0.62, 0.95))
                lines.append((_curve((0.55, -0.65), (-0.02, 0.05), -0.25) + [(0.1, 0.3)], 0.012, 0.9))
                lines.append((_curve((0.6, -0.65), (-0.06, -0.12), -0.2), 0.012, 0.9))
            else:
                rects.append((-0.7, -0.75, -0.52, -0.6, 0.95))
                lines.append((_curve((-0.6, -0.62), (-0.3, 0.25), 0.2), 0.012, 0.9))
        elif dev == "chest tube":
            pts = _curve((-0.95, 0.35), (-0.5, -0.55), -0.1) if not lateral else _curve((0.6, 0.4), (0.1, -0.5), 0.1)
            lines.append((pts, 0.03, 0.5))
        elif dev == "ECG leads":
            for cx, cy in ([(-0.55, -0.9), (0.6, -0.92), (0.75, 0.45)] if not lateral else [(-0.75, -0.3)]):
                ellipses.append((cx, cy, 0.045, 0.045, 0.6))
                lines.append(([(cx, cy), (cx + 0.25, cy - 0.6)], 0.006, 0.6))
    return lines, ellipses, rects


def render_frontal(rows: int, cols: int, anatomy: Anatomy, findings: Findings, rng: np.random.Generator,
                   projection: str = "PA") -> np.ndarray:
    """A frontal (PA or AP) radiograph as float32 (rows, cols) in [0, 1]."""
    # The thorax sits a little below the image centre, as on a real film.
    c = _Canvas(rows, cols, anatomy, shift=0.12 * min(1.0, rows / cols))
    x, y = c.x, c.y
    f, d = findings, findings.details
    ap = projection.startswith("AP")
    mag = 1.1 if ap else 1.0  # AP films magnify the heart
    lh = anatomy.lung_height

    body = _sig((1.0 - ((x / 0.95) ** 4 + ((y - 0.25) / 1.45) ** 4)) / 0.05)
    neck = _sig((0.26 - np.abs(x)) / 0.03) * _sig((-0.9 - y) / 0.05)
    body = np.maximum(body, neck)
    img = 0.5 * body

    # Lungs: an ellipse per side cut by the diaphragm dome; the intersection makes the sharp
    # costophrenic angle that an effusion blunts.
    lungs = np.zeros_like(img)
    lung_side = {}
    for s in (-1, 1):
        cx = s * 0.44
        ell = 1.0 - (((x - cx) / 0.4) ** 2 + ((y + 0.16) / (0.84 * lh)) ** 2)
        dome_top = 0.38 * lh + (0.05 if s == 1 else 0.0)
        dome = dome_top + 0.32 * ((x - s * 0.38) / 0.42) ** 2
        m = _sig(ell / 0.05) * _sig((dome - y) / 0.02) * _sig((s * x - 0.07) / 0.02)
        lung_side[s] = (m, ell, dome)
        lungs = lungs + m
    img = img - 0.34 * lungs

    # Lung markings: ridged noise (vessel-like lines) strongest near the hila.
    n1 = _smooth_noise(rng, img.shape, 14)
    n2 = _smooth_noise(rng, img.shape, 34)
    ridges = np.clip(1.0 - np.abs(n1) * 1.6, 0, 1) ** 3 + 0.6 * np.clip(1.0 - np.abs(n2) * 1.8, 0, 1) ** 3
    hilar = np.exp(-np.hypot(np.abs(x) - 0.2, y + 0.1) / 0.45)
    marking_gain = 1.0 + 0.8 * f.get("Edema")
    markings = ridges * (0.025 + 0.06 * hilar) * marking_gain

    # Pneumothorax: the collapsed lung edge (a smaller ellipse) with no markings outside it.
    ptx_keep = np.ones_like(img)
    pleural_line = np.zeros_like(img)
    if f.get("Pneumothorax"):
        s = _side_signs(d.get("Pneumothorax", {}).get("side", "right"))[0]
        m, _, _ = lung_side[s]
        k = 0.62 if f.get("Pneumothorax") >= 1 else 0.8
        inner = 1.0 - (((x - s * 0.38) / (0.4 * k)) ** 2 + ((y + 0.12) / (0.72 * lh * (k + 0.15))) ** 2)
        outside = m * (1 - _sig(inner / 0.02))
        ptx_keep = 1.0 - outside
        pleural_line = m * np.exp(-((inner / 0.03) ** 2)) * 0.22
        img = img - 0.07 * outside
    img = img + markings * lungs * ptx_keep + pleural_line

    # Mediastinum, spine, trachea, aortic knob, hila.
    mw = 0.13 + 0.12 * f.get("Enlarged Cardiomediastinum")
    upper = _sig((y + 0.9) / 0.04) * _sig((0.05 - y) / 0.05)
    mediastinum = _sig((mw - np.abs(x - 0.02)) / 0.025) * upper
    vertebrae = 0.5 + 0.5 * np.cos(2 * np.pi * (y + 0.3) / 0.115)
    img = img + (0.05 + 0.05 * vertebrae) * _sig((0.075 - np.abs(x)) / 0.012) * _sig((y + 1.3) / 0.05)
    img = img - 0.12 * _sig((0.028 - np.abs(x + 0.01)) / 0.008) * _sig((-0.38 - y) / 0.03)
    img = img + 0.14 * _sig((1 - (((x - 0.13) / 0.085) ** 2 + ((y + 0.4) / 0.07) ** 2)) / 0.1)
    img = img + 0.08 * np.exp(-((np.abs(x) - 0.2) ** 2 / 0.006 + (y + 0.1) ** 2 / 0.02))

    # Heart: an ellipse whose width is the cardiothoracic ratio.
    hw = 0.31 * anatomy.heart * mag * (1.0 + 0.42 * f.get("Cardiomegaly"))
    heart = _sig((1 - (((x - 0.1 - 0.4 * (hw - 0.31)) / hw) ** 2 + ((y - 0.16) / (0.28 * mag)) ** 2)) / 0.08)
    heart = heart * _sig((0.5 - y) / 0.05)
    # Soft tissues overlap rather than add: the silhouette is the union of mediastinum and heart.
    img = img + 0.27 * np.maximum(mediastinum, heart)

    # Ribs (posterior, sloping down laterally; anterior fainter), clavicles, scapulae in AP.
    cage = (_sig((0.92 - np.abs(x)) / 0.03) * _sig((y + 1.0) / 0.03) * _sig((0.5 - y) / 0.05)
            * _sig((np.abs(x) - 0.06) / 0.02))
    t = y + 0.85 - 0.42 * np.abs(x) + 0.5 * x * x
    if f.get("Fracture"):
        fr = d.get("Fracture", {})
        fx, fy = float(fr.get("x", 0.6)), float(fr.get("y", -0.3))
        window = np.exp(-(((y - fy) / 0.1) ** 2)) * _sig((0.12 - np.abs(x - fx)) / 0.02)
        # The rib contour steps down at the fracture, with a faint callus around it.
        t = t - 0.07 * f.get("Fracture") * _sig((x - fx) / 0.004) * window
        img = img + 0.18 * f.get("Fracture") * np.exp(-((x - fx) ** 2 + (y - fy) ** 2) / 0.002)
    ribs = np.clip((np.cos(2 * np.pi * t / 0.17) - 0.55) / 0.45, 0, 1)
    t2 = y + 0.55 + 0.25 * np.abs(x) - 0.1 * x * x
    ribs2 = np.clip((np.cos(2 * np.pi * t2 / 0.2) - 0.7) / 0.3, 0, 1)
    img = img + (0.11 * ribs + 0.04 * ribs2) * cage
    for s in (-1, 1):
        dist = _segment_distance(x, y, (s * 0.07, -0.88), (s * 0.8, -1.02))
        img = img + 0.2 * _sig((0.04 - dist) / 0.008)
        if ap:
            img = img + 0.07 * _sig((1 - (((x - s * 0.8) / 0.13) ** 2 + ((y + 0.55) / 0.33) ** 2)) / 0.1)

    # Breast shadows and the gastric bubble under the left dome.
    if anatomy.female:
        for s in (-1, 1):
            img = img + 0.07 * _sig((1 - (((x - s * 0.55) / 0.38) ** 2 + ((y - 0.35) / 0.3) ** 2)) / 0.1) * body
    bubble = _sig((1 - (((x - 0.45) / 0.12) ** 2 + ((y - 0.5 * lh - 0.02) / 0.06) ** 2)) / 0.1)
    img = img - 0.16 * bubble * _sig((y - lung_side[1][2]) / 0.02)

    # Pleural effusion: meniscus-shaped basal opacity filling the costophrenic angle.
    if f.get("Pleural Effusion"):
        eff = d.get("Pleural Effusion", {})
        size = {"small": 0.13, "moderate": 0.3, "large": 0.55}.get(eff.get("size", "small"), 0.2)
        for s in _side_signs(eff.get("side", "right")):
            m, ell, dome = lung_side[s]
            # The fluid fills the lung base up to a level that rises laterally, so the costophrenic
            # angle and the lateral part of the dome disappear.
            region = _sig((ell + 0.04) / 0.03) * _sig((s * x - 0.07) / 0.02) * _sig((dome + 0.04 - y) / 0.02)
            level = 0.35 * lh - size * f.get("Pleural Effusion") * 1.5
            lateral = np.clip((s * x - 0.2) / 0.6, 0, 1)
            meniscus = level - 0.15 * lateral ** 2
            img = img + 0.34 * region * _sig((y - meniscus) / 0.03)

    # Airspace opacities: consolidation, pneumonia, and lung opacity without a more specific finding.
    zones = []
    for label, gain in (("Consolidation", 0.33), ("Pneumonia", 0.28), ("Lung Opacity", 0.2)):
        if f.get(label) and (label != "Lung Opacity" or not (f.get("Consolidation") or f.get("Pneumonia")
                                                            or f.get("Edema") or f.get("Atelectasis"))):
            zones.append((d.get(label, {}).get("zone", "right lower"), gain * f.get(label)))
    if zones:
        patch_noise = 0.6 + 0.4 * np.clip(_smooth_noise(rng, img.shape, 20), -1.5, 1.5) / 1.5
        for zone, gain in zones:
            s, zy = ZONES[zone]
            blobs = np.zeros_like(img)
            for _ in range(5):
                bx = s * rng.uniform(0.28, 0.58)
                by = zy + rng.uniform(-0.12, 0.12)
                r = rng.uniform(0.07, 0.15)
                blobs = blobs + np.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * r * r))
            img = img + gain * np.clip(blobs, 0, 1.3) * patch_noise * lungs

    if f.get("Edema"):
        haze = sum(np.exp(-(((x - s * 0.28) ** 2) / 0.07 + ((y + 0.05) ** 2) / 0.12)) for s in (-1, 1))
        img = img + 0.2 * f.get("Edema") * haze * lungs

    if f.get("Atelectasis"):
        at = d.get("Atelectasis", {})
        s, zy = ZONES[at.get("zone", "left lower")]
        dist = _segment_distance(x, y, (s * 0.22, zy + 0.02), (s * 0.68, zy - 0.06))
        img = img + 0.3 * f.get("Atelectasis") * _sig((0.022 - dist) / 0.006) * lungs

    if f.get("Lung Lesion"):
        les = d.get("Lung Lesion", {})
        s, zy = ZONES[les.get("zone", "right upper")]
        r = 0.075 if les.get("kind") == "mass" else 0.045
        nx, ny = s * float(les.get("offset", 0.45)), zy
        img = img + 0.3 * f.get("Lung Lesion") * _sig((r - np.hypot(x - nx, y - ny)) / 0.008)

    if f.get("Pleural Other"):
        po = d.get("Pleural Other", {})
        for s in _side_signs(po.get("side", "right")):
            _, ell, _ = lung_side[s]
            rim = np.exp(-(((ell - 0.05) / 0.05) ** 2)) * _sig((0.3 - y) / 0.05) * _sig((s * x - 0.2) / 0.03)
            img = img + 0.22 * f.get("Pleural Other") * rim

    if f.get("Support Devices"):
        lines, ellipses, rects = _device_lines(d.get("Support Devices", {}).get("devices", ["ECG leads"]), False)
        img = img + f.get("Support Devices") * np.maximum(c.polylines(lines), c.shapes(ellipses, rects))

    return _finish(img, rng, anatomy, ap)


def render_lateral(rows: int, cols: int, anatomy: Anatomy, findings: Findings, rng: np.random.Generator) -> np.ndarray:
    """A lateral radiograph (patient facing image left) as float32 (rows, cols) in [0, 1]."""
    c = _Canvas(rows, cols, anatomy)
    x, y = c.x, c.y
    f, d = findings, findings.details
    lh = anatomy.lung_height

    body = _sig((1.0 - ((x / 0.88) ** 4 + ((y - 0.2) / 1.4) ** 4)) / 0.05)
    img = 0.52 * body
    diaphragm = 0.42 * lh + 0.12 * x
    lung = (_sig((1.0 - (((x - 0.02) / 0.66) ** 2 + ((y + 0.15) / (0.8 * lh)) ** 2)) / 0.05)
            * _sig((diaphragm - y) / 0.02))
    img = img - 0.33 * lung
    ridges = np.clip(1.0 - np.abs(_smooth_noise(rng, img.shape, 16)) * 1.6, 0, 1) ** 3
    img = img + ridges * 0.07 * (1 + f.get("Edema")) * lung
    # Spine (posterior, image right) with vertebral bodies, sternum (anterior), heart (anterior-inferior).
    vert = np.clip((np.cos(2 * np.pi * (y + 0.2) / 0.13) + 0.2), 0, 1)
    img = img + (0.12 + 0.1 * vert) * _sig((0.12 - np.abs(x - 0.7 + 0.05 * y)) / 0.02) * _sig((y + 1.2) / 0.05)
    sternum = _sig((0.02 - np.abs(x + 0.74 - 0.06 * (y + 0.2) ** 2)) / 0.008) * _sig((0.45 - np.abs(y + 0.15)) / 0.03)
    img = img + 0.15 * sternum
    hw = 0.33 * anatomy.heart * (1.0 + 0.4 * f.get("Cardiomegaly"))
    img = img + 0.3 * _sig((1 - (((x + 0.28 - 0.3 * (hw - 0.33)) / hw) ** 2 + ((y - 0.18) / 0.3) ** 2)) / 0.06)
    upper_mediastinum = np.exp(-(((x + 0.05) / 0.16) ** 2 + ((y + 0.45) / 0.3) ** 2))
    img = img + 0.15 * (1.0 + 0.75 * f.get("Enlarged Cardiomediastinum")) * upper_mediastinum
    img = img + 0.12 * _sig((1 - (((x + 0.3) / 0.3) ** 2 + ((y + 0.8) / 0.25) ** 2)) / 0.1)  # arms
    img = img - 0.13 * _sig((1 - (((x + 0.1) / 0.1) ** 2 + ((y - diaphragm - 0.07) / 0.05) ** 2)) / 0.1)

    if f.get("Pleural Effusion"):
        size = {"small": 0.1, "moderate": 0.25, "large": 0.45}.get(d.get("Pleural Effusion", {}).get("size"), 0.15)
        meniscus = diaphragm - size * f.get("Pleural Effusion") - 0.25 * np.clip((x - 0.1) / 0.5, 0, 1) ** 2
        basal = _sig((y - meniscus) / 0.03) * _sig((diaphragm + 0.1 - y) / 0.02) * _sig(x / 0.05)
        img = img + 0.33 * basal * body
    strength = max(f.get("Consolidation"), f.get("Pneumonia"), f.get("Lung Opacity") * 0.6)
    if strength:
        blobs = sum(np.exp(-((x - rng.uniform(-0.2, 0.4)) ** 2 + (y - rng.uniform(-0.1, 0.3)) ** 2) / 0.02)
                    for _ in range(3))
        img = img + 0.25 * strength * np.clip(blobs, 0, 1.2) * lung
    if f.get("Lung Lesion"):
        img = img + 0.25 * f.get("Lung Lesion") * _sig((0.05 - np.hypot(x - 0.1, y + 0.35)) / 0.008)
    if f.get("Support Devices"):
        lines, ellipses, rects = _device_lines(d.get("Support Devices", {}).get("devices", ["ECG leads"]), True)
        img = img + f.get("Support Devices") * np.maximum(c.polylines(lines), c.shapes(ellipses, rects))
    return _finish(img, rng, anatomy, ap=False)


def _finish(img: np.ndarray, rng: np.random.Generator, anatomy: Anatomy, ap: bool) -> np.ndarray:
    """Exposure, vignetting, scatter and quantum noise; clipped to [0, 1]."""
    h, w = img.shape
    yy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    vignette = 1.0 - 0.22 * (xx * xx + yy * yy) / 2
    out = (img + 0.06 + anatomy.brightness) * vignette
    out = out + 0.02 * _smooth_noise(rng, img.shape, 6)
    out = out + rng.normal(0, 0.022 if ap else 0.014, size=img.shape).astype(np.float32)
    gamma = float(rng.uniform(0.85, 1.15))
    return np.clip(out, 0, 1) ** gamma


def to_uint8(img: np.ndarray) -> np.ndarray:
    """[0, 1] float -> 8-bit grayscale."""
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def encode_jpeg(img_u8: np.ndarray, quality: int = 95) -> bytes:
    """Grayscale baseline JPEG bytes (deterministic for the same pixels)."""
    buf = io.BytesIO()
    Image.fromarray(img_u8, mode="L").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def render(view: str, rows: int, cols: int, anatomy: Anatomy, findings: Findings,
           rng: np.random.Generator) -> np.ndarray:
    """Render one image of ViewPosition `view` (laterals for LATERAL/LL/XTABLE LATERAL/SWIMMERS)."""
    if view in LATERAL_RENDER_VIEWS:
        return render_lateral(rows, cols, anatomy, findings, rng)
    return render_frontal(rows, cols, anatomy, findings, rng, projection=view or "PA")
