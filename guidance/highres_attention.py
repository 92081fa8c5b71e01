"""AccDiffusion's patch-content-aware prompts: where each word of the prompt is, read from the base image's
cross-attention, so that a window of the larger image is prompted only with the words of what lies in it (Lin et al.,
ECCV 2024, Sec. 3.2; code lzhxmu/AccDiffusion, utils.py).

1. While the base image is sampled, an attention processor (set with `unet.set_attn_processor`, the UNet itself
   unchanged) adds up the cross-attention probabilities softmax(QKᵀ/√d) of the prompt's tokens, conditional pass only,
   over the heads, the down and up blocks' layers whose maps are `side`×`side`, and the steps.
2. Per word (its tokens' maps averaged; the reference works per token, the same for SD2's whole-word tokens), the
   averaged map is binarized at its mean, then opened: erosion then dilation with a 3×3 kernel, side // 16 times
   (the reference's cv2 calls; 0 times on maps smaller than 16), and upsampled nearest-neighbour to the canvas.
3. `window_words` (guidance/highres.py) picks each window's words; `patch_prompts` joins them in the prompt's order.
"""

import torch
import torch.nn.functional as F


class CrossAttentionStore:
    """Sums of the conditional pass's cross-attention maps of side×side, [side², tokens], and how many were added."""

    def __init__(self, side: int):
        self.side = side
        self.total = None
        self.count = 0

    def add(self, probabilities, heads: int) -> None:
        """probabilities: [2·B·heads, side², tokens] of a classifier-free batch (unconditional half first)."""
        if probabilities.shape[1] != self.side ** 2:
            return
        per_image = probabilities.unflatten(0, (-1, heads))  # [2B, heads, side², tokens]
        conditional = per_image[per_image.shape[0] // 2:].float().sum(dim=(0, 1))
        self.total = conditional if self.total is None else self.total + conditional
        self.count += per_image[per_image.shape[0] // 2:].shape[0] * heads

    def maps(self):
        """The mean map of each token, [tokens, side, side]."""
        if self.total is None:
            raise ValueError(f"no cross-attention layer of the UNet's down or up blocks works at {self.side}×{self.side}:"
                             " choose another --attention_map_size (with --tiny: 8)")
        return (self.total / self.count).T.reshape(-1, self.side, self.side)


class StoringCrossAttnProcessor:
    """Cross-attention computed as diffusers' plain AttnProcessor does, its probabilities handed to a store."""

    def __init__(self, store: CrossAttentionStore):
        self.store = store

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        residual = hidden_states
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        if attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))
        key = attn.head_to_batch_dim(attn.to_k(context))
        value = attn.head_to_batch_dim(attn.to_v(context))
        probabilities = attn.get_attention_scores(query, key, attention_mask)
        self.store.add(probabilities, attn.heads)
        hidden_states = attn.batch_to_head_dim(torch.bmm(probabilities, value))
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))  # linear projection, dropout
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


def storing_processors(unet, store: CrossAttentionStore) -> dict:
    """The UNet's processors with the down and up blocks' cross-attention (`attn2`) ones storing their maps."""
    return {name: StoringCrossAttnProcessor(store) if name.startswith(("down_blocks", "up_blocks"))
            and name.endswith("attn2.processor") else processor for name, processor in unet.attn_processors.items()}


def prompt_words(tokenizer, prompt: str) -> list:
    """(word, token positions) of each word of the prompt, in order; position 0 is the start token. CLIP's BPE ends a
    word's last token with `</w>`."""
    ids = tokenizer(prompt, truncation=True, max_length=tokenizer.model_max_length).input_ids[1:-1]
    words, pieces, positions = [], [], []
    for position, token in enumerate(tokenizer.convert_ids_to_tokens(ids), start=1):
        pieces.append(token.removesuffix("</w>"))
        positions.append(position)
        if token.endswith("</w>"):
            words.append(("".join(pieces), positions))
            pieces, positions = [], []
    if pieces:
        words.append(("".join(pieces), positions))
    return words


def word_masks(token_maps, words, canvas_size) -> torch.Tensor:
    """Binary masks of the words, [J, canvas, canvas]: each word's mean map over its tokens, above its mean, opened
    (erosion then dilation, 3×3, side // 16 times), upsampled nearest-neighbour to the canvas (a multiple of side)."""
    side = token_maps.shape[-1]
    maps = torch.stack([token_maps[positions].mean(0) for _, positions in words])
    masks = (maps > maps.mean(dim=(1, 2), keepdim=True)).float()[:, None]
    for _ in range(side // 16):  # erosion: max_pool of the complement; the border counts as inside, as cv2's default
        masks = -F.max_pool2d(-masks, 3, stride=1, padding=1)
    for _ in range(side // 16):
        masks = F.max_pool2d(masks, 3, stride=1, padding=1)
    return F.interpolate(masks, size=(canvas_size, canvas_size), mode="nearest")[:, 0]


def patch_prompts(words, selection) -> list:
    """Each window's prompt: its selected words (selection [N, J], window_words') in the prompt's order."""
    return [" ".join(word for (word, _), chosen in zip(words, row) if chosen) for row in selection.tolist()]
