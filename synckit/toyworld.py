"""The toy world: procedurally drawn, captioned pictures that tiny models can learn on a CPU.

The kit's tiny models are too small to learn real photographs, so their `--tiny` pictures mean nothing. This
module draws a small world they *can* learn, with captions that are true of every picture, so the lessons
(one coherent panorama from overlapping windows; an anagram that reads differently when turned) become
visible offline. Two families, one per app:

- scenes (wide image app): strips SCENE_HEIGHT x SCENE_WIDTH px (64 x 384, the tiny panorama) of a sky
  (blue, orange or night), a land along the whole strip (green hills, snowy mountains, a desert, the sea, a
  forest, a village) and at most one sun (moon at night). Sky and land hold everywhere on the strip, so they
  are true of any crop; the sun is named only where it is wholly in view, and training crops never cut it.
  "snowy mountains under an orange sky with a sun" (36 captions).
- objects (anagram app): one centred glyph (an arrow or a triangle pointing up/right/down/left, a circle, the
  letters N, Z, U, C) in red, green or blue on a plain light background, at any size (64 and 256 px for IF's
  two stages). "a red arrow pointing up" (39 captions). A glyph and its caption change together under a
  quarter turn: the arrow pointing up turned 90° clockwise *is* the arrow pointing right, N turned is Z, U
  turned is C. Glyphs fit inside inner_rotate's disk (radius 3/8 of the side) on a uniform background, so
  turning that disk turns the glyph alone. Anagram pairs of such captions are therefore achievable.

What it is not: a model of natural images. Shapes are flat and few, textures are absent, scenes are pixel art
(drawn without anti-aliasing), objects are anti-aliased by supersampling. Captions follow one fixed template
per family and use only VOCABULARY; a model trained here knows nothing else (see `unknown_words`).

Everything is deterministic: a picture is a pure function of its spec (`Scene`, `ToyObject`), and specs are
drawn from a numpy Generator, so a seed fixes a data set. A picture takes 0.3 to 0.6 ms to draw on one core.
"""

import dataclasses
import math
import re
from dataclasses import dataclass
from itertools import product

import numpy as np
from PIL import Image, ImageDraw

# ---------------------------------------------------------------------------------------------------------------
# scenes
# ---------------------------------------------------------------------------------------------------------------

SCENE_HEIGHT, SCENE_WIDTH = 64, 384  # the tiny wide app's panorama
CROP_SIZE = 64  # one window of it: what the tiny SD sees and what the scene captions are trained on

SKIES = ("blue", "orange", "night")
LANDS = ("green hills", "snowy mountains", "a desert", "the sea", "a forest", "a village")
LIGHT_OF_SKY = {"blue": "sun", "orange": "sun", "night": "moon"}

# (zenith, horizon) colours; a strip's gradient is jittered around them so that colour alone is not a fingerprint
SKY_GRADIENTS = {
    "blue": ((60, 120, 220), (165, 205, 245)),
    "orange": ((225, 105, 40), (255, 195, 95)),
    "night": ((8, 12, 40), (35, 45, 95)),
}
SKY_JITTER = 12  # per channel
LIGHT_COLOURS = {"blue": (255, 235, 90), "orange": (255, 245, 185), "night": (235, 235, 215)}
# the land is lit by the sky: full daylight, warm evening light, dim bluish night
LIGHTING = {"blue": (1.0, 1.0, 1.0), "orange": (1.0, 0.8, 0.65), "night": (0.4, 0.45, 0.6)}

HORIZON_ROWS = (36, 46)  # the horizon's row, inclusive range
HILL_HEIGHT = 20  # px above the horizon; peaks and trees reach up to 25
LIGHT_RADII = (5, 7)  # px
LIGHT_ROWS = (8, 12)  # the light's centre sits high: the tallest peak or tree may hide its lower edge, never more
CUT_MARGIN = 1  # px kept between a crop edge and the light's disk, for "wholly in or wholly out"
NIGHT_STARS = 60  # per strip: about ten in every crop


@dataclass(frozen=True)
class Scene:
    """What a strip shows. `draw_scene` is a pure function of it; layout_seed fixes the land's details."""

    sky: str
    land: str
    light: bool  # a sun (a moon under a night sky)
    light_x: int  # the light's centre, px
    light_y: int
    light_radius: int
    horizon: int  # row of the horizon
    layout_seed: int


def sample_scene(rng: np.random.Generator, sky=None, land=None, light=None) -> Scene:
    """A random scene; sky, land and light (bool) are drawn uniformly unless given."""
    radius = int(rng.integers(LIGHT_RADII[0], LIGHT_RADII[1] + 1))
    return Scene(
        sky=sky if sky is not None else SKIES[rng.integers(len(SKIES))],
        land=land if land is not None else LANDS[rng.integers(len(LANDS))],
        light=bool(rng.random() < 0.5) if light is None else light,
        light_x=int(rng.integers(radius + CUT_MARGIN, SCENE_WIDTH - radius - CUT_MARGIN)),
        light_y=int(rng.integers(LIGHT_ROWS[0], LIGHT_ROWS[1] + 1)),
        light_radius=radius,
        horizon=int(rng.integers(HORIZON_ROWS[0], HORIZON_ROWS[1] + 1)),
        layout_seed=int(rng.integers(2**31)),
    )


def scene_caption(scene: Scene, crop_left=None) -> str:
    """The strip's caption, or that of the CROP_SIZE crop starting at column crop_left. The light is named only
    when it is wholly in view; a crop that cuts it has no true caption (ValueError)."""
    visible = scene.light
    if crop_left is not None:
        visibility = light_visibility(scene, crop_left)
        if visibility == "cut":
            raise ValueError(f"the crop at column {crop_left} cuts the {LIGHT_OF_SKY[scene.sky]} in two; pick another")
        visible = visibility == "whole"
    return scene_text(scene.land, scene.sky, visible)


def scene_text(land: str, sky: str, light_in_view: bool) -> str:
    article = "an" if sky[0] in "aeiou" else "a"
    return f"{land} under {article} {sky} sky" + (f" with a {LIGHT_OF_SKY[sky]}" if light_in_view else "")


def light_visibility(scene: Scene, crop_left: int) -> str:
    """"whole", "none" or "cut": how much of the scene's light the crop [crop_left, crop_left + CROP_SIZE) shows."""
    if not 0 <= crop_left <= SCENE_WIDTH - CROP_SIZE:
        raise ValueError(f"crop_left {crop_left} outside 0..{SCENE_WIDTH - CROP_SIZE}")
    if not scene.light:
        return "none"
    first, last = scene.light_x - scene.light_radius - CUT_MARGIN, scene.light_x + scene.light_radius + CUT_MARGIN
    if crop_left <= first and last < crop_left + CROP_SIZE:
        return "whole"
    if last < crop_left or first >= crop_left + CROP_SIZE:
        return "none"
    return "cut"


def random_scene_crop(rng: np.random.Generator, sky=None, land=None, light_in_view=None):
    """(a CROP_SIZE x CROP_SIZE RGB image, its caption): a random crop of a random strip, never cutting the light.
    The light is in view half of the time (unless light_in_view says), so both caption forms are equally common."""
    in_view = bool(rng.random() < 0.5) if light_in_view is None else light_in_view
    scene = sample_scene(rng, sky, land, light=True if in_view else None)
    wanted = "whole" if in_view else "none"
    lefts = [left for left in range(SCENE_WIDTH - CROP_SIZE + 1) if light_visibility(scene, left) == wanted]
    left = lefts[rng.integers(len(lefts))]
    crop = draw_scene(scene).crop((left, 0, left + CROP_SIZE, SCENE_HEIGHT))
    return crop, scene_caption(scene, left)


def draw_scene(scene: Scene) -> Image.Image:
    """The whole SCENE_HEIGHT x SCENE_WIDTH strip as an RGB image."""
    rng = np.random.default_rng(scene.layout_seed)
    image = Image.fromarray(sky_gradient(scene.sky, rng))
    draw = ImageDraw.Draw(image)
    if scene.sky == "night":
        for x, y in zip(rng.integers(0, SCENE_WIDTH, NIGHT_STARS), rng.integers(0, scene.horizon - 2, NIGHT_STARS)):
            draw.point((int(x), int(y)), fill=(210, 210, 230))
    if scene.light:
        x, y, r = scene.light_x, scene.light_y, scene.light_radius
        draw.ellipse((x - r, y - r, x + r, y + r), fill=LIGHT_COLOURS[scene.sky])
    LAND_PAINTERS[scene.land](draw, rng, scene.horizon, lambda rgb: lit(rgb, scene.sky))  # shade as the sky lights it
    return image


def sky_gradient(sky: str, rng: np.random.Generator) -> np.ndarray:
    zenith, horizon = (np.array(rgb) + rng.integers(-SKY_JITTER, SKY_JITTER + 1, 3) for rgb in SKY_GRADIENTS[sky])
    weight = np.linspace(0.0, 1.0, SCENE_HEIGHT)[:, None, None]
    column = (1 - weight) * zenith + weight * horizon
    return np.broadcast_to(np.clip(column, 0, 255).astype(np.uint8), (SCENE_HEIGHT, SCENE_WIDTH, 3)).copy()


def lit(rgb, sky: str) -> tuple:
    return tuple(int(channel * factor) for channel, factor in zip(rgb, LIGHTING[sky]))


def ridge(rng, horizon, amplitude, wavelengths) -> list:
    """A silhouette polygon along the whole strip: a sum of sines rising up to `amplitude` px above the horizon."""
    xs = np.arange(0, SCENE_WIDTH + 4, 4)
    height = np.zeros(len(xs))
    for wavelength in wavelengths:
        height += 0.5 + 0.5 * np.sin(2 * np.pi * xs / wavelength + rng.uniform(0, 2 * np.pi))
    ys = horizon - amplitude * height / len(wavelengths)
    return [(0, SCENE_HEIGHT), *zip(xs.tolist(), ys.tolist()), (SCENE_WIDTH, SCENE_HEIGHT)]


def ground(draw, horizon, rgb):
    draw.rectangle((0, horizon, SCENE_WIDTH, SCENE_HEIGHT), fill=rgb)


def paint_hills(draw, rng, horizon, shade):
    ground(draw, horizon, shade((70, 150, 60)))
    draw.polygon(ridge(rng, horizon, HILL_HEIGHT, rng.uniform(60, 160, 2)), fill=shade((110, 175, 95)))
    draw.polygon(ridge(rng, horizon + 4, HILL_HEIGHT * 0.6, rng.uniform(40, 120, 2)), fill=shade((60, 135, 50)))


def paint_mountains(draw, rng, horizon, shade):
    """Overlapping peaks along the whole strip, snow on their tops and on the ground."""
    ground(draw, horizon, shade((225, 230, 238)))
    x = -rng.uniform(0, 30)
    while x < SCENE_WIDTH + 30:
        height, half_width = rng.uniform(12, 24), rng.uniform(22, 34)
        top = horizon - height
        draw.polygon([(x - half_width, horizon), (x, top), (x + half_width, horizon)], fill=shade((115, 118, 135)))
        cap = 0.35  # the snow-capped share of the peak's height
        draw.polygon(
            [(x - half_width * cap, top + height * cap), (x, top), (x + half_width * cap, top + height * cap)],
            fill=shade((245, 245, 250)),
        )
        x += rng.uniform(26, 44)


def paint_desert(draw, rng, horizon, shade):
    ground(draw, horizon, shade((226, 196, 122)))
    draw.polygon(ridge(rng, horizon + 2, 7, rng.uniform(70, 150, 2)), fill=shade((208, 170, 98)))


def paint_sea(draw, rng, horizon, shade):
    ground(draw, horizon, shade((30, 90, 165)))
    for _ in range(45):
        x, y, length = rng.uniform(0, SCENE_WIDTH), rng.uniform(horizon + 2, SCENE_HEIGHT), rng.uniform(3, 10)
        draw.line((x, y, x + length, y), fill=shade((90, 150, 215)))


def paint_forest(draw, rng, horizon, shade):
    """Trees every few px: every crop is full of them."""
    ground(draw, horizon, shade((60, 125, 50)))
    x = rng.uniform(0, 6)
    while x < SCENE_WIDTH + 6:
        base = horizon + rng.uniform(0, 8)
        height, half_width = rng.uniform(12, 22), rng.uniform(4, 6)
        draw.rectangle((x - 1, base - 3, x + 1, base), fill=shade((95, 60, 30)))
        crown = (25, 95, 40) if rng.random() < 0.5 else (40, 120, 45)
        draw.polygon([(x - half_width, base - 3), (x, base - 3 - height), (x + half_width, base - 3)], fill=shade(crown))
        x += rng.uniform(7, 13)


HOUSE_WIDTHS = (14, 20)
HOUSE_SPACING = (26, 40)  # start to start; with the widest house, every crop still holds a whole one (40 + 20 <= 64)


def paint_village(draw, rng, horizon, shade):
    ground(draw, horizon, shade((90, 160, 70)))
    x = rng.uniform(0, HOUSE_SPACING[0])
    while x + HOUSE_WIDTHS[1] <= SCENE_WIDTH:
        width, height = rng.uniform(*HOUSE_WIDTHS), rng.uniform(9, 14)
        base = horizon + rng.uniform(2, 6)
        wall = ((235, 225, 205), (205, 172, 140), (240, 240, 240))[rng.integers(3)]
        roof = ((170, 50, 40), (120, 70, 50))[rng.integers(2)]
        draw.rectangle((x, base - height, x + width, base), fill=shade(wall))
        draw.polygon([(x - 2, base - height), (x + width / 2, base - height - 8), (x + width + 2, base - height)],
                     fill=shade(roof))
        draw.rectangle((x + width / 2 - 2, base - 6, x + width / 2 + 2, base), fill=shade((70, 45, 30)))
        x += rng.uniform(*HOUSE_SPACING)


LAND_PAINTERS = {
    "green hills": paint_hills, "snowy mountains": paint_mountains, "a desert": paint_desert,
    "the sea": paint_sea, "a forest": paint_forest, "a village": paint_village,
}

# ---------------------------------------------------------------------------------------------------------------
# objects
# ---------------------------------------------------------------------------------------------------------------

DIRECTIONS = ("up", "right", "down", "left")  # index = quarter turns clockwise from "up"
# caption noun -> (glyph, quarter turns clockwise of the glyph as drawn by GLYPH_PAINTERS)
SHAPES = {
    **{f"arrow pointing {d}": ("arrow", turns) for turns, d in enumerate(DIRECTIONS)},
    **{f"triangle pointing {d}": ("triangle", turns) for turns, d in enumerate(DIRECTIONS)},
    "circle": ("circle", 0),
    "letter N": ("N", 0), "letter Z": ("N", 1),  # Z is N turned a quarter clockwise
    "letter U": ("U", 0), "letter C": ("U", 1),  # C is U turned a quarter clockwise
}
# quarter turns after which a glyph looks the same again (N is symmetric under a half turn)
GLYPH_PERIODS = {"arrow": 4, "triangle": 4, "circle": 1, "N": 2, "U": 4}

OBJECT_COLOURS = {"red": (215, 40, 40), "green": (40, 160, 60), "blue": (40, 70, 210)}
COLOUR_JITTER = 20
BACKGROUNDS = ((245, 245, 245), (240, 230, 200), (205, 205, 205), (215, 228, 240))  # plain and light: never named
GLYPH_SCALES = (0.56, 0.68)  # glyph radius / half the side; at most 0.68 * 1/2 = 0.34 < 3/8, inner_rotate's disk
SUPERSAMPLED_SIDE = 512  # objects are drawn at least this large, then box-filtered down: anti-aliased edges


@dataclass(frozen=True)
class ToyObject:
    """What an object picture shows. `draw_object` is a pure function of it and the size."""

    shape: str  # a key of SHAPES
    colour: str  # a key of OBJECT_COLOURS
    rgb: tuple  # the colour as drawn (jittered)
    background: tuple
    scale: float  # the glyph's radius relative to half the side


def sample_object(rng: np.random.Generator, shape=None, colour=None) -> ToyObject:
    colour = colour if colour is not None else list(OBJECT_COLOURS)[rng.integers(len(OBJECT_COLOURS))]
    base = np.array(OBJECT_COLOURS[colour])
    return ToyObject(
        shape=shape if shape is not None else list(SHAPES)[rng.integers(len(SHAPES))],
        colour=colour,
        rgb=tuple(np.clip(base + rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, 3), 0, 255).tolist()),
        background=BACKGROUNDS[rng.integers(len(BACKGROUNDS))],
        scale=float(rng.uniform(*GLYPH_SCALES)),
    )


def object_caption(obj: ToyObject) -> str:
    return f"a {obj.colour} {obj.shape}"


def turned_cw(obj: ToyObject):
    """The object whose picture is this one's turned 90° clockwise, or None when that has no caption (U → ∩)."""
    glyph, turns = SHAPES[obj.shape]
    for shape, (other_glyph, other_turns) in SHAPES.items():
        if other_glyph == glyph and other_turns == (turns + 1) % GLYPH_PERIODS[glyph]:
            return dataclasses.replace(obj, shape=shape)
    return None


def random_object(rng: np.random.Generator, size: int = 64, shape=None, colour=None):
    """(a size x size RGB image, its caption)."""
    obj = sample_object(rng, shape, colour)
    return draw_object(obj, size), object_caption(obj)


def draw_object(obj: ToyObject, size: int) -> Image.Image:
    """The object centred on its background, size x size px. A turned glyph is the upright one drawn and turned
    as a whole (np.rot90), so turned captions are exact pixel rotations of each other."""
    factor = max(1, SUPERSAMPLED_SIDE // size)
    side = size * factor
    canvas = Image.new("RGB", (side, side), obj.background)
    glyph, turns = SHAPES[obj.shape]
    radius = obj.scale * side / 2
    GLYPH_PAINTERS[glyph](ImageDraw.Draw(canvas), side / 2, radius, obj.rgb)
    pixels = np.asarray(canvas.reduce(factor))
    return Image.fromarray(np.ascontiguousarray(np.rot90(pixels, k=-turns)))  # np.rot90 turns counter-clockwise


# Glyphs in unit coordinates (x right, y down, the glyph inside the unit disk), upright: pointing up, N, U.
def unit_polygon(centre, radius, points):
    return [(centre + radius * x, centre + radius * y) for x, y in points]


def paint_arrow(draw, centre, radius, rgb):
    draw.polygon(unit_polygon(centre, radius, [(-0.18, -0.12), (0.18, -0.12), (0.18, 0.95), (-0.18, 0.95)]), fill=rgb)
    draw.polygon(unit_polygon(centre, radius, [(0.0, -0.95), (0.62, -0.1), (-0.62, -0.1)]), fill=rgb)


def paint_triangle(draw, centre, radius, rgb):
    # equilateral, circumradius 0.95, centroid at the centre: vertices at -90°, 30° and 150°
    corners = [(0.95 * math.cos(math.radians(a)), 0.95 * math.sin(math.radians(a))) for a in (-90, 30, 150)]
    draw.polygon(unit_polygon(centre, radius, corners), fill=rgb)


def paint_circle(draw, centre, radius, rgb):
    r = 0.8 * radius
    draw.ellipse((centre - r, centre - r, centre + r, centre + r), fill=rgb)


STROKE = 0.26  # letter stroke width, in glyph radii


def paint_n(draw, centre, radius, rgb):
    x, y, half = 0.5, 0.7, STROKE / 2
    for left in (-x - half, x - half):
        draw.polygon(unit_polygon(centre, radius, [(left, -y), (left + STROKE, -y), (left + STROKE, y), (left, y)]),
                     fill=rgb)
    draw.polygon(unit_polygon(centre, radius, [(-x - half, -y), (-x + half, -y), (x + half, y), (x - half, y)]),
                 fill=rgb)


def paint_u(draw, centre, radius, rgb):
    x, top, bend = 0.5, -0.7, 0.1  # the straight strokes run from `top` down to `bend`, then a half circle
    half = STROKE / 2
    for left in (-x - half, x - half):
        draw.polygon(unit_polygon(centre, radius, [(left, top), (left + STROKE, top), (left + STROKE, bend),
                                                   (left, bend)]), fill=rgb)
    outer = (x + half) * radius
    bend_y = centre + bend * radius
    draw.arc((centre - outer, bend_y - outer, centre + outer, bend_y + outer), 0, 180, fill=rgb,
             width=round(STROKE * radius))


GLYPH_PAINTERS = {"arrow": paint_arrow, "triangle": paint_triangle, "circle": paint_circle, "N": paint_n, "U": paint_u}

# ---------------------------------------------------------------------------------------------------------------
# captions and vocabulary (the toy prompts the apps run are data/toy_*_prompts.json)
# ---------------------------------------------------------------------------------------------------------------

SCENE_CAPTIONS = tuple(scene_text(land, sky, light) for land, sky, light in product(LANDS, SKIES, (False, True)))
OBJECT_CAPTIONS = tuple(f"a {colour} {shape}" for shape, colour in product(SHAPES, OBJECT_COLOURS))
VOCABULARY = frozenset(word for caption in SCENE_CAPTIONS + OBJECT_CAPTIONS for word in caption.lower().split())


def unknown_words(prompt: str) -> list:
    """The words of `prompt` outside VOCABULARY (case and punctuation ignored), each once, in order."""
    words = re.findall(r"[a-z]+", prompt.lower())
    return list(dict.fromkeys(word for word in words if word not in VOCABULARY))
