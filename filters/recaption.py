"""Re-caption image-text pairs with a local vision-language model.

``recaption`` (a stream operator on image-text pairs) captions every kept
image with a model folder on disk: any ``transformers`` image-to-text or
vision-language model that ``AutoModelForImageTextToText`` loads (a
``VisionEncoderDecoderModel`` such as ViT-GPT2, BLIP, GIT, or a chat VLM such
as SmolVLM given a ``prompt``). Nothing is fetched from a hub
(``local_files_only``). It runs on a GPU when there is one (half precision),
on the CPU otherwise.

What happens to the caption, by ``policy``:

* ``replace``: the generated caption becomes the text;
* ``add``: it is appended to the original as a second paragraph;
* ``keep_if_clip_higher``: both are scored with CLIP (``clip_model`` +
  ``clip_checkpoint``, as ``clip_score`` loads them) against the image and the
  higher one is the text.

Whenever the text changes, the original caption is kept in ``meta``
(``original_caption``) and ``content_hash`` is recomputed (as ``normalize``
does) so exact dedup sees the new text. Columns: ``caption_generated`` and,
with ``keep_if_clip_higher``, ``recaption_gain`` (generated minus original CLIP
score, this stage's score in the ledger). Drop reasons:
``undecodable_image``, ``failed`` (the model raised on that image).
"""

from __future__ import annotations

import io
import json
import logging
import os
from typing import Literal

import pyarrow as pa
from pydantic import Field, model_validator

from operators.core.base import Operator, OperatorConfig, Resources, Role
from operators.core.schema import content_hash, kept_mask, set_column

log = logging.getLogger(__name__)


class RecaptionConfig(OperatorConfig):
    model: str = Field(description="A local model folder (save_pretrained layout) that AutoModelForImageTextToText loads.")
    policy: Literal["replace", "add", "keep_if_clip_higher"] = Field(
        "replace", description="replace the caption, add the new one after it, or keep whichever CLIP scores higher."
    )
    prompt: str | None = Field(
        None, description="For chat VLMs: the instruction sent with each image (e.g. 'Describe this image in one sentence.')."
    )
    max_new_tokens: int = Field(40, ge=1, le=512, description="Longest caption, in tokens.")
    num_beams: int = Field(1, ge=1, le=16, description="Beam search width (1: greedy).")
    batch_size: int = Field(16, ge=1, description="Images per model call.")
    clip_model: str | None = Field(None, description="keep_if_clip_higher: open_clip architecture (as clip_score's model).")
    clip_checkpoint: str | None = Field(None, description="keep_if_clip_higher: its local checkpoint (as clip_score's checkpoint).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: a GPU when there is one (half precision), else the CPU.")
    num_gpus: float = Field(1.0, gt=0, le=8, description="GPUs per worker when the cluster has them.")
    threads: int = Field(0, ge=0, description="torch CPU threads per worker; 0 leaves torch's default.")

    @model_validator(mode="after")
    def _clip_for_the_clip_policy(self) -> RecaptionConfig:
        if self.policy == "keep_if_clip_higher" and not (self.clip_model and self.clip_checkpoint):
            raise ValueError("policy keep_if_clip_higher needs clip_model and clip_checkpoint (a local open_clip checkpoint)")
        return self


class Captioner:
    """A local image-to-text model with its processor (or image processor and tokenizer), loaded once per process."""

    def __init__(self, path: str, device: str = "auto", prompt: str | None = None,
                 max_new_tokens: int = 40, num_beams: int = 1):
        path = os.path.expanduser(os.path.expandvars(path))
        if not os.path.isdir(path):
            raise FileNotFoundError(
                f"recaption: model folder {path} does not exist; give a local folder written by save_pretrained "
                "(models are never downloaded)"
            )
        import torch
        from transformers import AutoModelForImageTextToText

        cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
        if cuda and not torch.cuda.is_available():
            raise RuntimeError("recaption: device cuda asked for, but torch sees no GPU; use device: auto or cpu")
        self.device = "cuda" if cuda else "cpu"
        self.dtype = torch.float16 if cuda else torch.float32
        self.model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True, dtype=self.dtype)
        self.model.to(self.device).eval()
        self.images, self.tokenizer, self.processor = _processors(path)
        self.prompt, self.max_new_tokens, self.num_beams = prompt, max_new_tokens, num_beams
        self._torch = torch

    def caption(self, images: list) -> list[str]:
        """One caption per PIL image."""
        torch = self._torch
        chat = self.prompt and self.processor is not None and getattr(self.processor, "chat_template", None)
        if chat:
            message = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": self.prompt}]}]
            text = self.processor.apply_chat_template(message, add_generation_prompt=True)
            inputs = self.processor(images=[[im] for im in images], text=[text] * len(images), return_tensors="pt", padding=True)
        elif self.processor is not None:
            inputs = self.processor(images=images, return_tensors="pt")
        else:
            inputs = self.images(images=images, return_tensors="pt")
        inputs = {k: (v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device)) for k, v in inputs.items()}
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, num_beams=self.num_beams, do_sample=False)
        if not self.model.config.is_encoder_decoder and "input_ids" in inputs:
            out = out[:, inputs["input_ids"].shape[1] :]  # a decoder-only VLM repeats its prompt first
        decode = self.processor.batch_decode if self.processor is not None and hasattr(self.processor, "batch_decode") else self.tokenizer.batch_decode
        return [" ".join(t.split()) for t in decode(out, skip_special_tokens=True)]


def _processors(path: str):
    """``(image processor, tokenizer, processor)`` of a model folder: a processor when it has one, else the two parts."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer
    from transformers.processing_utils import ProcessorMixin

    try:
        processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError):
        processor = None
    if isinstance(processor, ProcessorMixin):
        return None, None, processor
    return (
        AutoImageProcessor.from_pretrained(path, local_files_only=True),
        AutoTokenizer.from_pretrained(path, local_files_only=True),
        None,
    )


def _with_original(meta: str | None, caption: str) -> str:
    try:
        data = json.loads(meta) if meta else {}
    except ValueError:
        data = {"meta": meta}
    if not isinstance(data, dict):
        data = {"meta": data}
    data.setdefault("original_caption", caption)  # a second recaption keeps the first original
    return json.dumps(data, ensure_ascii=False)


class Recaption(Operator):
    """Captions images with a local vision-language model; replaces, adds to, or CLIP-picks the caption.

    Adds ``caption_generated`` (and ``recaption_gain`` with ``keep_if_clip_higher``);
    the original caption goes to ``meta.original_caption`` when the text changes.
    Drop reasons: ``undecodable_image``, ``failed``.
    """

    name = "recaption"
    version = "1"
    Config = RecaptionConfig
    role = Role.MAPPER
    score_column = "recaption_gain"

    @property
    def resources(self) -> Resources:
        """Each worker loads the captioner (and CLIP) once; on GPUs (``num_gpus`` each) when the cluster has them
        unless device is cpu."""
        return Resources(gpus=0 if self.config.device == "cpu" else self.config.num_gpus, model=True)

    def setup(self) -> None:
        c = self.config
        if c.threads:
            import torch

            torch.set_num_threads(c.threads)
        self._model_captioner = Captioner(c.model, c.device, c.prompt, c.max_new_tokens, c.num_beams)
        self._model_clip = None
        if c.policy == "keep_if_clip_higher":
            from filters.clip import ClipModel, ClipScoreConfig

            # clip_score's loader; the threshold is required by its config and unused here.
            self._model_clip = ClipModel(ClipScoreConfig(
                model=c.clip_model, checkpoint=c.clip_checkpoint, threshold=-1.0, device=c.device, batch_size=c.batch_size
            ))

    def _decode(self, data: bytes | None):
        from PIL import Image

        if not data:
            return None
        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.convert("RGB")
        except Exception:  # noqa: BLE001 - one bad image must not stop the batch
            return None

    def _captions(self, images: list) -> list[str | None]:
        """A caption per image; None where the model raised on it (a failing batch is retried image by image)."""
        out: list[str | None] = []
        for start in range(0, len(images), self.config.batch_size):
            chunk = images[start : start + self.config.batch_size]
            try:
                out.extend(self._model_captioner.caption(chunk))
                continue
            except Exception as e:  # noqa: BLE001
                log.warning("recaption: a batch of %d failed (%s); captioning its images one by one", len(chunk), type(e).__name__)
            for image in chunk:
                try:
                    out.extend(self._model_captioner.caption([image]))
                except Exception:  # noqa: BLE001
                    out.append(None)
        return out

    def process(self, table: pa.Table) -> pa.Table:
        if "image" not in table.column_names:
            raise TypeError("recaption: these records have no image column; it runs on image-text pairs")
        c = self.config
        n = table.num_rows
        rows = [i for i, k in enumerate(kept_mask(table).to_pylist()) if k]
        raw = table.column("image").to_pylist()
        texts = table.column("text").to_pylist()
        metas = table.column("meta").to_pylist()
        hashes = table.column("content_hash").to_pylist()
        reasons: list[str | None] = [None] * n
        images = {i: self._decode(raw[i]) for i in rows}
        for i in rows:
            if images[i] is None:
                reasons[i] = "undecodable_image"
        good = [i for i in rows if images[i] is not None]
        generated: list[str | None] = [None] * n
        for i, caption in zip(good, self._captions([images[i] for i in good]), strict=True):
            if caption is None:
                reasons[i] = "failed"
            generated[i] = caption
        done = [i for i in good if generated[i] is not None]
        gain: list[float | None] = [None] * n
        if c.policy == "keep_if_clip_higher" and done:
            pictures = [raw[i] for i in done]
            before = self._model_clip.score(pictures, [texts[i] or "" for i in done], c.batch_size)
            after = self._model_clip.score(pictures, [generated[i] for i in done], c.batch_size)
            for i, b, a in zip(done, before, after, strict=True):
                gain[i] = None if a is None or b is None else a - b
        new_texts = list(texts)
        for i in done:
            caption, original = generated[i], texts[i] or ""
            if not caption:
                continue  # the model said nothing: the original stays
            if c.policy == "replace":
                new = caption
            elif c.policy == "add":
                new = f"{original}\n\n{caption}" if original else caption
            else:
                new = caption if gain[i] is not None and gain[i] > 0 else original
            if new != original:
                new_texts[i], metas[i], hashes[i] = new, _with_original(metas[i], original), content_hash(new)
        table = set_column(table, "text", pa.array(new_texts, pa.string()))
        table = set_column(table, "meta", pa.array(metas, pa.string()))
        table = set_column(table, "content_hash", pa.array(hashes, pa.string()))
        table = set_column(table, "caption_generated", pa.array(generated, pa.string()))
        if c.policy == "keep_if_clip_higher":
            table = set_column(table, "recaption_gain", pa.array(gain, pa.float32()))
        return self.drop(table, pa.array(reasons, pa.string()))

