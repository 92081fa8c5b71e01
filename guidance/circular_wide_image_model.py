"""Extension: 360° panoramas (`--circular`), whose right edge continues into the left one.

Canonical space: the panorama latent z, [1, 4, H/8, W/8], read as a cylinder: column W/8 − 1 is next to column 0.
Instance spaces: windows that start every `window_stride` latent px across the whole width, row by row; a window
that starts within a window's width of the right edge runs past it (w1 > W/8 in `self.mapper`) and takes its
remaining columns from the left edge. Every column then lies in the same number of windows (size / stride), so no
place of the panorama, the wrap included, is a border (MultiDiffusion's circular padding, SyncDiffusion's loop
closure). The decode wraps too: see `decode`.
"""

import torch

from guidance.wide_image_model import WideImageModel, get_windows
from utils.image_utils import tensor_to_pil


def get_circular_windows(height, width, window_size, stride):
    """(h0, h1, w0, w1) of every window, row by row: rows as `get_windows`, columns starting at 0, stride, ... up to
    the right edge, each window_size wide; w1 > width means the window wraps (columns taken modulo width). The
    config check guarantees that width and window_size are multiples of the stride."""
    rows = get_windows(height, window_size, window_size, stride)  # one window's width: the rows only
    return [(h0, h1, w0, w0 + window_size) for h0, h1, _, _ in rows for w0 in range(0, width, stride)]


class CircularWideImageModel(WideImageModel):
    circular = True

    def init_mapper(self):
        super().init_mapper()
        self.mapper = get_circular_windows(self.latent_height, self.latent_width, self.config.latent_instance_size,
                                           self.config.window_stride)

    def forward_mapping(self, z_t, **kwargs):
        """f: crop the canonical latent [1, C, H, W] into the windows of `self.mapper`, [N, C, h, w]; window
        (h0, h1, w0, w1) takes columns w0, w0 + 1, ..., w1 − 1, each modulo W (past the right edge: from the left).
        Keyword arguments: ignored, as WideImageModel.forward_mapping."""
        ### BEGIN SOLUTION
        windows = torch.tensor(self.mapper, device=z_t.device)
        rows = windows[:, 0, None] + torch.arange(windows[0, 1] - windows[0, 0], device=z_t.device)
        # the columns of each window on the cylinder: past the right edge, back to column 0
        cols = (windows[:, 2, None] + torch.arange(windows[0, 3] - windows[0, 2], device=z_t.device)) % self.latent_width
        crops = z_t[0][:, rows[:, :, None], cols[:, None, :]]  # [C, N, h, w]
        return crops.permute(1, 0, 2, 3)
        ### END SOLUTION

    def inverse_mapping(self, x_ts, **kwargs):
        """g: paste the windows [N, C, h, w] back onto the canvas [1, C, H, W], columns modulo W as forward_mapping
        takes them, averaging overlaps by their counts. Keyword arguments: ignored, as WideImageModel.inverse_mapping."""
        ### BEGIN SOLUTION
        windows = torch.tensor(self.mapper, device=x_ts.device)
        rows = windows[:, 0, None] + torch.arange(x_ts.shape[-2], device=x_ts.device)
        cols = (windows[:, 2, None] + torch.arange(x_ts.shape[-1], device=x_ts.device)) % self.latent_width
        # flat canvas index of every window pixel, [N*h*w]
        canvas_index = (rows[:, :, None] * self.latent_width + cols[:, None, :]).flatten()
        channels = x_ts.shape[1]
        values = x_ts.permute(1, 0, 2, 3).reshape(channels, -1)
        total = torch.zeros(channels, self.latent_height * self.latent_width, dtype=x_ts.dtype, device=x_ts.device)
        total.index_add_(1, canvas_index, values)
        count = torch.bincount(canvas_index, minlength=total.shape[1])
        return (total / count).reshape(1, channels, self.latent_height, self.latent_width)
        ### END SOLUTION

    def decode(self, z0):
        """The canonical latent with half its width of wrap-around context on each side (the right half before it,
        the left half after it), in one VAE call, cropped back to the panorama.

        The VAE decoder is not local: its GroupNorm statistics and mid-block attention span the whole latent. With
        half the width on each side, every column appears exactly twice in what it decodes, so those see the same
        columns however the panorama is turned, and every column, those at the wrap included, is decoded between
        its own neighbours: turning z turns the picture (tests/test_circular_panorama.py measures how closely; with
        diffusers' 8 columns of context it is several times further off). It costs a decode twice as wide
        (--vae_tiling decodes it in tiles)."""
        before = self.latent_width // 2
        wrapped = torch.cat([z0[..., before:], z0, z0[..., :before]], dim=-1)  # before + W + (W − before) columns
        image = self.vae_decode(wrapped)
        factor = image.shape[-1] // wrapped.shape[-1]  # the VAE's: 8 px per latent column
        return tensor_to_pil(image[0, :, :, before * factor:(before + self.latent_width) * factor])
