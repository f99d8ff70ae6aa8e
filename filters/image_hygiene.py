"""Image hygiene: reject images that cannot or should not reach a model.

``image_hygiene`` (a stream filter) opens every image with Pillow and drops,
with a reason, the ones that are empty (``zero_size``), not an image
(``undecodable``), cut short (``truncated``), larger than ``max_pixels``
(``decompression_bomb``, checked from the header before any pixel is decoded),
narrower than ``min_side`` (``too_small``) or with an absurd aspect ratio
(``aspect_ratio``). It never raises on a bad file. It records ``image_width``,
``image_height``, ``image_format`` and a 64-bit difference hash
(``image_phash``, hex) for near-duplicate detection.

``image_dedup`` (:mod:`operators.dedup.image`, with the other dedups) keeps one
record per identical image, by the bytes' hash or by this difference hash.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pyarrow as pa
from pydantic import Field

from operators.core.base import Filter, OperatorConfig

#: Pillow's own default limit (~89.5 megapixels, 0.25 GB of 24-bit pixels).
DEFAULT_MAX_PIXELS = 89_478_485
#: Side of the grey thumbnail the difference hash compares (8 x 8 = 64 bits).
HASH_SIDE = 8


def dhash(image, side: int = HASH_SIDE) -> str:
    """Difference hash: one bit per horizontally adjacent pixel pair of a grey thumbnail.

    Stable under re-encoding, resizing and small colour shifts; hex, ``side * side`` bits.
    """
    from PIL import Image

    grey = image.convert("L").resize((side + 1, side), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.int16)
    bits = (pixels[:, 1:] > pixels[:, :-1]).flatten()
    value = int("".join("1" if b else "0" for b in bits), 2)
    return f"{value:0{side * side // 4}x}"


class ImageHygieneConfig(OperatorConfig):
    min_side: int = Field(32, ge=1, description="Drop images whose shorter side has fewer pixels (too_small).")
    max_aspect_ratio: float = Field(
        6.0, gt=1.0, description="Drop images whose longer side exceeds this many times the shorter (aspect_ratio)."
    )
    max_pixels: int = Field(
        DEFAULT_MAX_PIXELS,
        gt=0,
        description="Drop images with more pixels than this, read from the header before decoding (decompression_bomb).",
    )
    perceptual_hash: bool = Field(True, description="Compute image_phash (a 64-bit difference hash) for image_dedup.")


class ImageHygiene(Filter):
    """Drops broken, empty, tiny, bomb-sized and absurdly shaped images, each with its reason.

    Drop reasons: ``zero_size``, ``undecodable``, ``truncated``,
    ``decompression_bomb``, ``too_small``, ``aspect_ratio``.
    """

    name = "image_hygiene"
    version = "1"
    Config = ImageHygieneConfig
    columns = {
        "image_width": pa.int32(),
        "image_height": pa.int32(),
        "image_format": pa.string(),
        "image_phash": pa.string(),
        "image_error": pa.string(),
    }

    def setup(self) -> None:
        from PIL import ImageFile

        # Never decode a truncated file as if it were whole (Pillow's default, kept
        # explicitly: another library in the process may have flipped it).
        ImageFile.LOAD_TRUNCATED_IMAGES = False

    def _inspect(self, data: bytes | None) -> tuple[int | None, int | None, str | None, str | None, str | None]:
        """``(width, height, format, phash, error)`` of one encoded image."""
        from PIL import Image  # imported once by setup(); a module is not kept on the (pickled) operator

        if not data:
            return None, None, None, None, "zero_size"
        width = height = fmt = None
        try:
            with warnings.catch_warnings():
                # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that;
                # our own limit below decides, before any pixel is decoded.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
                try:
                    image = Image.open(io.BytesIO(data))
                finally:
                    Image.MAX_IMAGE_PIXELS = limit
                width, height = image.size
                fmt = image.format
                if width * height > self.config.max_pixels:
                    return width, height, fmt, None, "decompression_bomb"
                if width == 0 or height == 0:
                    return width, height, fmt, None, "zero_size"
                image.load()
        except Image.DecompressionBombError:
            return width, height, fmt, None, "decompression_bomb"
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            # Pillow says "truncated" for files cut short and raises
            # UnidentifiedImageError (an OSError) for what is no image at all.
            truncated = width is not None and ("truncated" in str(e) or "broken data stream" in str(e) or isinstance(e, EOFError))
            return width, height, fmt, None, "truncated" if truncated else "undecodable"
        except Exception:  # noqa: BLE001 - a decoder bug on a hostile file must not stop the run
            return width, height, fmt, None, "undecodable"
        phash = dhash(image) if self.config.perceptual_hash else None
        return width, height, fmt, phash, None

    def score(self, table: pa.Table) -> dict[str, list]:
        rows = [self._inspect(data) for data in table.column("image").to_pylist()]
        names = ("image_width", "image_height", "image_format", "image_phash", "image_error")
        return {name: [r[i] for r in rows] for i, name in enumerate(names)}

    def decide(self, table: pa.Table) -> list[str | None]:
        out: list[str | None] = []
        cfg = self.config
        for w, h, err in zip(
            table.column("image_width").to_pylist(),
            table.column("image_height").to_pylist(),
            table.column("image_error").to_pylist(),
            strict=True,
        ):
            if err:
                out.append(err)
            elif min(w, h) < cfg.min_side:
                out.append("too_small")
            elif max(w, h) / min(w, h) > cfg.max_aspect_ratio:
                out.append("aspect_ratio")
            else:
                out.append(None)
        return out
