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
