"""Extension Task 8: the update rules of higher-resolution sampling (DemoFusion: Du, Chang, Hospedales, Song and Ma,
"DemoFusion: Democratising High-Resolution Image Generation With No $$$", CVPR 2024, code PRIS-CV/DemoFusion; and
AccDiffusion: Lin, Lin, Zhao and Ji, "AccDiffusion: An Accurate Method for Higher-Resolution Image Generation",
ECCV 2024, code lzhxmu/AccDiffusion).

At scale s the latent z_t is s times the model's side. Every step mixes three things, by weights that follow the
cosine factor of the timestep t out of T training steps, cosf = ½(1 + cos(π(T − t)/T)) (1 at t = T, 0 at t = 0):

- the skip residual: z_t ← (1 − c1)·z_t + c1·ẑ_t, ẑ_t the upsampled lower-scale image noised to level t, c1 = cosf^α1;
- the local path: overlapping windows of the model's size (MultiDiffusion);
- the global path, dilated sampling: the s² interleaved sub-latents D^k = z_t[:, :, h::s, w::s], k = h·s + w, each the
  model's size, denoised as images of their own; the UNet sees a Gaussian-blurred copy, blurred by σ·c3 with
  c3 = 0.99·cosf^α3 + 0.01;

and z_{t−1} = (1 − c2)·local + c2·global, c2 = cosf^α2. AccDiffusion adds window interaction (before the UNet the
sub-latents swap places at every latent pixel by a random permutation, and the noise predictions swap back after it)
and gives each window the words of the prompt whose cross-attention mask covers at least a share c of it.

`guidance/highres_image_model.py` runs the phases and the paths; these functions are its arithmetic.
"""

import math

import torch


def cosine_schedules(timestep, num_train_timesteps, alpha_1, alpha_2, alpha_3):
    """DemoFusion's three weights at timestep t (a number or a 0-dim tensor) out of T = num_train_timesteps:

        cosf = ½·(1 + cos(π·(T − t)/T)),   c1 = cosf^α1,   c2 = cosf^α2,   c3 = 0.99·cosf^α3 + 0.01

    c1 weighs the skip residual, c2 the global path against the local one, c3 scales the blur's σ. All three are 1
    at t = T (the noisiest step leans on the upsampled image) and fall to 0 (c3 to 0.01) at t = 0.
    Returns (c1, c2, c3) as Python floats.
    """
    ### BEGIN SOLUTION
    cosine_factor = 0.5 * (1 + math.cos(math.pi * (num_train_timesteps - float(timestep)) / num_train_timesteps))
    return cosine_factor ** alpha_1, cosine_factor ** alpha_2, 0.99 * cosine_factor ** alpha_3 + 0.01
    ### END SOLUTION


def dilated_sampling(z, scale):
    """The s² interleaved sub-latents of z, [1, C, H, W] with H and W multiples of s = scale (DemoFusion's dilated
    sampling; AccDiffusion's Eq. 9):

        D^k = z[:, :, h::s, w::s],   k = h·s + w   (h, w = 0 … s − 1: row offset first)

    so that every latent pixel is in exactly one D^k, and D^k is z seen at 1/s of its resolution.
    Returns [s², C, H/s, W/s].
    """
    ### BEGIN SOLUTION
    return torch.cat([z[:, :, row::scale, column::scale] for row in range(scale) for column in range(scale)])
    ### END SOLUTION


def undo_dilated_sampling(sub_latents, scale):
    """The inverse of dilated_sampling: sub-latent k = h·s + w, [s², C, h', w'], back at rows h, h + s, ... and columns
    w, w + s, ... of one canvas. Returns [1, C, s·h', s·w']."""
    ### BEGIN SOLUTION
    count, channels, height, width = sub_latents.shape
    canvas = sub_latents.new_empty(1, channels, height * scale, width * scale)
    for index in range(count):
        row, column = divmod(index, scale)
        canvas[0, :, row::scale, column::scale] = sub_latents[index]
    return canvas
    ### END SOLUTION


def random_permutations(shape, generator):
    """A random permutation of 0 … B − 1 at every position of [B, C, h, w] (along dimension 0), each drawn on its own:
    the ranks of independent uniform numbers. A long tensor of `shape`, on the CPU."""
    return torch.rand(shape, generator=generator).argsort(dim=0)


def shuffle_sub_latents(sub_latents, permutation):
    """Window interaction (AccDiffusion's position-wise bijection, its Fig. 5): at every position (c, y, x) the B
    sub-latents trade values,

        shuffled[k, c, y, x] = sub_latents[π_{c,y,x}(k), c, y, x]

    sub_latents: [B, C, h, w]; permutation: π, a long tensor of the same shape whose every [:, c, y, x] is a
    permutation of 0 … B − 1. Returns [B, C, h, w].
    """
    ### BEGIN SOLUTION
    return sub_latents.gather(0, permutation)
    ### END SOLUTION


def unshuffle_sub_latents(shuffled, permutation):
    """The inverse of shuffle_sub_latents with the same π: each value goes back to the sub-latent it came from,

        out[π_{c,y,x}(k), c, y, x] = shuffled[k, c, y, x]

    so that unshuffle(shuffle(x, π), π) = x. The model applies it to the UNet's noise predictions. Returns [B, C, h, w].
    """
    ### BEGIN SOLUTION
    return torch.empty_like(shuffled).scatter_(0, permutation, shuffled)
    ### END SOLUTION


def window_words(masks, windows, threshold):
    """AccDiffusion's patch-content-aware prompts (its Eq. 8): which words go into which window.

    masks: B_j, word j's binary mask (1 where its cross-attention is high) on the whole canvas, [J, H, W];
    windows: (h0, h1, w0, w1) of each window on that canvas (h1, w1 excluded); threshold: c in 0..1.
    Word j is in window i's prompt iff its mask covers at least the share c of the window:

        Σ_{y∈[h0,h1), x∈[w0,w1)} B_j[y, x] / ((h1 − h0)·(w1 − w0))  ≥  c

    Returns a bool tensor [N windows, J words].
    """
    ### BEGIN SOLUTION
    shares = torch.stack([masks[:, h0:h1, w0:w1].sum(dim=(1, 2)) / ((h1 - h0) * (w1 - w0))
                          for h0, h1, w0, w1 in windows])
    return shares >= threshold
    ### END SOLUTION
