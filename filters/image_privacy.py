"""Privacy in pixels: faces and personal text hidden, location and owner metadata removed, one re-encode.

``image_privacy`` (a stream operator on image-text pairs) decodes each kept
image once, applies its EXIF orientation, finds faces and lines of text
(:mod:`filters.image_regions`), and hides each kind by its mode:

* ``blur``: the region shrunk to a few cells across (``6 / strength``) and
  smoothed back up: no face or letter survives, the colours do;
* ``pixelate``: the same cells, hard-edged (``8 / strength`` across);
* ``box``: filled black;
* ``drop``: the pair is dropped (reason ``face`` or ``text``);
* ``keep``: not looked for at all.

Text is hidden by policy: ``personal`` (the default) hides only lines the
``pii`` operator finds a name, phone number, e-mail or account in, or that hold
a long number, a plate-shaped code or a name-shaped row; ``all`` hides every line (and needs no
recognition). EXIF (GPS position, camera serial, owner), XMP, IPTC, comments
and PNG text are never copied (:mod:`filters.image_metadata`): the pixels are re-encoded once, in the format
they came in (JPEG with its own quantisation tables and subsampling, so its
quality is kept; PNG lossless; WebP at ``webp_quality``), the ICC profile kept.
An image with nothing to hide, no metadata and no rotation passes through
byte for byte.

Columns: ``image`` (the hidden version: what the shards hold and what later
stages such as ``clip_score`` see), ``image_output_hash`` beside the input's
``image_hash``, ``image_regions`` (per kind: how many and what was done, and
which metadata was removed: counts and kinds, never pixels or text) and
``image_regions_hidden`` (the count, this stage's score in the ledger).
Drop reasons: ``face``/``text`` (mode ``drop``), ``undecodable``,
``too_large``, ``animated``, and ``failed`` when a detector or the encoder
raises on an image; one bad image never stops the batch.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from filters.image_hygiene import DEFAULT_MAX_PIXELS, open_unchecked
from filters.image_metadata import encode_like, metadata_kinds
from filters.image_regions import PERSONAL_TYPES, Box, PersonalText, TextLine, face_finder, line_kinds
from operators.core.base import Operator, OperatorConfig, Resources, Role
from operators.core.schema import IMAGE_REGION_STRUCT, bytes_hash, kept_mask, set_column

log = logging.getLogger(__name__)

Mode = Literal["blur", "pixelate", "box", "drop", "keep"]
REGIONS = pa.list_(IMAGE_REGION_STRUCT)
HIDING = ("blur", "pixelate", "box")
#: Cells across a region's longer side at strength 1.
BLUR_CELLS, PIXEL_CELLS = 6, 8


class ImagePrivacyConfig(OperatorConfig):
    faces: Mode = Field("blur", description="What to do with faces: blur | pixelate | box | drop (the pair) | keep.")
    text: Mode = Field("blur", description="What to do with text the policy selects: blur | pixelate | box | drop | keep.")
    text_policy: Literal["personal", "all"] = Field(
        "personal",
        description="personal: only lines holding a name, phone, e-mail, account, a long number or a plate-shaped "
        "code (recognised by OCR, checked by the pii operator); all: every line of text.",
    )
    strength: float = Field(
        1.0, gt=0, le=8, description="How little detail survives: blur keeps 6/strength cells across a region, "
        "pixelate 8/strength."
    )
    face_margin: float = Field(0.2, ge=0, le=1, description="Grow each face box by this fraction of its size on each side.")
    text_margin: float = Field(0.2, ge=0, le=2, description="Grow each text box by this fraction of its height on each side.")
    face_detector: Literal["mtcnn", "haar"] = Field(
        "mtcnn",
        description="mtcnn (facenet-pytorch's packaged weights; recall 0.95 on the benchmark's frontal faces) or "
        "haar (OpenCV's cascade; 0.8, twice as slow on the CPU).",
    )
    face_min_size: int = Field(24, ge=8, description="Smallest face looked for, in pixels of the image shrunk to detect_side.")
    face_score: float = Field(0.9, ge=0, le=1, description="mtcnn: the probability a face needs.")
    face_min_neighbors: int = Field(3, ge=1, description="haar: overlapping detections a face needs.")
    detect_side: int = Field(640, ge=64, description="Faces are looked for in the image shrunk to this longest side.")
    text_side: int = Field(960, ge=64, description="Text lines are looked for in the image shrunk to this longest side.")
    text_box_score: float = Field(0.5, gt=0, lt=1, description="The text detector's mean probability a line needs.")
    min_digits: int = Field(5, ge=1, description="A row with this many digits is personal (IDs, numbers OCR ran together).")
    name_rarity: float | None = Field(
        3.0, ge=0, le=8,
        description="A row of 2-4 capitalised words with one rarer in English than this Zipf frequency (wordfreq) "
        "is a name (names English NER does not know); null: only the pii operator's names.",
    )
    pii_types: list[str] = Field(
        default_factory=lambda: list(PERSONAL_TYPES),
        description="The pii operator's types that make a line personal.",
    )
    webp_quality: int = Field(90, ge=1, le=100, description="WebP files are re-encoded at this quality (WebP does not record its own).")
    keep_icc: bool = Field(True, description="Keep the ICC colour profile (it describes colours, not people).")
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, gt=0, description="Drop larger images unread (too_large).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="mtcnn runs on a GPU when there is one (auto).")
    num_gpus: float = Field(
        1.0, gt=0, le=8, description="GPUs per worker when the cluster has them (mtcnn; a fraction shares one GPU)."
    )
    threads: int = Field(
        1, ge=1, description="Threads per worker process for OpenCV, ONNX Runtime and (mtcnn) torch: one per process is "
        "what scales across cores; more made each image many times slower on a busy machine."
    )


Polygon = tuple[tuple[int, int], ...]


def _grown_box(box: Box, margin: float) -> Polygon:
    """The corners of ``box`` grown by ``margin`` of its width and height on each side."""
    x0, y0, x1, y1 = box
    dx, dy = margin * (x1 - x0), margin * (y1 - y0)
    a, b, c, d = int(x0 - dx), int(y0 - dy), int(np.ceil(x1 + dx)), int(np.ceil(y1 + dy))
    return ((a, b), (c, b), (c, d), (a, d))


def _grown_line(line: TextLine, margin: float) -> Polygon:
    """The corners of a (possibly turned) line of text grown by ``margin`` of its height on each side."""
    import cv2

    points = line.points or _grown_box(line.box, 0)
    (cx, cy), (w, h), angle = cv2.minAreaRect(np.asarray(points, np.float32))
    grow = 2 * margin * min(w, h)
    corners = cv2.boxPoints(((cx, cy), (w + grow, h + grow), angle))
    return tuple((int(round(x)), int(round(y))) for x, y in corners)


def hide(pixels: np.ndarray, polygon: Polygon, mode: str, strength: float) -> None:
    """Hide the inside of ``polygon`` in ``pixels`` (H x W or H x W x C, uint8), in place, by ``mode``."""
    import cv2

    height, width = pixels.shape[:2]
    corners = np.asarray(polygon, np.int32)
    x0, y0 = max(0, int(corners[:, 0].min())), max(0, int(corners[:, 1].min()))
    x1, y1 = min(width, int(corners[:, 0].max()) + 1), min(height, int(corners[:, 1].max()) + 1)
    patch = pixels[y0:y1, x0:x1]
    h, w = patch.shape[:2]
    if h <= 0 or w <= 0:
        return
    inside = np.zeros((h, w), np.uint8)
    cv2.fillPoly(inside, [corners - (x0, y0)], 1)
    inside = inside.astype(bool)
    if mode == "box":
        out = np.zeros_like(patch)
        if patch.ndim == 3 and patch.shape[2] in (2, 4):
            out[..., -1] = 255  # an opaque box, not a hole
    else:
        cells = max(1.0, (BLUR_CELLS if mode == "blur" else PIXEL_CELLS) / strength)
        f = cells / max(h, w)
        small = cv2.resize(patch, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        if mode == "pixelate":
            out = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        else:
            out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
            sigma = max(h, w) / cells / 2
            out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
        out = out.reshape(patch.shape)
    patch[inside] = out[inside]


class _Failed(Exception):
    """An image this stage cannot handle: its drop reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ImagePrivacy(Operator):
    """Hides faces and personal text in images, removes their metadata, and re-encodes each once.

    Replaces ``image``; adds ``image_output_hash``, ``image_regions`` and
    ``image_regions_hidden``; updates ``image_width``/``image_height`` when
    the orientation turned the picture. Drop reasons: ``face``, ``text``,
    ``undecodable``, ``too_large``, ``animated``, ``failed``.
    """

    name = "image_privacy"
    version = "1"
    Config = ImagePrivacyConfig
    role = Role.MAPPER  # it rewrites images; its drops (mode drop, unreadable images) are a mapper's refusals
    score_column = "image_regions_hidden"
    extra = "images"
    extra_modules = ("cv2", "rapidocr_onnxruntime", "onnxruntime", "wordfreq", "facenet_pytorch")

    @classmethod
    def missing_extra(cls) -> str | None:
        message = super().missing_extra()
        if message and "facenet_pytorch" in message:
            # facenet-pytorch declares pins (torch<2.3, numpy<2) that pip would satisfy by downgrading torch.
            message += "; then: pip install --no-deps facenet-pytorch==2.6.0"
        return message

    @property
    def resources(self) -> Resources:
        """Each worker loads the detectors once; on GPUs (``num_gpus`` each) when the cluster has them and MTCNN
        looks for faces, unless device is cpu (OpenCV's cascade and the OCR run on the CPU)."""
        c = self.config
        mtcnn = c.faces != "keep" and c.face_detector == "mtcnn"
        return Resources(gpus=c.num_gpus if mtcnn and c.device != "cpu" else 0, model=True)

    def setup(self) -> None:
        import cv2

        c = self.config
        cv2.setNumThreads(c.threads)
        self._model_faces = None
        if c.faces != "keep":
            device = c.device
            if c.face_detector == "mtcnn":
                import torch

                torch.set_num_threads(c.threads)
                if device == "auto":
                    device = "cuda" if torch.cuda.is_available() else "cpu"
            self._model_faces = face_finder(c.face_detector, c.face_min_size, c.face_min_neighbors, c.face_score,
                                            c.detect_side, device)
        self._model_text = None
        self._model_pii = None
        if c.text != "keep":
            from filters.image_regions import TextLines

            read = c.text_policy == "personal"
            self._model_text = TextLines(recognise=read, box_score=c.text_box_score, side=c.text_side, threads=c.threads)
            if read:
                self._model_pii = PersonalText(c.pii_types)

    # ---------------------------------------------------------------- per image

    def _open(self, data: bytes | None):
        """``(original, oriented, format, metadata kinds, turned)`` of one encoded image."""
        from PIL import ImageOps

        if not data:
            raise _Failed("undecodable")
        try:
            original = open_unchecked(data)
            if original.width * original.height > self.config.max_pixels:
                raise _Failed("too_large")
            if getattr(original, "n_frames", 1) > 1 and original.format != "MPO":
                raise _Failed("animated")
            original.load()
        except _Failed:
            raise
        except Exception as e:  # noqa: BLE001 - a hostile file must not stop the batch
            raise _Failed("undecodable") from e
        kinds = metadata_kinds(original)
        turned = original.getexif().get(0x0112, 1) not in (None, 1)
        oriented = ImageOps.exif_transpose(original)
        if oriented.mode not in ("L", "LA", "RGB", "RGBA"):
            transparent = "transparency" in oriented.info or oriented.mode in ("PA", "RGBa", "La")
            oriented = oriented.convert("RGBA" if transparent else "RGB")
        return original, oriented, original.format, kinds, turned

    def _find(self, oriented) -> tuple[list[Box], list[TextLine]]:
        rgb = np.asarray(oriented.convert("RGB"))
        faces = self._model_faces.find(rgb) if self._model_faces is not None else []
        lines = self._model_text.find(rgb) if self._model_text is not None else []
        return faces, lines

    def _kinds(self, pages: list[list[TextLine]]) -> list[list[str]]:
        """Per image, per line: ``text:<TYPE>`` / ``text:number`` / ``text:name`` when personal, ``text`` when not."""
        c = self.config
        if c.text_policy == "all":
            return [["text:any"] * len(lines) for lines in pages]
        try:
            return line_kinds(pages, self._model_pii, c.min_digits, c.name_rarity)
        except Exception as e:  # noqa: BLE001 - fail closed: hide every line rather than guess
            log.warning("image_privacy: personal-text check failed (%s); hiding every line of %d images",
                        type(e).__name__, len(pages))
            return [["text:unchecked"] * len(lines) for lines in pages]

    def _plan(self, faces: list[Box], lines: list[TextLine], kinds: list[str]) -> list[tuple[str, Polygon, str]]:
        """``(kind, corners grown by the kind's margin, action)`` of every region found in an image."""
        c = self.config
        plan = [("face", _grown_box(box, c.face_margin), c.faces) for box in faces]
        for line, kind in zip(lines, kinds, strict=True):
            plan.append((kind, _grown_line(line, c.text_margin), c.text if kind != "text" else "keep"))
        return plan

    def _apply(self, data: bytes, opened, plan: list[tuple[str, Polygon, str]]):
        """``(bytes, width, height, regions, hidden, drop reason)`` of one image."""
        from PIL import Image

        c = self.config
        original, oriented, fmt, meta, turned = opened
        counts = Counter((kind, action) for kind, _, action in plan)
        regions = [{"kind": k, "count": n, "action": a} for (k, a), n in sorted(counts.items())]
        regions += [{"kind": k, "count": 1, "action": "removed"} for k in meta]
        for kind, _, action in plan:
            if action == "drop":
                return None, None, None, regions, 0, "face" if kind == "face" else "text"
        hidden = [(box, action) for _, box, action in plan if action in HIDING]
        width, height = oriented.size
        if not hidden and not meta and not turned:
            return data, width, height, regions, 0, None
        pixels = np.array(oriented)
        for box, action in hidden:
            hide(pixels, box, action, c.strength)
        out = encode_like(Image.fromarray(pixels), original, fmt, c.webp_quality, c.keep_icc)
        return out, width, height, regions, len(hidden), None

    def hidden_regions(self, images: list[bytes]) -> list[list[tuple[str, Polygon, str]] | None]:
        """What the stage does to each image, without doing it: ``(kind, corners, action)`` per region found
        (None for an image it would drop as unreadable). For benchmarks and for looking into a decision."""
        if not self._ready:
            self.setup()
            self._ready = True
        found = []
        for data in images:
            try:
                opened = self._open(data)
            except _Failed:
                found.append(None)
                continue
            found.append(self._find(opened[1]))
        good = [f for f in found if f is not None]
        kinds = iter(self._kinds([f[1] for f in good]))
        return [None if f is None else self._plan(f[0], f[1], next(kinds)) for f in found]

    # ---------------------------------------------------------------- batch

    def process(self, table: pa.Table) -> pa.Table:
        if "image" not in table.column_names:
            raise TypeError("image_privacy: these records have no image column; it runs on image-text pairs")
        rows = [i for i, k in enumerate(kept_mask(table).to_pylist()) if k]
        images = table.column("image").to_pylist()
        n = table.num_rows
        reasons: list[str | None] = [None] * n
        found: dict[int, tuple] = {}
        for i in rows:
            try:
                opened = self._open(images[i])
                found[i] = (opened, *self._find(opened[1]))
            except _Failed as e:
                reasons[i] = e.reason
            except Exception as e:  # noqa: BLE001 - a detector bug on one image must not stop the batch
                log.warning("image_privacy: record %s failed (%s)", table.column("id")[i].as_py(), type(e).__name__)
                reasons[i] = "failed"
        order = sorted(found)
        kinds = dict(zip(order, self._kinds([found[i][2] for i in order]), strict=True))
        out_images = list(images)
        out_hash: list[str | None] = [None] * n
        regions: list[list | None] = [None] * n
        hidden: list[int | None] = [None] * n
        widths = table.column("image_width").to_pylist() if "image_width" in table.column_names else None
        heights = table.column("image_height").to_pylist() if "image_height" in table.column_names else None
        for i in order:
            opened, faces, lines = found[i]
            try:
                plan = self._plan(faces, lines, kinds[i])
                data, w, h, regions[i], hidden[i], reasons[i] = self._apply(images[i], opened, plan)
            except Exception as e:  # noqa: BLE001
                log.warning("image_privacy: record %s failed (%s)", table.column("id")[i].as_py(), type(e).__name__)
                reasons[i] = "failed"
                continue
            if data is not None:
                out_images[i], out_hash[i] = data, bytes_hash(data)
                if widths is not None:
                    widths[i], heights[i] = w, h
        table = set_column(table, "image", pa.array(out_images, pa.binary()))
        if widths is not None:
            table = set_column(table, "image_width", pa.array(widths, pa.int32()))
            table = set_column(table, "image_height", pa.array(heights, pa.int32()))
        table = set_column(table, "image_output_hash", pa.array(out_hash, pa.string()))
        table = set_column(table, "image_regions", pa.array(regions, REGIONS))
        table = set_column(table, "image_regions_hidden", pa.array(hidden, pa.int32()))
        return self.drop(table, pa.array(reasons, pa.string()))

