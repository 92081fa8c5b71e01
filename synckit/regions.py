"""Region prompts' layout files (MultiDiffusion's region-based generation, `main.py --app wide_image --regions`):
reading and checking them, the masks the fusion uses, and the overlay image that shows them.

A layout is a JSON object:

    {
      "background": "a desert under a blue sky",                               optional
      "regions": [
        {"prompt": "a desert under a night sky with a moon", "box": [192, 0, 384, 32]},
        {"prompt": "the sea under a blue sky", "mask": "region_masks/toy_sea.png"}
      ]
    }

Each region has a prompt and either a box [left, top, right, bottom] in pixels of the canvas (the panorama: right
and bottom excluded, as PIL's crop boxes), or a mask: a PNG of exactly the canvas's size, its path relative to the
layout file, white (grey level 128 or more, as the official code's threshold 0.5) where the region is. Where no region
is, the background prompt is; without one, the regions must cover every pixel. The latent, 8× smaller, takes each
8×8 block's top-left pixel (the official code's nearest-neighbour resizing).

Everything is checked here, before any model loads: a file that does not parse (named with its line and column),
unknown keys, boxes outside the canvas, masks of the wrong size, empty masks and pixels no region covers each stop
with one `LayoutError` that says what to change.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LAYOUT_KEYS = ("background", "regions")
REGION_KEYS = ("prompt", "box", "mask")
MASK_THRESHOLD = 128  # grey levels ≥ this are inside (the official code's 0.5 of 255)
LAYOUT_FORM = ('{"background": text (optional), "regions": [{"prompt": text, "box": [left, top, right, bottom]} or '
               '{"prompt": text, "mask": "a PNG relative to the layout"}, ...]}')


class LayoutError(ValueError):
    """A layout file that cannot be used; the message names the file, what is wrong and what to change."""


@dataclass(frozen=True)
class Region:
    prompt: str
    source: str  # "box [l, t, r, b]" or "mask PATH", for messages and run.json
    mask: np.ndarray  # bool [height, width], the canvas's pixels inside the region


@dataclass(frozen=True)
class Layout:
    path: Path
    background: str | None
    regions: tuple

    @property
    def prompts(self) -> tuple:
        """Every prompt in instance order: the background's first (when there is one), then the regions'."""
        return ((self.background,) if self.background is not None else ()) + tuple(r.prompt for r in self.regions)

    @property
    def sources(self) -> tuple:
        """Where each prompt of `prompts` applies, in the same order."""
        return (("background",) if self.background is not None else ()) + tuple(r.source for r in self.regions)

    def latent_masks(self, factor: int) -> np.ndarray:
        """The regions' masks at latent size, float32 [regions, height/factor, width/factor], 1 inside: each
        factor×factor block's top-left pixel, as the official code's nearest-neighbour resizing."""
        return np.stack([region.mask[::factor, ::factor] for region in self.regions]).astype(np.float32)


def read_layout(path, height: int, width: int, factor: int) -> Layout:
    """The layout file `path` for a height×width-px canvas whose latent is `factor`× smaller, every part checked.
    Raises LayoutError."""
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"layout file {path} does not exist; check the path given to --regions")
    try:
        layout = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise LayoutError(f"layout file {path}, line {err.lineno} column {err.colno}: {err.msg}; "
                          f"a layout is {LAYOUT_FORM}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise LayoutError(f"cannot read layout file {path} ({err})") from err
    if not isinstance(layout, dict):
        raise LayoutError(f"layout file {path} must hold a JSON object: {LAYOUT_FORM}")
    unknown_keys(path, "the layout", layout, LAYOUT_KEYS)
    background = layout.get("background")
    if background is not None and (not isinstance(background, str) or not background.strip()):
        raise LayoutError(f'layout file {path}: "background" must be a non-empty prompt, or be left out')
    entries = layout.get("regions")
    if not isinstance(entries, list) or not entries:
        raise LayoutError(f'layout file {path}: "regions" must be a non-empty list of regions: {LAYOUT_FORM}')
    regions = tuple(read_region(path, number, entry, height, width, factor)
                    for number, entry in enumerate(entries, 1))
    if background is None:
        uncovered = ~np.logical_or.reduce([region.mask for region in regions])
        if uncovered.any():
            rows, columns = np.nonzero(uncovered)
            raise LayoutError(
                f"layout file {path} has no background prompt, and {int(uncovered.sum())} of the canvas's "
                f"{width}x{height} pixels lie in no region (the first at x={columns[0]}, y={rows[0]}): add "
                f'"background": "a prompt" for them, or regions that cover the whole canvas'
            )
    return Layout(path, background, regions)


def unknown_keys(path, what, entry: dict, known) -> None:
    unknown = [key for key in entry if key not in known]
    if unknown:
        raise LayoutError(f"layout file {path}: {what} has unknown key {unknown[0]!r}; its keys are "
                          f"{', '.join(map(repr, known))}")


def read_region(path, number, entry, height, width, factor) -> Region:
    what = f"region {number}"
    if not isinstance(entry, dict):
        raise LayoutError(f'layout file {path}: {what} is not a JSON object {{"prompt": ..., "box" or "mask": ...}}')
    unknown_keys(path, what, entry, REGION_KEYS)
    prompt = entry.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise LayoutError(f'layout file {path}: {what} needs a "prompt", a non-empty text')
    what = f"region {number} ({prompt!r})"
    if ("box" in entry) == ("mask" in entry):
        raise LayoutError(f'layout file {path}: {what} needs exactly one of "box" [left, top, right, bottom] (px) '
                          f'and "mask" (a PNG file)')
    if "box" in entry:
        source, mask = box_mask(path, what, entry["box"], height, width)
    else:
        source, mask = png_mask(path, what, entry["mask"], height, width)
    if not mask.any():
        raise LayoutError(f"layout file {path}: {what}'s {source} covers no pixel; draw the region in it (white)")
    if not mask[::factor, ::factor].any():
        raise LayoutError(
            f"layout file {path}: {what}'s {source} covers no latent pixel: the latent is {factor}x smaller and takes "
            f"each {factor}x{factor} block's top-left pixel (x and y multiples of {factor}), and the region holds "
            f"none of them; make it larger"
        )
    return Region(prompt, source, mask)


def box_mask(path, what, box, height, width) -> tuple:
    # bool is an int to Python, but `true` is no pixel
    if not (isinstance(box, list) and len(box) == 4
            and all(isinstance(value, int) and not isinstance(value, bool) for value in box)):
        raise LayoutError(f"layout file {path}: {what}'s box must be 4 whole numbers [left, top, right, bottom] in "
                          f"pixels, got {json.dumps(box)}")
    left, top, right, bottom = box
    if not (0 <= left < right <= width and 0 <= top < bottom <= height):
        raise LayoutError(
            f"layout file {path}: {what}'s box {box} is empty or reaches outside the {width}x{height} canvas: it "
            f"needs 0 <= left < right <= {width} and 0 <= top < bottom <= {height} (right and bottom excluded)"
        )
    mask = np.zeros((height, width), dtype=bool)
    mask[top:bottom, left:right] = True
    return f"box {box}", mask


def png_mask(path, what, name, height, width) -> tuple:
    from PIL import Image, UnidentifiedImageError

    if not isinstance(name, str) or not name.strip():
        raise LayoutError(f"layout file {path}: {what}'s mask must be a PNG file name, relative to the layout")
    file = path.parent / name
    if not file.is_file():
        raise LayoutError(f"layout file {path}: {what}'s mask {file} does not exist (mask paths are relative to the "
                          "layout file's folder)")
    try:
        with Image.open(file) as image:
            grey = np.asarray(image.convert("L"))
    except (OSError, UnidentifiedImageError) as err:
        raise LayoutError(f"layout file {path}: {what}'s mask {file} is not an image PIL can read ({err})") from err
    if grey.shape != (height, width):
        raise LayoutError(
            f"layout file {path}: {what}'s mask {file} is {grey.shape[1]}x{grey.shape[0]} px, but the canvas is "
            f"{width}x{height} (--panorama_width x --panorama_height): draw the mask at the canvas's size"
        )
    return f"mask {name}", grey >= MASK_THRESHOLD


# The overlay's colours, one per region in order (then again): strong and far apart.
OVERLAY_COLOURS = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
                   (70, 240, 240), (240, 50, 230))
OVERLAY_OPACITY = 0.45
LEGEND_LINE = 14  # px per legend line, for PIL's default bitmap font


def overlay(image, layout: Layout, factor: int):
    """The image with each region tinted in its colour where the fusion counts it (its latent mask, each latent pixel
    a factor×factor block), and below it a legend: each region's colour and prompt, then the background's."""
    from PIL import Image, ImageDraw

    picture = np.asarray(image.convert("RGB"), dtype=np.float32)
    for index, mask in enumerate(layout.latent_masks(factor)):
        inside = np.kron(mask, np.ones((factor, factor), dtype=np.float32))[..., None]
        colour = np.array(OVERLAY_COLOURS[index % len(OVERLAY_COLOURS)], dtype=np.float32)
        picture = picture * (1 - OVERLAY_OPACITY * inside) + colour * OVERLAY_OPACITY * inside
    lines = [(OVERLAY_COLOURS[index % len(OVERLAY_COLOURS)], region.prompt)
             for index, region in enumerate(layout.regions)]
    if layout.background is not None:
        lines.append((None, f"background: {layout.background}"))
    canvas = Image.new("RGB", (image.width, image.height + LEGEND_LINE * len(lines) + 4), "white")
    canvas.paste(Image.fromarray(picture.round().clip(0, 255).astype(np.uint8)), (0, 0))
    draw = ImageDraw.Draw(canvas)
    for number, (colour, text) in enumerate(lines):
        top = image.height + 2 + LEGEND_LINE * number
        if colour is not None:
            draw.rectangle((2, top + 2, 12, top + 11), fill=colour)
        draw.text((16, top), text, fill="black")
    return canvas
