"""What metadata an encoded image carries, and encoding pixels again without any of it.

:func:`metadata_kinds` names the kinds of metadata an opened image holds (GPS
position, camera serial, owner, XMP, IPTC, comments, PNG text), never their
values, for the ledger. :func:`encode_like` writes pixels once in the format
they came in with the original's quality settings (a JPEG's own quantisation
tables and subsampling) and nothing else but, optionally, the ICC profile.
"""

from __future__ import annotations

import io

#: JPEG application segments that carry no personal data: JFIF, the ICC profile, Adobe's colour transform.
_HARMLESS_APP = {("APP0", b"JFIF"), ("APP2", b"ICC_PROFILE"), ("APP14", b"Adobe")}


def metadata_kinds(image) -> list[str]:
    """Which kinds of metadata an opened image carries (``gps``, ``serial``, ``owner``, ``xmp``, ...), never values."""
    kinds = set()
    exif = image.getexif()
    if exif:
        kinds.add("exif")
        sub = exif.get_ifd(0x8769)
        if exif.get_ifd(0x8825):
            kinds.add("gps")
        if 0xA431 in sub or 0xA435 in sub:  # body, lens serial numbers
            kinds.add("serial")
        if 0xA430 in sub or 0x013B in exif or 0x8298 in exif:  # camera owner, artist, copyright
            kinds.add("owner")
    info = image.info
    if "xmp" in info or "XML:com.adobe.xmp" in info:
        kinds.add("xmp")
    if "photoshop" in info or any(m == "APP13" for m, _ in getattr(image, "applist", [])):
        kinds.add("iptc")
    if "comment" in info:
        kinds.add("comment")
    if getattr(image, "text", None):
        kinds.add("text")
    for marker, body in getattr(image, "applist", []):
        if marker == "APP1" and (body.startswith(b"Exif") or b"ns.adobe.com/xap" in body[:64]):
            continue
        if marker != "APP13" and not any(marker == m and body.startswith(p) for m, p in _HARMLESS_APP):
            kinds.add("other")
    return sorted(kinds)


def encode_like(image, original, fmt: str, webp_quality: int = 90, keep_icc: bool = True) -> bytes:
    """``image`` encoded once in ``fmt`` with ``original``'s quality settings and without its metadata
    (WebP, which does not record its quality, at ``webp_quality``; the ICC profile kept with ``keep_icc``)."""
    from PIL import Image, JpegImagePlugin

    kwargs: dict = {}
    fmt = "JPEG" if fmt == "MPO" else fmt
    if fmt == "JPEG":
        image = image if image.mode in ("L", "RGB") else image.convert("RGB")
        tables = getattr(original, "quantization", None)
        if tables:
            kwargs["qtables"] = tables
            sampling = JpegImagePlugin.get_sampling(original)
            if sampling != -1:
                kwargs["subsampling"] = sampling
        else:
            kwargs["quality"] = 95
        if original.info.get("progressive"):
            kwargs["progressive"] = True
    elif fmt == "WEBP":
        kwargs["quality"] = webp_quality
    if keep_icc and original.info.get("icc_profile"):
        kwargs["icc_profile"] = original.info["icc_profile"]
    if fmt not in Image.SAVE:
        fmt = "PNG"
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()
