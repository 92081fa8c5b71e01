"""Turning samples into things people look at: PNGs, side-by-sides and GIFs (Pillow only, no ffmpeg)."""

import torch
from PIL import Image


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """A [3, H, W] image in the model range [-1, 1] as an 8-bit RGB PIL image."""
    pixels = ((image.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).cpu().numpy())


def side_by_side(images, gap=8) -> Image.Image:
    """Images of the same height in one row, separated by white gaps."""
    width = sum(image.width for image in images) + gap * (len(images) - 1)
    canvas = Image.new("RGB", (width, images[0].height), "white")
    x = 0
    for image in images:
        canvas.paste(image, (x, 0))
        x += image.width + gap
    return canvas


def save_view_gif(path, view_images, hold_frames=12, fade_frames=12, frame_ms=60) -> None:
    """An animated GIF that holds each view, then cross-fades to the next, looping back to the first."""
    frames = []
    for current, following in zip(view_images, view_images[1:] + view_images[:1]):
        frames += [current] * hold_frames
        frames += [Image.blend(current, following, step / fade_frames) for step in range(1, fade_frames)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)


BOX_COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#9a6324"]


def labelled_boxes(image: Image.Image, boxes, labels, min_width=768) -> Image.Image:
    """The image (enlarged to at least `min_width` px, nearest-neighbour) with each box (top, bottom, left, right, in
    the image's pixels) outlined and numbered in its own colour, and below it a legend "number: label" per box."""
    from PIL import ImageDraw

    zoom = max(1, -(-min_width // image.width))
    picture = image.resize((image.width * zoom, image.height * zoom), Image.NEAREST)
    line_height = 14
    canvas = Image.new("RGB", (picture.width, picture.height + 8 + line_height * len(boxes)), "white")
    canvas.paste(picture, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for number, ((top, bottom, left, right), label) in enumerate(zip(boxes, labels)):
        colour = BOX_COLOURS[number % len(BOX_COLOURS)]
        inset = 2 * (number % 3)  # windows overlap: nested outlines stay apart
        draw.rectangle((left * zoom + inset, top * zoom + inset, right * zoom - 1 - inset, bottom * zoom - 1 - inset),
                       outline=colour, width=2)
        draw.text((left * zoom + inset + 4, top * zoom + inset + 3), str(number), fill=colour)
        draw.text((4, picture.height + 4 + line_height * number), f"{number}: {label or '(no word: empty prompt)'}",
                  fill=colour)
    return canvas
