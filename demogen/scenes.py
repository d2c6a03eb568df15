"""The demo pictures as scenes: parameters sampled from a seeded generator, rendered at any size.

`sample_scene(rng, kind)` draws the parameters of one picture (a plain dict: food, pose,
background, plate, light, camera effects, side dish, occluder); `render_scene(scene, size)`
turns it into pixels with `demogen.render`. Kinds: "hotdog" and the other dishes in
NEGATIVE_KINDS, of which the first three share a hot dog's colours and long shape.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter

from demogen.render import Canvas, Frame, jitter as _jitter, smooth_noise as _smooth_noise

# The other dishes merged into not_hotdog; the first three are the hard negatives.
NEGATIVE_KINDS = ("sausage_plate", "baguette", "fries", "burger", "pizza", "donut", "salad")
IMAGE_SIZE = 160  # side of the dataset pictures; scene sizes are fractions of it
JPEG_QUALITY = (60, 95)

BUN = (0.86, 0.60, 0.32)
SAUSAGE = (0.62, 0.24, 0.14)
MUSTARD = (0.95, 0.78, 0.10)
KETCHUP = (0.75, 0.08, 0.06)


def _color(rng, base, amount=0.15):
    return _jitter(rng, base, amount)


def _pose(rng, scale=(0.45, 0.9), margin=0.12):
    return {
        "cx": float(rng.uniform(0.5 - margin * 2, 0.5 + margin * 2)),
        "cy": float(rng.uniform(0.5 - margin * 2, 0.5 + margin * 2)),
        "angle": float(rng.uniform(0, 2 * math.pi)),
        "scale": float(rng.uniform(*scale)),
        "squish": float(rng.uniform(0.6, 1.0)),
    }


def _sample_hotdog(rng) -> dict:
    bun_length = float(rng.uniform(0.36, 0.46))
    return {
        "draw": "hotdog",
        "pose": _pose(rng),
        "bun": _color(rng, BUN, 0.2),
        "bun_length": bun_length,
        "bun_radius": float(rng.uniform(0.15, 0.2)),
        "sausage": _color(rng, SAUSAGE, 0.25),
        "sausage_length": bun_length * float(rng.uniform(0.8, 1.3)),
        "sausage_radius": float(rng.uniform(0.07, 0.1)),
        "topping": str(rng.choice(["none", "mustard", "ketchup", "both", "relish", "onion"])),
        "wiggle_phase": float(rng.uniform(0, 2 * math.pi)),
        "wiggle_count": int(rng.integers(3, 8)),
        "sprinkle_seed": int(rng.integers(1 << 30)),
    }


def _sample_sausage_plate(rng) -> dict:
    count = int(rng.choice([1, 1, 2, 2, 3]))
    sausages = []
    for i in range(count):
        length = float(rng.uniform(0.3, 0.46))
        sausages.append({
            "offset": float((i - (count - 1) / 2) * rng.uniform(0.15, 0.2)),
            "length": length,
            "radius": float(rng.uniform(0.06, 0.09)),
            "tilt": float(rng.uniform(-0.25, 0.25)),
            "shift": float(rng.uniform(-0.08, 0.08)),
        })
    return {
        "draw": "sausage_plate",
        "pose": _pose(rng, scale=(0.5, 0.95)),
        "sausage": _color(rng, SAUSAGE, 0.25),
        "sausages": sausages,
        "side": str(rng.choice(["none", "mash", "peas", "mustard", "ketchup"])),
        "sprinkle_seed": int(rng.integers(1 << 30)),
    }


def _sample_baguette(rng) -> dict:
    return {
        "draw": "baguette",
        "pose": _pose(rng, scale=(0.5, 1.0)),
        "bun": _color(rng, BUN, 0.22),
        "length": float(rng.uniform(0.42, 0.55)),
        "radius": float(rng.uniform(0.11, 0.17)),
        "slashes": int(rng.integers(3, 7)),
        "sliced": bool(rng.random() < 0.3),
    }


def _sample_fries(rng) -> dict:
    return {
        "draw": "fries",
        "pose": _pose(rng, scale=(0.5, 0.9)),
        "color": _color(rng, (0.93, 0.74, 0.30), 0.15),
        "carton": bool(rng.random() < 0.5),
        "carton_color": _color(rng, (0.80, 0.10, 0.08), 0.2),
        "count": int(rng.integers(9, 20)),
        "ketchup": bool(rng.random() < 0.4),
        "sprinkle_seed": int(rng.integers(1 << 30)),
    }


def _sample_burger(rng) -> dict:
    return {
        "draw": "burger",
        "pose": {**_pose(rng, scale=(0.5, 0.9)), "angle": float(rng.uniform(-0.4, 0.4))},
        "bun": _color(rng, BUN, 0.2),
        "patty": _color(rng, (0.35, 0.18, 0.10), 0.25),
        "cheese": bool(rng.random() < 0.6),
        "lettuce": bool(rng.random() < 0.7),
        "tomato": bool(rng.random() < 0.5),
        "top_view": bool(rng.random() < 0.3),
        "sprinkle_seed": int(rng.integers(1 << 30)),
    }


def _sample_pizza(rng) -> dict:
    return {
        "draw": "pizza",
        "pose": _pose(rng, scale=(0.5, 0.95)),
        "cheese": _color(rng, (0.96, 0.78, 0.38), 0.12),
        "crust": _color(rng, (0.80, 0.52, 0.25), 0.15),
        "topping": _color(rng, (0.70, 0.15, 0.10), 0.2),
        "width": float(rng.uniform(0.25, 0.4)),
        "sprinkle_seed": int(rng.integers(1 << 30)),
    }


def _sample_donut(rng) -> dict:
    return {
        "draw": "donut",
        "pose": _pose(rng, scale=(0.4, 0.8)),
        "dough": _color(rng, (0.82, 0.55, 0.28), 0.15),
        "glaze": _color(rng, [(0.95, 0.6, 0.7), (0.35, 0.2, 0.12), (0.95, 0.92, 0.85), (0.9, 0.4, 0.3)]
                        [int(rng.integers(4))], 0.1),
        "glazed": bool(rng.random() < 0.75),
        "sprinkle_seed": int(rng.integers(1 << 30)),
    }


def _sample_salad(rng) -> dict:
    return {
        "draw": "salad",
        "pose": _pose(rng, scale=(0.5, 0.9)),
        "bowl": _color(rng, [(0.92, 0.92, 0.9), (0.3, 0.45, 0.7), (0.7, 0.55, 0.4)][int(rng.integers(3))], 0.1),
        "leaf": _color(rng, (0.35, 0.65, 0.2), 0.25),
        "extras": int(rng.integers(3, 10)),
        "sprinkle_seed": int(rng.integers(1 << 30)),
    }


_SAMPLERS = {
    "hotdog": _sample_hotdog,
    "sausage_plate": _sample_sausage_plate,
    "baguette": _sample_baguette,
    "fries": _sample_fries,
    "burger": _sample_burger,
    "pizza": _sample_pizza,
    "donut": _sample_donut,
    "salad": _sample_salad,
}


def sample_scene(rng: np.random.Generator, kind: str) -> dict:
    """Parameters of one picture of `kind` ("hotdog" or one of NEGATIVE_KINDS)."""
    food = _SAMPLERS[kind](rng)
    scene = {
        "kind": kind,
        "food": food,
        "background": str(rng.choice(["wood", "cloth", "checks", "stone", "dark"])),
        "bg_color": _jitter(rng, (0.6, 0.45, 0.3), 0.4),
        "bg_color2": _jitter(rng, (0.9, 0.9, 0.88), 0.1),
        "bg_angle": float(rng.uniform(0, math.pi)),
        "bg_freq": float(rng.uniform(6, 14)),
        "plate": bool(rng.random() < (1.0 if kind == "sausage_plate" else 0.45)),
        "plate_color": _jitter(rng, (0.94, 0.94, 0.92), 0.06),
        "plate_radius": float(rng.uniform(0.38, 0.55)),
        "light": (float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)), float(rng.uniform(0.8, 1.6))),
        "falloff": float(rng.uniform(0.0, 0.45)),
        "falloff_angle": float(rng.uniform(0, 2 * math.pi)),
        "vignette": float(rng.uniform(0.0, 0.35)),
        "cast": tuple(float(c) for c in rng.uniform(0.85, 1.15, size=3)),
        "exposure": float(rng.uniform(0.75, 1.2)),
        "blur": float(rng.choice([0.0, 0.0, rng.uniform(0.3, 1.0), rng.uniform(0.8, 2.0)])),
        "noise": float(rng.uniform(0.0, 0.05)),
        "jpeg": int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)),
        "extra": None,
        "occluder": None,
        "seed": int(rng.integers(1 << 30)),
    }
    if rng.random() < 0.25:  # a side dish in the picture (fries next to the hot dog, ...)
        side = str(rng.choice(["fries", "donut", "salad"]))
        extra = _SAMPLERS[side](rng)
        extra["pose"].update(cx=float(rng.choice([0.08, 0.92])), cy=float(rng.uniform(0.05, 0.95)),
                             scale=float(rng.uniform(0.3, 0.45)))
        scene["extra"] = extra
    if rng.random() < 0.3:
        scene["occluder"] = {
            "type": str(rng.choice(["napkin", "cup", "hand", "fork"])),
            "pose": {**_pose(rng, scale=(0.3, 0.6), margin=0.2),
                     "cx": float(rng.choice([rng.uniform(-0.05, 0.2), rng.uniform(0.8, 1.05)]))},
            "color": _jitter(rng, (0.95, 0.95, 0.95), 0.1),
            "skin": _jitter(rng, [(0.93, 0.75, 0.62), (0.7, 0.5, 0.35), (0.45, 0.3, 0.2)][int(rng.integers(3))], 0.08),
        }
    return scene


def _background(canvas: Canvas, scene: dict, rng) -> None:
    x, y, size = canvas.x, canvas.y, canvas.size
    a = scene["bg_angle"]
    along = x * math.cos(a) + y * math.sin(a)
    across = -x * math.sin(a) + y * math.cos(a)
    noise = _smooth_noise(rng, size, 6)
    c1 = np.asarray(scene["bg_color"], dtype=np.float32)
    c2 = np.asarray(scene["bg_color2"], dtype=np.float32)
    kind = scene["background"]
    if kind == "wood":
        grain = 0.5 + 0.5 * np.sin(scene["bg_freq"] * 6 * across + 4 * noise)
        img = c1 * (0.8 + 0.25 * grain)[..., None]
    elif kind == "checks":
        checks = (np.floor(along * scene["bg_freq"] / 2) + np.floor(across * scene["bg_freq"] / 2)) % 2
        red = np.asarray(_jitter(rng, (0.75, 0.12, 0.1), 0.15), dtype=np.float32)
        first = red if scene["bg_freq"] > 9 else c1
        img = np.where(checks[..., None] > 0, first, c2)
    elif kind == "stone":
        img = c2 * (0.8 + 0.3 * _smooth_noise(rng, size, 24))[..., None]
    elif kind == "dark":
        img = c1 * 0.3 * (0.8 + 0.4 * noise)[..., None]
    else:  # cloth
        img = c1 * (0.85 + 0.3 * noise)[..., None]
    fine = _smooth_noise(rng, size, max(8, size // 4))
    canvas.image[:] = np.clip(img * (0.94 + 0.12 * fine)[..., None], 0, 1)
    if scene["plate"]:
        pose = scene["food"]["pose"]
        frame = canvas.frame(pose["cx"], pose["cy"], 0.0, 1.0, pose["squish"])
        r = scene["plate_radius"]
        frame.ellipse((0, 0), r, r, scene["plate_color"], relief=0.25, shadow=0.3, texture=0.03)
        frame.ring((0, 0), r * 0.8, r * 0.02, tuple(c * 0.88 for c in scene["plate_color"]), relief=0.4)


def _sprinkles(frame: Frame, rng, n, region, colors, size=0.015, length=0.0):
    for _ in range(n):
        u = rng.uniform(-region[0], region[0])
        v = rng.uniform(-region[1], region[1])
        color = colors[int(rng.integers(len(colors)))]
        if length:
            ang = rng.uniform(0, math.pi)
            du, dv = math.cos(ang) * length, math.sin(ang) * length
            frame.capsule((u - du, v - dv), (u + du, v + dv), size, color, relief=0.3)
        else:
            frame.ellipse((u, v), size, size, color, relief=0.3)


def _draw_hotdog(canvas: Canvas, food: dict) -> None:
    p = food["pose"]
    f = canvas.frame(p["cx"], p["cy"], p["angle"], p["scale"], p["squish"])
    rng = np.random.default_rng(food["sprinkle_seed"])
    half, rb = food["bun_length"], food["bun_radius"]
    f.capsule((-half, 0), (half, 0), rb, food["bun"], relief=0.6, shadow=0.35)
    inner = tuple(c * 0.78 for c in food["bun"])
    f.capsule((-half * 0.95, 0), (half * 0.95, 0), food["sausage_radius"] * 1.25, inner, relief=0.2)
    hs, rs = food["sausage_length"], food["sausage_radius"]
    f.capsule((-hs, 0), (hs, 0), rs, food["sausage"], relief=0.8, gloss=0.35, shadow=0.25)
    topping = food["topping"]
    colors = {"mustard": [MUSTARD], "ketchup": [KETCHUP], "both": [MUSTARD, KETCHUP]}.get(topping)
    if colors:
        n = food["wiggle_count"] * 2
        for c_index, color in enumerate(colors):
            pts = [(-hs * 0.85 + 1.7 * hs * i / n, rs * 0.55 * math.sin(i * 1.7 + food["wiggle_phase"] + c_index))
                   for i in range(n + 1)]
            for a, b in zip(pts, pts[1:]):
                f.capsule(a, b, rs * 0.18, color, relief=0.3, gloss=0.2)
    elif topping == "relish":
        _sprinkles(f, rng, 18, (hs * 0.8, rs * 0.6), [(0.3, 0.55, 0.15), (0.4, 0.65, 0.2)], rs * 0.22)
    elif topping == "onion":
        _sprinkles(f, rng, 16, (hs * 0.8, rs * 0.6), [(0.95, 0.93, 0.85)], rs * 0.2)


def _draw_sausage_plate(canvas: Canvas, food: dict) -> None:
    p = food["pose"]
    f = canvas.frame(p["cx"], p["cy"], p["angle"], p["scale"], p["squish"])
    rng = np.random.default_rng(food["sprinkle_seed"])
    side = food["side"]
    if side == "mash":
        f.ellipse((0.05, 0.3), 0.22, 0.15, (0.95, 0.9, 0.7), relief=0.5, texture=0.3)
    elif side == "peas":
        for _ in range(14):
            u, v = rng.uniform(-0.25, 0.25), rng.uniform(0.2, 0.35)
            f.ellipse((u, v), 0.03, 0.03, (0.35, 0.6, 0.15), relief=0.7)
    for s in food["sausages"]:
        t = s["tilt"]
        du, dv = math.cos(t) * s["length"], math.sin(t) * s["length"]
        c = (s["shift"], s["offset"])
        f.capsule((c[0] - du, c[1] - dv), (c[0] + du, c[1] + dv), s["radius"], food["sausage"],
                  relief=0.8, gloss=0.35, shadow=0.3)
    if side in ("mustard", "ketchup"):
        color = MUSTARD if side == "mustard" else KETCHUP
        f.ellipse((rng.uniform(-0.2, 0.2), -0.28), 0.07, 0.05, color, relief=0.4, gloss=0.2)


def _draw_baguette(canvas: Canvas, food: dict) -> None:
    p = food["pose"]
    f = canvas.frame(p["cx"], p["cy"], p["angle"], p["scale"], p["squish"])
    half, r = food["length"], food["radius"]
    f.capsule((-half, 0), (half, 0), r, food["bun"], relief=0.65, shadow=0.35, texture=0.25)
    light = tuple(min(1.0, c * 1.18) for c in food["bun"])
    n = food["slashes"]
    for i in range(n):
        u = -half * 0.75 + 1.5 * half * (i + 0.5) / n
        f.capsule((u - 0.05, -r * 0.45), (u + 0.05, r * 0.45), r * 0.16, light, relief=0.2)
    if food["sliced"]:
        crumb = (0.96, 0.9, 0.75)
        f.ellipse((half + r * 0.2, 0), r * 0.35, r * 0.9, crumb, relief=0.2, texture=0.3)


def _draw_fries(canvas: Canvas, food: dict) -> None:
    p = food["pose"]
    f = canvas.frame(p["cx"], p["cy"], p["angle"], p["scale"], p["squish"])
    rng = np.random.default_rng(food["sprinkle_seed"])
    if food["carton"]:
        f.polygon([(-0.3, 0.05), (0.3, 0.05), (0.24, 0.5), (-0.24, 0.5)], food["carton_color"], shadow=0.3)
        for _ in range(food["count"]):
            u = rng.uniform(-0.24, 0.24)
            tilt = rng.uniform(-0.3, 0.3)
            top = rng.uniform(-0.45, -0.1)
            f.capsule((u, 0.2), (u + math.sin(tilt) * 0.3, top), rng.uniform(0.022, 0.035),
                      _jitter(rng, food["color"], 0.1), relief=0.5)
        f.polygon([(-0.3, 0.08), (0.3, 0.08), (0.24, 0.5), (-0.24, 0.5)], food["carton_color"])
    else:
        for _ in range(food["count"]):
            u, v = rng.uniform(-0.35, 0.35), rng.uniform(-0.3, 0.3)
            ang = rng.uniform(0, math.pi)
            half = rng.uniform(0.12, 0.25)
            du, dv = math.cos(ang) * half, math.sin(ang) * half
            f.capsule((u - du, v - dv), (u + du, v + dv), rng.uniform(0.022, 0.035),
                      _jitter(rng, food["color"], 0.1), relief=0.5, shadow=0.15)
    if food["ketchup"]:
        f.ellipse((rng.uniform(-0.3, 0.3), rng.uniform(-0.35, 0.35)), 0.09, 0.07, KETCHUP, relief=0.4, gloss=0.3)


def _draw_burger(canvas: Canvas, food: dict) -> None:
    p = food["pose"]
    f = canvas.frame(p["cx"], p["cy"], p["angle"], p["scale"], 1.0)
    rng = np.random.default_rng(food["sprinkle_seed"])
    if food["top_view"]:
        f.ellipse((0, 0), 0.42, 0.42, food["bun"], relief=0.6, shadow=0.35)
        _sprinkles(f, rng, 20, (0.25, 0.25), [(0.97, 0.93, 0.8)], 0.018, 0.015)
        return
    f.ellipse((0, 0.22), 0.44, 0.1, food["bun"], relief=0.5, shadow=0.35)  # bottom bun
    f.ellipse((0, 0.1), 0.46, 0.09, food["patty"], relief=0.5, texture=0.4)
    if food["tomato"]:
        f.ellipse((0, 0.03), 0.4, 0.05, (0.85, 0.2, 0.15), relief=0.4)
    if food["cheese"]:
        f.polygon([(-0.45, 0.0), (0.45, 0.0), (0.38, 0.1), (-0.38, 0.1)], (0.98, 0.75, 0.15))
    if food["lettuce"]:
        for i in range(9):
            f.ellipse((-0.4 + i * 0.1, -0.02 + 0.02 * math.sin(i * 2.1)), 0.07, 0.04, (0.4, 0.75, 0.25), relief=0.3)
    f.ellipse((0, -0.12), 0.44, 0.2, food["bun"], relief=0.7, gloss=0.15)  # top bun
    _sprinkles(f, rng, 14, (0.3, 0.1), [(0.97, 0.93, 0.8)], 0.012, 0.012)


def _draw_pizza(canvas: Canvas, food: dict) -> None:
    p = food["pose"]
    f = canvas.frame(p["cx"], p["cy"], p["angle"], p["scale"], p["squish"])
    rng = np.random.default_rng(food["sprinkle_seed"])
    w = food["width"]
    f.capsule((-w, -0.35), (w, -0.35), 0.06, food["crust"], relief=0.6, shadow=0.3)
    f.polygon([(-w, -0.35), (0.0, 0.45), (w, -0.35)], food["cheese"], relief=0.1, shadow=0.3)
    f.capsule((-w, -0.35), (w, -0.35), 0.055, food["crust"], relief=0.6)
    for _ in range(int(rng.integers(2, 6))):
        v = rng.uniform(-0.28, 0.15)
        span = w * (0.45 - v) / 0.8 * 0.7
        f.ellipse((rng.uniform(-span, span), v), 0.055, 0.055, food["topping"], relief=0.4, gloss=0.15)


def _draw_donut(canvas: Canvas, food: dict) -> None:
    p = food["pose"]
    f = canvas.frame(p["cx"], p["cy"], p["angle"], p["scale"], p["squish"])
    rng = np.random.default_rng(food["sprinkle_seed"])
    f.ring((0, 0), 0.3, 0.17, food["dough"], relief=0.7, shadow=0.35)
    if food["glazed"]:
        f.ring((0, 0), 0.3, 0.13, food["glaze"], relief=0.5)
        colors = [(0.9, 0.2, 0.2), (0.2, 0.5, 0.9), (0.95, 0.9, 0.2), (1, 1, 1)]
        for _ in range(int(rng.integers(0, 25))):
            ang, rad = rng.uniform(0, 2 * math.pi), rng.uniform(0.2, 0.4)
            f.capsule((math.cos(ang) * rad, math.sin(ang) * rad),
                      (math.cos(ang) * rad + 0.02, math.sin(ang) * rad + 0.015), 0.01,
                      colors[int(rng.integers(4))], relief=0.2)


def _draw_salad(canvas: Canvas, food: dict) -> None:
    p = food["pose"]
    f = canvas.frame(p["cx"], p["cy"], 0.0, p["scale"], p["squish"])
    rng = np.random.default_rng(food["sprinkle_seed"])
    f.ellipse((0, 0), 0.46, 0.46, food["bowl"], relief=0.4, shadow=0.35)
    f.ellipse((0, 0), 0.4, 0.4, tuple(c * 0.7 for c in food["bowl"]), relief=0.1)
    for _ in range(22):
        ang, rad = rng.uniform(0, 2 * math.pi), rng.uniform(0, 0.3)
        f.ellipse((math.cos(ang) * rad, math.sin(ang) * rad), rng.uniform(0.06, 0.1), rng.uniform(0.04, 0.07),
                  _jitter(rng, food["leaf"], 0.15), relief=0.5, texture=0.3)
    extras = [(0.85, 0.15, 0.1), (0.95, 0.85, 0.2), (0.95, 0.95, 0.9), (0.5, 0.2, 0.4)]
    for _ in range(food["extras"]):
        ang, rad = rng.uniform(0, 2 * math.pi), rng.uniform(0, 0.28)
        r = rng.uniform(0.025, 0.05)
        f.ellipse((math.cos(ang) * rad, math.sin(ang) * rad), r, r, extras[int(rng.integers(4))], relief=0.6, gloss=0.2)


_DRAW = {
    "hotdog": _draw_hotdog,
    "sausage_plate": _draw_sausage_plate,
    "baguette": _draw_baguette,
    "fries": _draw_fries,
    "burger": _draw_burger,
    "pizza": _draw_pizza,
    "donut": _draw_donut,
    "salad": _draw_salad,
}


def _draw_occluder(canvas: Canvas, occ: dict) -> None:
    p = occ["pose"]
    f = canvas.frame(p["cx"], p["cy"], p["angle"], p["scale"], 1.0)
    kind = occ["type"]
    if kind == "napkin":
        f.polygon([(-0.5, -0.4), (0.5, -0.4), (0.5, 0.4), (-0.5, 0.4)], occ["color"], relief=0.1, shadow=0.25)
    elif kind == "cup":
        f.ellipse((0, 0), 0.35, 0.35, occ["color"], relief=0.4, shadow=0.35)
        f.ellipse((0, 0), 0.28, 0.28, (0.25, 0.14, 0.08), relief=0.1)
    elif kind == "hand":
        f.ellipse((0, 0), 0.3, 0.22, occ["skin"], relief=0.6, shadow=0.3)
        for i in range(4):
            v = -0.15 + i * 0.1
            f.capsule((0.1, v), (0.55, v * 1.2), 0.045, occ["skin"], relief=0.6)
    else:  # fork
        grey = (0.75, 0.75, 0.78)
        f.capsule((-0.6, 0), (0.1, 0), 0.03, grey, relief=0.6, gloss=0.6, shadow=0.3)
        for i in range(4):
            f.capsule((0.1, -0.06 + i * 0.04), (0.35, -0.06 + i * 0.04), 0.012, grey, relief=0.6, gloss=0.6)


def render_scene(scene: dict, size: int = IMAGE_SIZE) -> np.ndarray:
    """Render a scene to an HxWx3 uint8 RGB array (before JPEG compression)."""
    rng = np.random.default_rng(scene["seed"])
    texture = _smooth_noise(rng, size, 12)
    canvas = Canvas(size, scene["light"], texture)
    _background(canvas, scene, rng)
    if scene["extra"] is not None:
        _DRAW[scene["extra"]["draw"]](canvas, scene["extra"])
    _DRAW[scene["food"]["draw"]](canvas, scene["food"])
    if scene["occluder"] is not None:
        _draw_occluder(canvas, scene["occluder"])
    img = canvas.image
    # Lighting: a linear falloff across the picture, a vignette, a colour cast, exposure.
    a = scene["falloff_angle"]
    ramp = (canvas.x - 0.5) * math.cos(a) + (canvas.y - 0.5) * math.sin(a)
    radius = np.sqrt((canvas.x - 0.5) ** 2 + (canvas.y - 0.5) ** 2)
    light = (1.0 - scene["falloff"] * ramp) * (1.0 - scene["vignette"] * radius ** 2 * 2)
    img = img * light[..., None] * np.asarray(scene["cast"], dtype=np.float32) * scene["exposure"]
    image = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))
    if scene["blur"] > 0:
        image = image.filter(ImageFilter.GaussianBlur(scene["blur"] * size / IMAGE_SIZE))
    out = np.asarray(image, dtype=np.float32)
    out += rng.normal(0.0, scene["noise"] * 255.0, size=out.shape).astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
