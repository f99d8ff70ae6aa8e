"""Image dedup: one record per identical image.

By the hash of the image bytes (``image_hash``, written by the readers), or with
``perceptual: true`` by equal difference hashes (``image_phash``, written by the
``image_hygiene`` filter), which also catches re-encoded and resized copies. It
is exact dedup's hash-partitioned shuffle on another column, so no process
holds every hash.
"""

from __future__ import annotations

from pydantic import Field

from operators.dedup.exact import ExactDedup, ExactDedupConfig


class ImageDedupConfig(ExactDedupConfig):
    perceptual: bool = Field(
        False,
        description="Match images by equal difference hash (image_phash, from image_hygiene) instead of equal bytes; "
        "catches re-encoded and resized copies.",
    )


class ImageDedup(ExactDedup):
    """Keeps one record per image (drop reason ``image_dedup:duplicate``).

    Runs exact dedup's shuffle on ``image_hash`` (the bytes) or, with
    ``perceptual``, on ``image_phash``; ``dup_cluster`` is that hash.
    """

    name = "image_dedup"
    version = "1"
    Config = ImageDedupConfig

    @property
    def hash_column(self) -> str:
        return "image_phash" if self.config.perceptual else "image_hash"
