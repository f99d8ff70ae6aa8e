"""Where the private pixels of an image are: faces, lines of text, and which lines are personal.

Every model here ships inside a package; nothing is downloaded:

* faces: OpenCV's Haar cascade (``cv2.data.haarcascades``, opencv-python 4.x)
  or MTCNN (its three small networks ship in the ``facenet-pytorch`` wheel);
* text: the PP-OCRv4 detector and recogniser that ``rapidocr-onnxruntime``
  carries, run by ONNX Runtime on the CPU;
* personal text: the recognised lines of one image, joined, go through the
  ``pii`` operator (:class:`PersonalText`, through its public face only) (names, phone numbers, e-mail, card and account numbers),
  plus three rules of our own for what it does not cover: a row with many
  digits (IDs, phone numbers OCR ran together), a code shaped like a licence
  plate (``AB12 CDE``, ``PA-907-MN``, ``7ABC123``), and a row shaped like a
  name with a word rare in English (the names from other countries that
  English NER does not know: ``Sonia Rybus``, ``Maya van Luinenburg``).

Boxes are ``(x0, y0, x1, y1)`` in pixels of the image handed in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]

#: The pii operator's types that make a line of text in an image personal.
PERSONAL_TYPES = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN")
_GROUPS = re.compile(r"[A-Z0-9]+")
_LETTER_RUNS = re.compile(r"[A-Z]+")
_JOINED = re.compile(r"([a-z])([A-Z])")
_NAME_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")
#: Lower-case words inside names (``Maya van Luinenburg``, ``Lucas de la Cruz``).
_PARTICLES = {"van", "von", "der", "den", "de", "del", "della", "da", "di", "do", "dos", "das", "du", "la", "le",
              "y", "e", "ten", "ter", "bin", "ibn", "al", "el", "zu"}


@dataclass(frozen=True)
class TextLine:
    """One detected line of text: its box, what OCR read (None when not recognised), the detector's score,
    and its four corners (a turned line's box is larger than the line)."""

    box: Box
    text: str | None
    score: float
    points: tuple[tuple[float, float], ...] | None = None


def _scaled(rgb: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """``rgb`` shrunk so its longest side is at most ``side``, and the factor back to the original."""
    import cv2

    h, w = rgb.shape[:2]
    if max(h, w) <= side:
        return rgb, 1.0
    f = side / max(h, w)
    return cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA), 1 / f


class HaarFaces:
    """Frontal faces with OpenCV's Haar cascade (Viola-Jones).

    Args:
        min_size: smallest face, in pixels of the image scaled to ``side``.
        min_neighbors: overlapping detections a face needs (higher: fewer false faces, fewer faces).
        scale: step between the pyramid's scales (lower: slower, finds more).
        side: images are shrunk to this longest side before detection.
        cascade: the cascade file name in ``cv2.data.haarcascades``.
    """

    def __init__(self, min_size: int = 24, min_neighbors: int = 5, scale: float = 1.1, side: int = 640,
                 cascade: str = "haarcascade_frontalface_default.xml"):
        import cv2

        path = cv2.data.haarcascades + cascade
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"image_privacy: OpenCV could not load the face cascade {path}; "
                               "install opencv-python-headless 4.x (5.x ships no cascades)")
        self.min_size, self.min_neighbors, self.scale, self.side = min_size, min_neighbors, scale, side

    def find(self, rgb: np.ndarray) -> list[Box]:
        import cv2

        small, back = _scaled(rgb, self.side)
        grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        found = self._cascade.detectMultiScale(
            grey, scaleFactor=self.scale, minNeighbors=self.min_neighbors, minSize=(self.min_size, self.min_size)
        )
        return [_back((x, y, x + w, y + h), back) for x, y, w, h in np.asarray(found).reshape(-1, 4)]


class MtcnnFaces:
    """Faces with MTCNN (facenet-pytorch's packaged weights), on the CPU or a GPU.

    Args:
        min_size: smallest face, in pixels of the image scaled to ``side``.
        min_score: the last network's probability a face needs.
        side: images are shrunk to this longest side before detection.
        device: ``cpu`` or ``cuda``.
    """

    def __init__(self, min_size: int = 24, min_score: float = 0.9, side: int = 640, device: str = "cpu"):
        try:
            from facenet_pytorch import MTCNN
        except ImportError as e:
            raise RuntimeError(
                "image_privacy: face_detector mtcnn needs facenet-pytorch: `pip install --no-deps facenet-pytorch==2.6.0` "
                "(its declared pins on torch and numpy are older than assay's, and not needed)"
            ) from e
        self._mtcnn = MTCNN(keep_all=True, min_face_size=min_size, device=device)
        self.min_score, self.side = min_score, side

    def find(self, rgb: np.ndarray) -> list[Box]:
        small, back = _scaled(rgb, self.side)
        boxes, probs = self._mtcnn.detect(small)
        if boxes is None:
            return []
        return [_back(tuple(b), back) for b, p in zip(boxes, probs, strict=True) if p >= self.min_score]


def _back(box, factor: float) -> Box:
    x0, y0, x1, y1 = (float(v) * factor for v in box)
    return int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1))


def face_finder(kind: str, min_size: int, min_neighbors: int, min_score: float, side: int, device: str = "cpu"):
    """The face detector named ``kind`` (``haar`` or ``mtcnn``)."""
    if kind == "haar":
        return HaarFaces(min_size=min_size, min_neighbors=min_neighbors, side=side)
    if kind == "mtcnn":
        return MtcnnFaces(min_size=min_size, min_score=min_score, side=side, device=device)
    raise ValueError(f"image_privacy: unknown face detector {kind!r}; use haar or mtcnn")


class TextLines:
    """Lines of text with RapidOCR's PP-OCRv4 detector, optionally read by its recogniser.

    Args:
        recognise: read each line (needed to tell personal text from the rest).
        box_score: the detector's mean probability a line needs (DB ``box_thresh``).
        side: the detector sees the image shrunk to this longest side (lines are read at full size).
        threads: ONNX Runtime threads per session (one per worker process is what scales).
    """

    def __init__(self, recognise: bool = True, box_score: float = 0.5, side: int = 960, threads: int = 1):
        from rapidocr_onnxruntime import RapidOCR

        self._engine = RapidOCR(
            det_limit_type="max", det_limit_side_len=side, det_box_thresh=box_score,
            intra_op_num_threads=threads, inter_op_num_threads=1, print_verbose=False,
        )
        self.recognise, self.box_score = recognise, box_score

    def find(self, rgb: np.ndarray) -> list[TextLine]:
        import cv2

        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        # text_score 0: keep every detected line, read or not; what to hide is decided from the text.
        result, _ = self._engine(bgr, use_cls=False, use_rec=self.recognise,
                                 box_thresh=self.box_score, unclip_ratio=1.6, text_score=0.0)
        lines = []
        for item in result or []:
            points, text, score = (item, None, 1.0) if not self.recognise else (item[0], item[1], float(item[2]))
            pts = np.asarray(points, dtype=float)
            box = _back((pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()), 1.0)
            lines.append(TextLine(box, text, score, tuple((float(x), float(y)) for x, y in pts)))
        return lines


def number_kind(line: str, min_digits: int) -> str | None:
    """``number`` when a line holds at least ``min_digits`` digits or is shaped like a licence plate, else None.

    A plate-shaped code is 5 to 10 capitals and digits, at least two digits, written as one group
    (``YO31PUM``, ``KABB402``: letter runs up to four) or as several with letter runs up to three
    (``TSA 3555``, ``PA-907-MN``, ``36-RL-DL``): ``EXIT 25``, ``GATE B12`` and ``A4 PAPER`` are not.
    """
    if sum(c.isdigit() for c in line) >= min_digits:
        return "number"
    if any(c.isalpha() and not c.isupper() for c in line):
        return None
    groups = _GROUPS.findall(line)
    joined = "".join(groups)
    digits = sum(c.isdigit() for c in joined)
    if not (5 <= len(joined) <= 10 and 2 <= digits < len(joined)):
        return None
    longest = max((len(r) for g in groups for r in _LETTER_RUNS.findall(g)), default=0)
    if (len(groups) == 1 and longest <= 4) or (len(groups) >= 2 and longest <= 3):
        return "number"
    return None


def name_shaped(row: str, rare: float) -> bool:
    """Whether a row reads like a person's name: two to four capitalised words (name particles such as ``van``
    or ``de`` aside), letters, hyphens and apostrophes only, one of them rare in English (Zipf frequency below
    ``rare`` by wordfreq: ``Rybus``, ``Luinenburg``), which ordinary signs and titles (``Fresh Coffee``,
    ``Sales Manager``) are not. Catches the names from other countries English NER does not know."""
    from wordfreq import zipf_frequency

    words = row.split()
    names = [w for w in words if w.lower() not in _PARTICLES]
    if not 2 <= len(words) <= 4 or len(names) < 2:
        return False
    if not all(_NAME_WORD.fullmatch(w) and w[0].isupper() for w in names):
        return False
    return any(zipf_frequency(part, "en") < rare for w in names for part in re.split(r"[-'’]", w.lower()) if part)


def _readable(line: str) -> str:
    """A line as NER reads names: words OCR ran together split (``AnnaKeller``), capitals in title case."""
    line = _JOINED.sub(r"\1 \2", line)
    return line.title() if line.isupper() else line


def rows(lines: list[TextLine]) -> list[int]:
    """The row of each line, in reading order: a line just right of the one before (their heights overlap by
    more than half the shorter, the gap is under one and a half heights) is on its row. RapidOCR cuts a wide
    gap in a name or a plate into two lines; a sign across the picture is another row."""
    out: list[int] = []
    for i, line in enumerate(lines):
        if i:
            prev = lines[i - 1].box
            overlap = min(prev[3], line.box[3]) - max(prev[1], line.box[1])
            shorter = min(prev[3] - prev[1], line.box[3] - line.box[1])
            same = overlap > 0.5 * shorter and line.box[0] - prev[2] < 1.5 * shorter
            out.append(out[-1] if same else out[-1] + 1)
        else:
            out.append(0)
    return out


class PersonalText:
    """The ``pii`` operator's findings in texts: the one place image privacy meets it.

    Only its public face is used, so a rewrite of its insides does not reach here: the
    registry name ``pii``, its ``entities`` parameter (the types to look for), and the
    ``pii`` column (``type``, ``start``, ``end`` of each finding) it adds to records.

    Args:
        types: the pii types that make text personal.
    """

    def __init__(self, types: Sequence[str]):
        from operators.core import registry

        self._operator = registry.get("pii")(entities=list(types))

    def __call__(self, texts: list[str]) -> list[list[dict]]:
        """The findings in each text: ``[{"type", "start", "end", ...}, ...]``."""
        from operators.core.schema import records_table

        found = self._operator(records_table(texts, "image_text")).column("pii").to_pylist()
        return [f or [] for f in found]


def personal_types(pages: list[list[TextLine]], finder: PersonalText) -> list[list[set[str]]]:
    """The pii types found in each line of each image's text.

    Each image's lines become one text: lines on one row joined by a space, so a name the detector cut in two
    (``Jessica`` ``Castro``) is read whole; rows by a blank line, so NER does not carry a name on into the next
    row (``Emma Chapman`` / ``Engineer``), and a finding that does anyway ends with its row.

    Args:
        pages: per image, its recognised lines (in RapidOCR's reading order).
        finder: what finds personal data in texts (:class:`PersonalText`).
    """
    texts, spans = [], []
    for lines in pages:
        text, where = "", []
        for i, row in enumerate(rows(lines)):
            if i:
                text += " " if row == rows(lines)[i - 1] else "\n\n"
            shown = _readable(lines[i].text or "")
            where.append((len(text), len(text) + len(shown)))
            text += shown
        texts.append(text)
        spans.append(where)
    if not any(texts):
        return [[set() for _ in lines] for lines in pages]
    out = []
    for text, where, findings in zip(texts, spans, finder(texts), strict=True):
        types: list[set[str]] = [set() for _ in where]
        for f in findings:
            # NER may run a name on over the break into the next row (a job title): a finding ends with its row.
            stop = text.find("\n\n", f["start"])
            f_end = f["end"] if stop < 0 else min(f["end"], stop)
            for i, (start, end) in enumerate(where):
                if f["start"] < end and start < f_end:
                    types[i].add(f["type"])
        out.append(types)
    return out


def line_kinds(pages: list[list[TextLine]], finder: PersonalText, min_digits: int, rare: float | None) -> list[list[str]]:
    """Per image, per line: ``text:<pii type>``, ``text:number``, ``text:name`` (name-shaped row) when personal,
    ``text`` when not. The number and name rules read the whole row a line is on."""
    out = []
    for lines, types in zip(pages, personal_types(pages, finder), strict=True):
        row_of = rows(lines)
        raw: dict[int, str] = {}
        for line, row in zip(lines, row_of, strict=True):
            raw[row] = f"{raw[row]} {line.text or ''}" if row in raw else line.text or ""
        kinds = []
        for line, row, found in zip(lines, row_of, types, strict=True):
            if found:
                kinds.append(f"text:{sorted(found)[0]}")
            elif number_kind(raw[row], min_digits) or number_kind(line.text or "", min_digits):
                kinds.append("text:number")
            elif rare is not None and name_shaped(_readable(raw[row]), rare):
                kinds.append("text:name")
            else:
                kinds.append("text")
        out.append(kinds)
    return out
