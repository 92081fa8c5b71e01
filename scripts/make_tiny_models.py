"""The tiny models' architectures, written untrained: the diffusion pipelines the course uses, at tiny widths.

    stable-diffusion-2-base-tiny/   like stabilityai/stable-diffusion-2-base  (StableDiffusionPipeline)
    IF-I-M-v1.0-tiny/                like DeepFloyd/IF-I-M-v1.0                 (IFPipeline)
    IF-II-M-v1.0-tiny/               like DeepFloyd/IF-II-M-v1.0                (IFSuperResolutionPipeline)

Each folder has the real model's file layout, file names, component classes and kinds of blocks, so the real
loading calls (`from_pretrained`) load it and the real geometry (8x latent factor, 4 latent channels, 64 px ->
256 px cascade, 6 output channels, ...) is exercised. Only the widths are tiny. scripts/train_toy_models.py builds
its folders with these functions and trains them on the toy world; tiny_models/ ships the trained ones (the toy
CLIP's architecture is in scripts/toy_training/clip.py). The weights written here are random: noise, not pictures.

Usage:  python scripts/make_tiny_models.py --out /tmp/untrained [--force]

Deterministic: fixed seeds, no network, no training; running it twice gives byte-identical files
(for the same torch / diffusers / transformers versions).
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

import diffusers
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel, T5Tokenizer

from synckit import toyworld

SD_NAME = "stable-diffusion-2-base-tiny"
IF_I_NAME = "IF-I-M-v1.0-tiny"
IF_II_NAME = "IF-II-M-v1.0-tiny"
IF_I_SIZE = 32  # px: the toy stage I's pictures (the real one's: 64)
IF_II_SIZE = 128  # px: the toy stage II's, the same factor 4 (the real one's: 256)

TEXT_DIM = 32  # hidden size of both tiny text encoders = cross-attention width of the UNets
MAX_TOKENS = 77  # CLIP's context length; IF also pads its T5 prompts to 77

# Words that get a token of their own in both tokenizers (the course's prompts, common English and every word of
# the toy world's captions, which the trained tiny models learn); any other text still tokenizes, into smaller pieces.
COURSE_WORDS = """
a an the of in on at with and by for to from is are over under near
photo photograph painting oil pencil sketch lithograph watercolor drawing picture view image
horse duck rabbit dog cat deer goldfish maine coon truck car tower queen england pisa
mountain village snowy library theater canyon table waterfall flower flowers arrangements
students classroom city skyline night skyscrapers ocean coral reef beautiful sweeping panoramic
grand sunset sunrise forest river lake beach desert field sky clouds street castle bridge
""".split()
WORDS = list(dict.fromkeys(COURSE_WORDS + sorted(toyworld.VOCABULARY)))


# --------------------------------------------------------------------------------------------
# Stable Diffusion 2 base
# --------------------------------------------------------------------------------------------

def bytes_to_unicode() -> dict:
    """The byte-level BPE alphabet: one printable unicode character for each of the 256 bytes.

    Printable latin-1 bytes stand for themselves; the others (controls, space, ...) are shifted to
    code points from 256 on, so no byte maps to whitespace or a control character.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping, shifted = {}, 0
    for byte in range(256):
        if byte in printable:
            mapping[byte] = chr(byte)
        else:
            mapping[byte] = chr(256 + shifted)
            shifted += 1
    # CLIP's vocab lists the printable bytes first, then the shifted ones
    return dict(sorted(mapping.items(), key=lambda item: (item[0] not in printable, item[0])))


def clip_vocab_and_merges():
    """A CLIP-style byte-level BPE: 256 byte symbols, the same with the end-of-word mark '</w>',
    merges that spell each of WORDS left to right, then the two special tokens (last, as in CLIP)."""
    alphabet = list(bytes_to_unicode().values())
    tokens = alphabet + [symbol + "</w>" for symbol in alphabet]
    merges = []
    for word in WORDS:
        parts = list(word.lower())
        parts[-1] += "</w>"
        while len(parts) > 1:
            merge = (parts[0], parts[1])
            if merge not in merges:
                merges.append(merge)
                tokens.append(parts[0] + parts[1])
            parts = [parts[0] + parts[1], *parts[2:]]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    return vocab, merges


def write_clip_tokenizer(folder: Path) -> int:
    """vocab.json + merges.txt + tokenizer_config.json, the file set of the real SD2 tokenizer."""
    folder.mkdir(parents=True)
    vocab, merges = clip_vocab_and_merges()
    write_json(folder / "vocab.json", vocab)
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{left} {right}\n" for left, right in merges), encoding="utf-8"
    )
    # SD2's OpenCLIP tokenizer pads with "!" (id 0) instead of <|endoftext|>
    special_tokens = dict(bos_token="<|startoftext|>", eos_token="<|endoftext|>", pad_token="!", unk_token="<|endoftext|>")
    write_json(folder / "special_tokens_map.json", special_tokens)
    write_json(
        folder / "tokenizer_config.json",
        dict(
            tokenizer_class="CLIPTokenizer", model_max_length=MAX_TOKENS, do_lower_case=True,
            add_prefix_space=False, errors="replace", **special_tokens,
        ),
    )
    return len(vocab)


def make_stable_diffusion(folder: Path):
    folder.mkdir(parents=True)
    vocab_size = write_clip_tokenizer(folder / "tokenizer")

    # CLIP text encoder: SD2 uses OpenCLIP ViT-H's text tower (1024 wide, 23 layers); ids as in its config
    torch.manual_seed(1)
    text_config = CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=TEXT_DIM, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=MAX_TOKENS, projection_dim=TEXT_DIM,
        hidden_act="gelu", layer_norm_eps=1e-5, bos_token_id=0, pad_token_id=1, eos_token_id=2,
    )
    CLIPTextModel(text_config).save_pretrained(folder / "text_encoder")

    # VAE: 4 levels (3 downsamplings) keep SD's 8x pixel->latent factor; 4 latent channels
    torch.manual_seed(2)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 16, 16), layers_per_block=1, norm_num_groups=4,
        act_fn="silu", sample_size=64, scaling_factor=0.18215,
    )
    vae.save_pretrained(folder / "vae")

    # UNet: SD2 layout (cross-attention blocks then a plain one, linear projections, a per-level
    # list in attention_head_dim that diffusers reads as the number of heads), 8x8 latents = 64 px.
    # 64/128 channels: trained on the toy scenes at 32/64, it drew the right sky but rarely the right land.
    torch.manual_seed(3)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        mid_block_type="UNetMidBlock2DCrossAttn",
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(64, 128), layers_per_block=1, attention_head_dim=(4, 8),
        cross_attention_dim=TEXT_DIM, use_linear_projection=True, norm_num_groups=32,
        act_fn="silu", flip_sin_to_cos=True, freq_shift=0, downsample_padding=1, upcast_attention=False,
    )
    unet.save_pretrained(folder / "unet")

    # the real SD2-base scheduler config, field for field
    write_json(
        folder / "scheduler" / "scheduler_config.json",
        scheduler_config(
            "PNDMScheduler", beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
            num_train_timesteps=1000, prediction_type="epsilon", set_alpha_to_one=False,
            skip_prk_steps=True, steps_offset=1, clip_sample=False, trained_betas=None,
        ),
    )

    write_json(
        folder / "model_index.json",
        model_index(
            "StableDiffusionPipeline",
            feature_extractor=[None, None], safety_checker=[None, None], requires_safety_checker=False,
            scheduler=["diffusers", "PNDMScheduler"], text_encoder=["transformers", "CLIPTextModel"],
            tokenizer=["transformers", "CLIPTokenizer"], unet=["diffusers", "UNet2DConditionModel"],
            vae=["diffusers", "AutoencoderKL"],
        ),
    )


# --------------------------------------------------------------------------------------------
# DeepFloyd IF, stages I and II
# --------------------------------------------------------------------------------------------

def t5_vocab() -> list:
    """A SentencePiece-style unigram vocab with T5's special ids (pad 0, eos 1, unk 2).

    Scores are log-probabilities: a whole word ('▁horse') beats spelling it out character by
    character, and the single characters make any ASCII text tokenizable.
    """
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [("▁" + word, -5.0) for word in WORDS]
    pieces += [("▁" + word.capitalize(), -6.0) for word in WORDS]
    for char in map(chr, range(ord("!"), ord("~") + 1)):
        pieces += [(char, -9.0), ("▁" + char, -9.5)]
    first_score = {}
    for piece, score in pieces:  # "▁a" is both a word and a character: keep its first (word) score
        first_score.setdefault(piece, score)
    return list(first_score.items())


def write_t5_tokenizer(folder: Path) -> int:
    """tokenizer.json + tokenizer_config.json of a T5Tokenizer (with T5's 100 <extra_id_*> sentinels)."""
    tokenizer = T5Tokenizer(vocab=t5_vocab(), extra_ids=100, model_max_length=512)
    tokenizer.save_pretrained(folder)
    return len(tokenizer)


def make_t5_encoder(folder: Path, vocab_size: int, seed: int):
    """A T5 v1.1 encoder (gated GELU, untied embeddings) like t5-v1_1-xxl, in float16 as IF ships it."""
    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=vocab_size, d_model=TEXT_DIM, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        feed_forward_proj="gated-gelu", relative_attention_num_buckets=32, relative_attention_max_distance=128,
        layer_norm_epsilon=1e-6, dropout_rate=0.1, tie_word_embeddings=False, pad_token_id=0, eos_token_id=1,
    )
    T5EncoderModel(config).half().save_pretrained(folder, variant="fp16")


# IF's UNets share these: GELU, scale-shift time conditioning, a projection of the T5 embeddings
# into cross-attention width, and attention pooling of them added to the time embedding
IF_UNET_COMMON = dict(
    act_fn="gelu", time_embedding_act_fn="gelu", resnet_time_scale_shift="scale_shift", resnet_skip_time_act=True,
    cross_attention_dim=TEXT_DIM, encoder_hid_dim=TEXT_DIM, encoder_hid_dim_type="text_proj",
    addition_embed_type="text", addition_embed_type_num_heads=4, attention_head_dim=8,
    cross_attention_norm="group_norm", mid_block_type="UNetMidBlock2DSimpleCrossAttn",
    use_linear_projection=False, upcast_attention=False,
)


def if_scheduler_config(sample_max_value: float) -> dict:
    """The IF DDPM scheduler: cosine schedule, learned variance (hence 6 UNet output channels), thresholding."""
    return scheduler_config(
        "DDPMScheduler", beta_schedule="squaredcos_cap_v2", beta_start=0.0001, beta_end=0.02,
        num_train_timesteps=1000, prediction_type="epsilon", variance_type="learned_range",
        clip_sample=True, clip_sample_range=1.0, thresholding=True, dynamic_thresholding_ratio=0.95,
        sample_max_value=sample_max_value, trained_betas=None,
    )


def if_model_index(class_name: str, **components) -> dict:
    # the real repos list a safety checker, a CLIP feature extractor and a watermarker; we never use them
    return model_index(
        class_name,
        feature_extractor=[None, None], safety_checker=[None, None], watermarker=[None, None],
        requires_safety_checker=False,
        text_encoder=["transformers", "T5EncoderModel"], tokenizer=["transformers", "T5Tokenizer"],
        unet=["diffusers", "UNet2DConditionModel"], **components,
    )


def make_if_stage_1(folder: Path):
    folder.mkdir(parents=True)
    vocab_size = write_t5_tokenizer(folder / "tokenizer")
    make_t5_encoder(folder / "text_encoder", vocab_size, seed=4)

    # IF-I-M: 4 levels (32, 16, 8, 4 px), resnet-only at the top two, cross-attention below; 3 RGB channels in,
    # 6 out (ε and the learned-variance interpolation). The real stage I draws 64 px; the toy one 32 px, which is
    # where a CPU can afford channels enough to draw the glyphs the toy objects differ by (at 64 px with a quarter
    # of the channels, the same training time gave coloured blobs: top-1 6%). Two channels per GroupNorm group at
    # the top: a group's normalisation removes its mean, and ε̂'s mean sets the picture's mean colour (see
    # scripts/toy_training/deepfloyd.py, pass_x_t_through).
    torch.manual_seed(5)
    unet = UNet2DConditionModel(
        sample_size=IF_I_SIZE, in_channels=3, out_channels=6,
        down_block_types=("ResnetDownsampleBlock2D",) * 2 + ("SimpleCrossAttnDownBlock2D",) * 2,
        up_block_types=("SimpleCrossAttnUpBlock2D",) * 2 + ("ResnetUpsampleBlock2D",) * 2,
        block_out_channels=(16, 32, 64, 64), layers_per_block=1, norm_num_groups=8,
        **{**IF_UNET_COMMON, "attention_head_dim": 16},
    )
    unet.half().save_pretrained(folder / "unet", variant="fp16")

    write_json(folder / "scheduler" / "scheduler_config.json", if_scheduler_config(sample_max_value=1.5))
    write_json(folder / "model_index.json", if_model_index("IFPipeline", scheduler=["diffusers", "DDPMScheduler"]))


def make_if_stage_2(folder: Path):
    folder.mkdir(parents=True)
    vocab_size = write_t5_tokenizer(folder / "tokenizer")
    make_t5_encoder(folder / "text_encoder", vocab_size, seed=4)  # the same T5 as stage I, as in the real repos

    # IF-II-M: 6 channels in (noisy image + upscaled stage-I image), the noise level of that upscaled image as
    # class_labels through a timestep embedding, cross-attention only at the coarsest level. The real stage II goes
    # from 64 to 256 px; the toy one from 32 to 128 px (4 levels, 128 .. 16 px), the same factor 4.
    torch.manual_seed(6)
    unet = UNet2DConditionModel(
        sample_size=IF_II_SIZE, in_channels=6, out_channels=6,
        down_block_types=("ResnetDownsampleBlock2D",) * 3 + ("SimpleCrossAttnDownBlock2D",),
        up_block_types=("SimpleCrossAttnUpBlock2D",) + ("ResnetUpsampleBlock2D",) * 3,
        block_out_channels=(8, 16, 32, 32), layers_per_block=(1, 1, 1, 1), norm_num_groups=4,
        class_embed_type="timestep", time_embedding_dim=32, only_cross_attention=True,
        resnet_out_scale_factor=1 / 0.7071, mid_block_scale_factor=1 / 0.7071, **IF_UNET_COMMON,
    )
    unet.half().save_pretrained(folder / "unet", variant="fp16")

    write_json(folder / "scheduler" / "scheduler_config.json", if_scheduler_config(sample_max_value=1.0))
    # the noise added to the upscaled stage-I image: plain cosine-schedule DDPM
    write_json(
        folder / "image_noising_scheduler" / "scheduler_config.json",
        scheduler_config(
            "DDPMScheduler", beta_schedule="squaredcos_cap_v2", beta_start=0.0001, beta_end=0.02,
            num_train_timesteps=1000, prediction_type="epsilon", variance_type="fixed_small",
            clip_sample=True, clip_sample_range=1.0, thresholding=False, dynamic_thresholding_ratio=0.995,
            sample_max_value=1.0, trained_betas=None,
        ),
    )
    write_json(
        folder / "model_index.json",
        if_model_index(
            "IFSuperResolutionPipeline",
            scheduler=["diffusers", "DDPMScheduler"], image_noising_scheduler=["diffusers", "DDPMScheduler"],
        ),
    )


# --------------------------------------------------------------------------------------------
# small helpers and main
# --------------------------------------------------------------------------------------------

def scheduler_config(class_name: str, **fields) -> dict:
    return {"_class_name": class_name, "_diffusers_version": diffusers.__version__, **fields}


def model_index(class_name: str, **components) -> dict:
    return {"_class_name": class_name, "_diffusers_version": diffusers.__version__, **components}


def write_json(path: Path, data: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # no default: tiny_models/ holds the trained models, which untrained ones must not replace by accident
    parser.add_argument("--out", type=Path, required=True, help="a folder for the untrained models")
    parser.add_argument("--force", action="store_true", help="replace the model folders in a non-empty --out")
    args = parser.parse_args(argv)

    if args.out.exists() and any(args.out.iterdir()) and not args.force:
        sys.exit(f"error: {args.out} is not empty; pass --force to replace the tiny model folders in it")

    builders = {
        SD_NAME: make_stable_diffusion, IF_I_NAME: make_if_stage_1, IF_II_NAME: make_if_stage_2,
    }
    for name, build in builders.items():
        folder = args.out / name
        shutil.rmtree(folder, ignore_errors=True)  # only our own folders; anything else in --out stays
        build(folder)
        size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
        print(f"wrote {folder} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
