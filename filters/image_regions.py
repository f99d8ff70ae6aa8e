"""Where the private pixels of an image are: faces, lines of text, and which lines are personal.

Every model here ships inside a package; nothing is downloaded:

* faces: OpenCV's Haar cascade (``cv2.data.haarcascades``, opencv-python 4.x)
  or MTCNN (its three small networks ship in the ``facenet-pytorch`` wheel);
* text: the PP-OCRv4 detector and recogniser that ``rapidocr-onnxruntime``
  carries, run by ONNX Runtime on the CPU;
* personal text: the recognised lines of one image, joined, go through the
  ``pii`` operator (names, phone numbers, e-mail, card and account numbers),
  plus two rules of our own for what it does not cover: a line with many
  digits (IDs, phone numbers OCR ran together) and a code shaped like a
  licence plate (``AB12 CDE``, ``PA-907-MN``, ``7ABC123``).

Boxes are ``(x0, y0, x1, y1)`` in pixels of the image handed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]

#: The pii operator's types that make a line of text in an image personal.
PERSONAL_TYPES = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN")
_GROUPS = re.compile(r"[A-Z0-9]+")
_LETTER_RUNS = re.compile(r"[A-Z]+")
_JOINED = re.compile(r"([a-z])([A-Z])")


@dataclass(frozen=True)
class TextLine:
    """One detected line of text: its box, what OCR read (None when not recognised), the detector's score."""

    box: Box
    text: str | None
    score: float


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
            lines.append(TextLine(_back((pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()), 1.0),
                                  text, score))
        return lines


def number_kind(line: str, min_digits: int) -> str | None:
    """``number`` when a line holds at least ``min_digits`` digits or is shaped like a licence plate, else None.

    A plate-shaped code is 5 to 10 capitals and digits, at least two digits, with no run of more than three
    letters, written as one group that mixes both (``YO31PUM``) or as several (``TSA 3555``, ``PA-907-MN``):
    ``EXIT 25``, ``ROUTE 66`` and ``A4 PAPER`` are not.
    """
    if sum(c.isdigit() for c in line) >= min_digits:
        return "number"
    if any(c.isalpha() and not c.isupper() for c in line):
        return None
    groups = _GROUPS.findall(line)
    joined = "".join(groups)
    digits = sum(c.isdigit() for c in joined)
    mixed = any(any(c.isdigit() for c in g) and any(c.isalpha() for c in g) for g in groups)
    if (
        5 <= len(joined) <= 10
        and digits >= 2
        and digits < len(joined)
        and all(len(run) <= 3 for run in _LETTER_RUNS.findall(joined))
        and (mixed or len(groups) >= 2)
    ):
        return "number"
    return None


def _readable(line: str) -> str:
    """A line as NER reads names: words OCR ran together split (``AnnaKeller``), capitals in title case."""
    line = _JOINED.sub(r"\1 \2", line)
    return line.title() if line.isupper() else line


def personal_types(pages: list[list[TextLine]], detector) -> list[list[set[str]]]:
    """The pii types found in each line of each image's text: the one place this module meets the pii operator.

    Each image's lines become one text: lines side by side on a row joined by a space, so a name the detector
    cut in two (``Jessica`` ``Castro``) is read whole; rows by a blank line, so NER does not carry a name on
    into the next row (``Emma Chapman`` / ``Engineer``), and a finding that does anyway ends with its row.

    Args:
        pages: per image, its recognised lines (in RapidOCR's reading order).
        detector: a ``pii`` operator (``filters.pii.Pii``) configured with the types to look for.
    """
    from operators.schema import records_table

    texts, spans = [], []
    for lines in pages:
        text, where = "", []
        for i, line in enumerate(lines):
            if i:
                prev = lines[i - 1].box
                overlap = min(prev[3], line.box[3]) - max(prev[1], line.box[1])
                same_row = overlap > 0.5 * min(prev[3] - prev[1], line.box[3] - line.box[1])
                text += " " if same_row else "\n\n"
            shown = _readable(line.text or "")
            where.append((len(text), len(text) + len(shown)))
            text += shown
        texts.append(text)
        spans.append(where)
    if not any(texts):
        return [[set() for _ in lines] for lines in pages]
    found = detector(records_table(texts, "image_text")).column("pii").to_pylist()
    out = []
    for text, where, findings in zip(texts, spans, found, strict=True):
        types: list[set[str]] = [set() for _ in where]
        for f in findings or []:
            # NER may run a name on over the break into the next row (a job title): a finding ends with its row.
            stop = text.find("\n\n", f["start"])
            f_end = f["end"] if stop < 0 else min(f["end"], stop)
            for i, (start, end) in enumerate(where):
                if f["start"] < end and start < f_end:
                    types[i].add(f["type"])
        out.append(types)
    return out
