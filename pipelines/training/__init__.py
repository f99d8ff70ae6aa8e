"""The training feed: assay shards to a PyTorch training loop, packed, shuffled, resumable.

A shard's ``input_ids`` column is one contiguous int32 buffer per record
batch; :class:`PackedDataset` memory-maps the shards (``pa.memory_map`` +
``pa.ipc.open_stream``) and reads those buffers as NumPy views, so no token is
copied until it lands in a batch.

**Packing.** Per epoch, the shards are laid end to end (in a seeded order when
shuffling) into one token stream: the documents, each ending in EOS, back to
back. The stream is cut into non-overlapping windows of ``seq_len + 1``
tokens; window ``i`` covers stream tokens ``[i*(seq_len+1), (i+1)*(seq_len+1))``
and gives ``input_ids = window[:-1]`` and ``labels = window[1:]``. Every token
of the stream is in exactly one window. Documents cross window boundaries;
with ``boundaries=True`` a batch also carries ``position_ids`` (restarting at
every document start and at the row start), ``doc_ids`` (the document's index
within its row; :func:`doc_causal_mask` turns them into an attention mask) and
``cu_seqlens`` (for variable-length attention kernels over the flattened
batch). The stream's last ``len % (seq_len+1)`` tokens are dropped with
``drop_last=True`` (training); with ``drop_last=False`` they form one last
window padded with EOS whose padded labels are -100.

**Order.** Window ids are shuffled in two levels: the windows are grouped into
chunks of ``shuffle_window`` consecutive windows (reads within a chunk stay
close together on disk), the chunk order is permuted, then the windows within
each chunk. Every permutation is a pure function of ``(seed, epoch)``.

**Ranks and workers.** Global step ``g`` of an epoch takes the shuffled
positions ``[g*W*B, (g+1)*W*B)`` (``W`` ranks, ``B`` rows per batch); rank
``r`` takes the ``r``-th ``B`` of them. Within a rank, DataLoader worker ``k``
of ``K`` builds the batches ``k, k+K, k+2K, ...`` counted from where the
iteration started, which is exactly the order in which ``DataLoader`` collects
them from its workers: the batches come out the same whatever ``num_workers``.

**Resuming.** The state is one number, the steps this rank has consumed (all
ranks consume the same number). Use :class:`ResumableLoader` (a ``DataLoader``
that counts the batches it hands out); ``state_dict()`` /
``load_state_dict()`` then restart at exactly the next batch, with or without
workers.

**Mixtures.** :class:`MixtureDataset` draws from several shard sets with
weights. Positions are assigned to sources in blocks: within every block of
positions each source gets its share to within one position (cumulative
counts ``floor(weight * positions)``), shuffled by a seeded permutation, so the
realized proportions match the weights at every block boundary. Each source
cycles through its own epochs.

The modules: :mod:`~pipelines.training.shards` (finding shards, checking their
tokenizer; no torch), :mod:`~pipelines.training.windows` (the token stream
and batch assembly), :mod:`~pipelines.training.datasets` (the datasets) and
:mod:`~pipelines.training.loader` (the loader). Import the public names from ``pipelines.training``; it imports
torch, and nothing under ``operators`` does.
"""

from pipelines.training.datasets import MixtureDataset, PackedDataset, Source
from pipelines.training.loader import ResumableLoader
from pipelines.training.shards import IGNORE_INDEX, Shard, ShardError, TokenizerMismatch, check_tokenizer, find_shards
from pipelines.training.windows import doc_causal_mask

__all__ = [
    "IGNORE_INDEX",
    "MixtureDataset",
    "PackedDataset",
    "ResumableLoader",
    "Shard",
    "ShardError",
    "Source",
    "TokenizerMismatch",
    "check_tokenizer",
    "doc_causal_mask",
    "find_shards",
]
