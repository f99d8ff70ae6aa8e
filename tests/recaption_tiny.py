"""A tiny image captioner trained here, on pictures of coloured shapes and their captions.

No captioning model ships in a wheel or can be downloaded in tests, so the test
suite builds one: a small ViT
encoder and GPT-2 decoder joined as a ``transformers``
``VisionEncoderDecoderModel``, a word-level tokenizer over the dozen words of
the captions, and a ViT image processor, trained for a few hundred CPU steps on
the same generated shapes as the tiny CLIP (:mod:`tests.clip_tiny`) and saved
with ``save_pretrained``: the folder ``recaption`` loads like any real model's.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

from tests.clip_tiny import COLOURS, SHAPES, caption, draw

SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
IMAGE_SIDE = 32


@dataclass(frozen=True)
class TinyCaptioner:
    """Where a trained tiny captioner lies (pass ``path`` as recaption's model)."""

    path: str
    seconds: float
    final_loss: float


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = ["a", *COLOURS, *SHAPES]
    vocab = {w: i for i, w in enumerate([*SPECIALS, *words])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", vocab["</s>"])])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def train_tiny_captioner(out_dir: str | Path, steps: int = 300, seed: int = 0, threads: int = 1) -> TinyCaptioner:
    """Train the tiny captioner on generated shapes and save it (model, tokenizer, image processor) under ``out_dir``.

    Tens of seconds on one CPU core.
    """
    import torch
    from transformers import (
        GPT2Config,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    t0 = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer()
    processor = ViTImageProcessor(size={"height": IMAGE_SIDE, "width": IMAGE_SIDE}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    encoder = ViTConfig(image_size=IMAGE_SIDE, patch_size=8, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128)
    decoder = GPT2Config(vocab_size=len(tokenizer), n_positions=16, n_embd=64, n_layer=2, n_head=2,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, is_decoder=True, add_cross_attention=True)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = tokenizer.bos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = tokenizer.eos_token_id
    torch.manual_seed(seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = VisionEncoderDecoderModel(config)
        model.generation_config.decoder_start_token_id = tokenizer.bos_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.max_new_tokens = 6
        rng = random.Random(seed)
        classes = [(s, c) for s in SHAPES for c in COLOURS]
        per_class = 16
        pictures = [draw(s, c, rng) for s, c in classes for _ in range(per_class)]
        pixels = processor(images=pictures, return_tensors="pt")["pixel_values"]
        labels = tokenizer([caption(s, c) for s, c in classes for _ in range(per_class)], return_tensors="pt")["input_ids"]
        optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
        model.train()
        loss_value = float("nan")
        for _ in range(steps):
            pick = torch.randint(0, len(pictures), (32,))
            loss = model(pixel_values=pixels[pick], labels=labels[pick]).loss
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            loss_value = float(loss.detach())
        model.eval()
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        processor.save_pretrained(out)
    finally:
        torch.set_num_threads(previous_threads)
    return TinyCaptioner(str(out), time.monotonic() - t0, loss_value)
