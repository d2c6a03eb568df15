"""A tiny numpy renderer for the demo pictures: shaded signed-distance shapes on a canvas.

Shapes (capsule, ellipse, ring, convex polygon) are drawn in an object's local coordinates
(`Canvas.frame`: centre, angle, scale, perspective squish, all in fractions of the picture),
so one scene renders at any size. Each shape is lit by the canvas's light as a rounded solid
(a tube, a dome, a torus), with optional gloss and a soft drop shadow, and its colour is
modulated by a smooth noise texture. Edges are anti-aliased by the signed distance.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth value noise in 0..1 (a random cells x cells grid, bicubically upscaled)."""
    grid = (rng.random((cells, cells)) * 255).astype(np.uint8)
    image = Image.fromarray(grid).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32) / 255.0


def jitter(rng: np.random.Generator, color, amount: float) -> tuple:
    """A colour varied in brightness by +-amount and in tint by +-amount/2."""
    base = np.asarray(color, dtype=np.float64)
    shade = rng.uniform(1 - amount, 1 + amount)
    tint = rng.uniform(1 - amount / 2, 1 + amount / 2, size=3)
    return tuple(float(c) for c in np.clip(base * shade * tint, 0, 1))



class Canvas:
    """A float RGB image with a light; shapes are drawn through a `Frame` (object pose)."""

    def __init__(self, size: int, light: tuple, texture: np.ndarray):
        self.size = size
        grid = (np.arange(size, dtype=np.float32) + 0.5) / size
        self.x, self.y = np.meshgrid(grid, grid)
        self.image = np.zeros((size, size, 3), dtype=np.float32)
        self.light = np.asarray(light, dtype=np.float32) / np.linalg.norm(light)
        self.texture = texture  # smooth noise in 0..1, same size, modulates food colours

    def frame(self, cx: float, cy: float, angle: float, scale: float, squish: float = 1.0) -> "Frame":
        return Frame(self, cx, cy, angle, scale, squish)


class Frame:
    """An object's local coordinates: centred at (cx, cy), rotated, scaled (image fractions).

    Each shape is evaluated only inside its bounding box, which keeps small shapes cheap.
    """

    def __init__(self, canvas: Canvas, cx, cy, angle, scale, squish):
        self.canvas = canvas
        self.cx, self.cy, self.scale, self.squish = cx, cy, scale, squish
        self.cos, self.sin = math.cos(angle), math.sin(angle)
        self.pixels = scale * canvas.size  # pixels per local unit (edge softness)
        lx, ly, lz = canvas.light
        self.light = np.array([lx * self.cos + ly * self.sin, -lx * self.sin + ly * self.cos, lz], dtype=np.float32)

    def _region(self, u0, u1, v0, v1, margin=0.0):
        """(slice, u, v) of the pixels whose local coordinates may fall in the box (or None)."""
        size = self.canvas.size
        pad = margin + 3.0 / self.pixels
        us = (u0 - pad, u1 + pad, u1 + pad, u0 - pad)
        vs = (v0 - pad, v0 - pad, v1 + pad, v1 + pad)
        xs = [self.cx + self.scale * (u * self.cos - v * self.squish * self.sin) for u, v in zip(us, vs)]
        ys = [self.cy + self.scale * (u * self.sin + v * self.squish * self.cos) for u, v in zip(us, vs)]
        x0, x1 = max(0, int(min(xs) * size)), min(size, int(math.ceil(max(xs) * size)) + 1)
        y0, y1 = max(0, int(min(ys) * size)), min(size, int(math.ceil(max(ys) * size)) + 1)
        if x0 >= x1 or y0 >= y1:
            return None
        region = (slice(y0, y1), slice(x0, x1))
        dx = self.canvas.x[region] - self.cx
        dy = self.canvas.y[region] - self.cy
        u = (dx * self.cos + dy * self.sin) / self.scale
        v = (-dx * self.sin + dy * self.cos) / (self.scale * self.squish)
        return region, u, v

    def _paint(self, region, sdf, rgb, soft=1.0):
        alpha = np.clip(0.5 - sdf * self.pixels / soft, 0.0, 1.0)[..., None]
        target = self.canvas.image[region]
        target *= 1.0 - alpha
        target += alpha * rgb

    def _shade(self, region, nx, ny, nz, color, relief, gloss=0.0, texture=0.12):
        lx, ly, lz = self.light
        diffuse = np.clip(nx * lx + ny * ly + nz * lz, 0.0, 1.0)
        light = (1.0 - relief) + relief * 1.25 * diffuse
        light = light * (1.0 + texture * (self.canvas.texture[region] - 0.5))
        rgb = light[..., None] * np.asarray(color, dtype=np.float32)
        if gloss:
            rgb = rgb + (diffuse ** 24 * gloss)[..., None]
        return np.clip(rgb, 0.0, 1.0)

    def _shadow(self, box, sdf_fn, strength):
        """A soft dark blur under a shape, offset down-right (drawn before the shape)."""
        du, dv = 0.03, 0.04
        found = self._region(box[0] + du, box[1] + du, box[2] + dv, box[3] + dv, margin=0.1)
        if found is None or not strength:
            return
        region, u, v = found
        sdf = sdf_fn(u - du, v - dv)
        alpha = np.clip(0.5 - sdf * self.pixels / (0.08 * self.pixels + 2.0), 0.0, 1.0) * strength
        target = self.canvas.image[region]
        target *= (1.0 - alpha)[..., None]

    @staticmethod
    def _capsule_parts(u, v, a, b):
        pu, pv = u - a[0], v - a[1]
        bu, bv = b[0] - a[0], b[1] - a[1]
        h = np.clip((pu * bu + pv * bv) / max(bu * bu + bv * bv, 1e-9), 0.0, 1.0)
        ou, ov = pu - h * bu, pv - h * bv
        return ou, ov, np.sqrt(ou * ou + ov * ov)

    def capsule(self, a, b, r, color, relief=0.7, gloss=0.0, shadow=0.0, texture=0.12):
        box = (min(a[0], b[0]) - r, max(a[0], b[0]) + r, min(a[1], b[1]) - r, max(a[1], b[1]) + r)
        if shadow:
            self._shadow(box, lambda u, v: self._capsule_parts(u, v, a, b)[2] - r, shadow)
        found = self._region(*box)
        if found is None:
            return
        region, u, v = found
        ou, ov, dist = self._capsule_parts(u, v, a, b)
        t = np.clip(dist / r, 0.0, 1.0)
        safe = np.maximum(dist, 1e-6)
        rgb = self._shade(region, ou / safe * t, ov / safe * t, np.sqrt(1.0 - t * t), color, relief, gloss, texture)
        self._paint(region, dist - r, rgb)

    def ellipse(self, c, rx, ry, color, relief=0.5, gloss=0.0, shadow=0.0, texture=0.12):
        box = (c[0] - rx, c[0] + rx, c[1] - ry, c[1] + ry)

        def parts(u, v):
            du, dv = (u - c[0]) / rx, (v - c[1]) / ry
            return du, dv, np.sqrt(du * du + dv * dv)

        if shadow:
            self._shadow(box, lambda u, v: (parts(u, v)[2] - 1.0) * min(rx, ry), shadow)
        found = self._region(*box)
        if found is None:
            return
        region, u, v = found
        du, dv, rho = parts(u, v)
        t = np.clip(rho, 0.0, 1.0)
        safe = np.maximum(rho, 1e-6)
        rgb = self._shade(region, du / safe * t, dv / safe * t, np.sqrt(1.0 - t * t), color, relief, gloss, texture)
        self._paint(region, (rho - 1.0) * min(rx, ry), rgb)

    def ring(self, c, radius, r, color, relief=0.7, shadow=0.0):
        outer = radius + r
        box = (c[0] - outer, c[0] + outer, c[1] - outer, c[1] + outer)

        def parts(u, v):
            du, dv = u - c[0], v - c[1]
            return du, dv, np.sqrt(du * du + dv * dv)

        if shadow:
            self._shadow(box, lambda u, v: np.abs(parts(u, v)[2] - radius) - r, shadow)
        found = self._region(*box)
        if found is None:
            return
        region, u, v = found
        du, dv, rad = parts(u, v)
        across = np.clip((rad - radius) / r, -1.0, 1.0)
        safe = np.maximum(rad, 1e-6)
        nz = np.sqrt(1.0 - across * across)
        rgb = self._shade(region, du / safe * across, dv / safe * across, nz, color, relief)
        self._paint(region, np.abs(rad - radius) - r, rgb)

    def polygon(self, points, color, relief=0.15, shadow=0.0):
        """A convex polygon (any winding)."""
        area = sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(points, points[1:] + points[:1]))
        if area < 0:
            points = points[::-1]
        box = (min(p[0] for p in points), max(p[0] for p in points),
               min(p[1] for p in points), max(p[1] for p in points))

        def sdf_of(u, v):
            sdf = None
            for (au, av), (bu, bv) in zip(points, points[1:] + points[:1]):
                eu, ev = bu - au, bv - av
                side = ((u - au) * ev - (v - av) * eu) / math.hypot(eu, ev)
                sdf = side if sdf is None else np.maximum(sdf, side)
            return sdf

        if shadow:
            self._shadow(box, sdf_of, shadow)
        found = self._region(*box)
        if found is None:
            return
        region, u, v = found
        ones = np.ones_like(u)
        rgb = self._shade(region, ones * 0, ones * 0, ones, color, relief)
        self._paint(region, sdf_of(u, v), rgb)
