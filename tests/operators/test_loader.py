"""The training feed: packing, exact token accounting, shuffling, ranks/workers, resume, mixtures."""

from __future__ import annotations

import itertools
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers

from operators.formats.shards import build_shard_table, write_shard
from operators.formats.tokenize import resolve
from pipelines.training import (
    IGNORE_INDEX,
    MixtureDataset,
    PackedDataset,
    ResumableLoader,
    ShardError,
    Source,
    TokenizerMismatch,
    doc_causal_mask,
    find_shards,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """A real (tiny) tokenizer.json, resolved the way the pipeline resolves the recipe's."""
    folder = tmp_path_factory.mktemp("tok")
    vocab = {"<unk>": 0, "</s>": 1, **{f"w{i}": i + 2 for i in range(200)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(folder / "tokenizer.json"))
    return resolve(str(folder))


def write_shards(folder: Path, shard_docs: list[list[int]], tokenizer, first: int = 2, batch_rows: int = 3):
    """Shards whose documents have the given lengths; every token id is unique (first, first+1, ...).

    Each shard is written in record batches of ``batch_rows`` documents, so a
    shard's token stream spans several Arrow buffers. Returns the documents.
    """
    folder.mkdir(parents=True, exist_ok=True)
    counter = itertools.count(first)
    docs = []
    for s, lengths in enumerate(shard_docs):
        tokens = [[next(counter) for _ in range(n)] for n in lengths]
        docs += tokens
        ids = [f"{folder.name}-{s}-{i}" for i in range(len(lengths))]
        table = build_shard_table(ids, ["test"] * len(ids), ["x"] * len(ids), tokens)
        table = pa.Table.from_batches(table.to_batches(max_chunksize=batch_rows))
        write_shard(table, str(folder / f"shard-{s:05d}.arrow"), {"tokenizer": tokenizer.to_dict()})
    return docs


LENGTHS = [[5, 9, 1, 13, 4, 7, 2], [11, 3, 3, 8], [6, 15, 2, 9, 1, 1, 10]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, tokenizer):
    folder = tmp_path_factory.mktemp("corpus") / "shards"
    docs = write_shards(folder, LENGTHS, tokenizer)
    return folder, docs


def rows_of(batch) -> list[list[int]]:
    """Each row's window (inputs plus the last label), padding excluded."""
    out = []
    for inp, lab in zip(batch["input_ids"].tolist(), batch["labels"].tolist(), strict=True):
        valid = [x for x, y in zip(inp, lab, strict=True) if y != IGNORE_INDEX]
        last = [y for y in lab if y != IGNORE_INDEX][-1:]
        out.append(valid + last)
    return out


def test_every_token_exactly_once_per_epoch_in_stream_order(corpus, tokenizer):
    folder, docs = corpus
    stream = [t for d in docs for t in d]
    ds = PackedDataset(folder, seq_len=7, batch_size=3, shuffle=False, drop_last=False, expect_tokenizer=tokenizer)
    batches = list(ResumableLoader(ds))
    rows = [r for b in batches for r in rows_of(b)]
    assert [t for r in rows for t in r] == stream  # each token once, in order
    assert all(len(r) == 8 for r in rows[:-1]) and len(rows[-1]) == len(stream) % 8
    for b in batches:
        valid = b["labels"] != IGNORE_INDEX
        assert torch.equal(b["labels"][:, :-1][valid[:, :-1]], b["input_ids"][:, 1:][valid[:, :-1]])
    assert batches[-1]["input_ids"][-1, -1].item() == tokenizer.eos_id  # the tail is padded with EOS
    assert ds.state_dict()["step"] == ds.steps_per_epoch == len(batches)

    # drop_last: whole windows only, full batches only; what is left is less than one step.
    ds = PackedDataset(folder, seq_len=7, batch_size=3, shuffle=False)
    rows = [r for b in ResumableLoader(ds) for r in rows_of(b)]
    kept = [t for r in rows for t in r]
    assert kept == stream[: len(kept)] and len(kept) == ds.steps_per_epoch * 3 * 8
    assert 0 <= len(stream) - len(kept) < 3 * 8


def test_shuffle_is_a_seeded_permutation_per_epoch(corpus):
    folder, docs = corpus
    stream = sorted(t for d in docs for t in d)

    def epoch_rows(seed, epochs=2):
        ds = PackedDataset(folder, seq_len=5, batch_size=2, seed=seed, shuffle_window=3, drop_last=False)
        loader = ResumableLoader(ds)
        return [[r for b in loader for r in rows_of(b)] for _ in range(epochs)]

    first, second = epoch_rows(seed=1)
    for rows in (first, second):
        assert sorted(t for r in rows for t in r) == stream  # every token exactly once
    assert first != second  # each epoch has its own order
    assert epoch_rows(seed=1) == [first, second]  # and the seed decides it
    assert epoch_rows(seed=2)[0] != first
    unshuffled = [t for d in docs for t in d]
    assert [t for r in first for t in r] != unshuffled


def test_document_boundaries(corpus):
    folder, docs = corpus
    starts = {d[0] for d in docs}
    ds = PackedDataset(folder, seq_len=9, batch_size=4, shuffle=True, boundaries=True, drop_last=False)
    for batch in ResumableLoader(ds):
        ids, pos, doc = batch["input_ids"], batch["position_ids"], batch["doc_ids"]
        for r in range(ids.shape[0]):
            for j in range(ids.shape[1]):
                new_doc = j == 0 or ids[r, j].item() in starts or batch["labels"][r, j - 1] == IGNORE_INDEX
                assert (pos[r, j].item() == 0) == new_doc
                assert pos[r, j].item() == (0 if new_doc else pos[r, j - 1].item() + 1)
                assert doc[r, j].item() == (0 if j == 0 else doc[r, j - 1].item() + int(new_doc))
        flat_starts = torch.nonzero(pos.flatten() == 0).flatten().tolist()
        assert batch["cu_seqlens"].tolist() == [*flat_starts, pos.numel()]
        mask = doc_causal_mask(doc)
        assert mask.shape == (ids.shape[0], 1, 9, 9)
        r = 0
        expected = (doc[r][:, None] == doc[r][None, :]) & torch.ones(9, 9, dtype=torch.bool).tril()
        assert torch.equal(mask[r, 0], expected)


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


def test_shards_are_memory_mapped_not_copied(corpus):
    folder, docs = corpus
    shard = find_shards(folder)[0]
    before, fds = pa.total_allocated_bytes(), _open_files()
    segments = shard.segments
    assert pa.total_allocated_bytes() == before  # Arrow allocated nothing: the buffers are the map
    assert _open_files() == fds  # and the mapping holds no file descriptor (many shards x workers)
    assert len(segments) == 3  # three record batches of three documents
    values, doc_starts = segments[1]
    assert not values.flags.owndata and not values.flags.writeable and values.dtype == np.int32
    assert values.tolist() == [t for d in docs[3:6] for t in d]
    assert doc_starts.tolist() == [0, 13, 17]


def collect(loader, n=None):
    return [b["input_ids"].clone() for b in itertools.islice(loader, n)]


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_after_a_crash_gives_the_same_next_batches(corpus, tmp_path, workers):
    folder, _ = corpus

    def make(num_workers):
        ds = PackedDataset(folder, seq_len=6, batch_size=2, seed=7, shuffle_window=4)
        return ResumableLoader(ds, num_workers=num_workers, pin_memory=False)

    reference = make(0)
    per_epoch = reference.dataset.steps_per_epoch
    reference = [b for _ in range(3) for b in collect(reference)]
    # Uninterrupted: three epochs, in order; with workers, the same batches as without.
    loader = make(workers)
    uninterrupted = [b for _ in range(3) for b in collect(loader)]
    assert len(uninterrupted) == 3 * per_epoch
    assert all(torch.equal(a, b) for a, b in zip(reference, uninterrupted, strict=True))

    # Crash mid-epoch two: the checkpoint holds the loader state after k batches.
    k = per_epoch + per_epoch // 2 + 1
    loader = make(workers)
    seen = collect(loader)  # epoch one
    it = iter(loader)
    seen += [next(it)["input_ids"].clone() for _ in range(k - per_epoch)]
    torch.save(loader.state_dict(), tmp_path / "ckpt.pt")
    del it, loader

    for resume_workers in {workers, 1}:  # the state does not depend on the worker count
        loader = make(resume_workers)
        loader.load_state_dict(torch.load(tmp_path / "ckpt.pt"))
        rest = collect(loader) + collect(loader)  # the rest of epoch two, then epoch three
        got = seen + rest
        assert len(got) == len(uninterrupted)
        assert all(torch.equal(a, b) for a, b in zip(got, uninterrupted, strict=True))


def test_leaving_a_loop_early_continues_where_it_stopped(corpus):
    folder, _ = corpus
    ds = PackedDataset(folder, seq_len=6, batch_size=2, seed=2, shuffle_window=4)
    reference = collect(ResumableLoader(ds)) + collect(ResumableLoader(ds))  # two epochs
    ds = PackedDataset(folder, seq_len=6, batch_size=2, seed=2, shuffle_window=4)
    loader = ResumableLoader(ds, num_workers=2, persistent_workers=True, prefetch_factor=4)
    got = []
    for stop in (3, 2, None, None):  # break twice mid-epoch (the workers ran ahead), then run on
        for batch in loader:
            got.append(batch["input_ids"].clone())
            if stop is not None and len(got) in (3, 5):
                break
    assert len(got) == len(reference)
    assert all(torch.equal(a, b) for a, b in zip(got, reference, strict=True))


def test_ranks_and_workers_partition_the_epoch(corpus):
    folder, docs = corpus
    stream = sorted(t for d in docs for t in d)
    world = 3
    for drop_last in (True, False):
        per_rank = []
        for rank in range(world):
            ds = PackedDataset(
                folder, seq_len=4, batch_size=2, seed=3, world_size=world, rank=rank, drop_last=drop_last
            )
            loader = ResumableLoader(ds, num_workers=2)
            per_rank.append([tuple(r) for b in loader for r in rows_of(b)])
        windows = [w for rows in per_rank for w in rows]
        assert len(set(windows)) == len(windows)  # no window twice, across ranks and workers
        tokens = sorted(t for w in windows for t in w)
        if drop_last:
            assert len({len(rows) for rows in per_rank}) == 1  # every rank takes the same number of steps
            assert set(tokens) <= set(stream) and len(tokens) == ds.steps_per_epoch * world * 2 * 5
        else:
            assert tokens == stream  # all ranks together: every token exactly once


def test_state_from_another_feed_is_refused(corpus):
    folder, _ = corpus
    state = PackedDataset(folder, seq_len=6, batch_size=2).state_dict()
    with pytest.raises(ValueError, match="batch_size: checkpoint 2, now 3"):
        PackedDataset(folder, seq_len=6, batch_size=3).load_state_dict(state)
    other_rank = PackedDataset(folder, seq_len=6, batch_size=2, world_size=2, rank=1)
    with pytest.raises(ValueError, match="world_size"):
        other_rank.load_state_dict(state)


def mixture_sources(tmp_path, tokenizer):
    # Disjoint token ranges tell the sources apart; sizes differ so they cycle at different rates.
    ranges = {}
    for name, n_docs, first in (("web", 60, 10_000), ("synthetic", 25, 20_000), ("code", 8, 30_000)):
        rng = np.random.default_rng(len(name))
        write_shards(tmp_path / name, [rng.integers(1, 30, n_docs).tolist()], tokenizer, first=first)
        ranges[name] = first
    return ranges


def source_of(window, ranges) -> str:
    return max((first, name) for name, first in ranges.items() if window[0] >= first)[1]


def test_mixture_realizes_its_weights_deterministically(tmp_path, tokenizer):
    ranges = mixture_sources(tmp_path, tokenizer)
    weights = {"web": 0.7, "synthetic": 0.2, "code": 0.1}
    sources = [Source(n, tmp_path / n, w) for n, w in weights.items()]
    steps, world, batch = 150, 2, 4
    counts: Counter = Counter()
    windows_by_rank = []
    for rank in range(world):
        ds = MixtureDataset(sources, seq_len=8, batch_size=batch, seed=5, world_size=world, rank=rank, mix_block=64)
        rows = [r for b in itertools.islice(ResumableLoader(ds), steps) for r in rows_of(b)]
        counts.update(source_of(r, ranges) for r in rows)
        windows_by_rank.append(rows)
    total = steps * world * batch
    assert sum(counts.values()) == total
    assert dict(counts) == ds.source_counts(steps)  # what it says it gave is what came out
    for name, w in weights.items():
        assert abs(counts[name] / total - w) < 0.01, (name, counts)
    # The small source ("code") cycled through several epochs, each a full pass over its windows.
    code = [tuple(r) for rows in windows_by_rank for r in rows if source_of(r, ranges) == "code"]
    n_code_windows = ds.streams[2].num_windows
    assert len(code) > 2 * n_code_windows and len(set(code)) == n_code_windows

    again = MixtureDataset(sources, seq_len=8, batch_size=batch, seed=5, world_size=world, rank=1, mix_block=64)
    assert [r for b in itertools.islice(ResumableLoader(again), steps) for r in rows_of(b)] == windows_by_rank[1]
    other = MixtureDataset(sources, seq_len=8, batch_size=batch, seed=6, world_size=world, rank=1, mix_block=64)
    assert [r for b in itertools.islice(ResumableLoader(other), steps) for r in rows_of(b)] != windows_by_rank[1]


def test_mixture_resumes_with_workers(tmp_path, tokenizer):
    mixture_sources(tmp_path, tokenizer)
    sources = [Source("web", tmp_path / "web", 3), Source("code", tmp_path / "code", 1)]

    def make(workers):
        return ResumableLoader(
            MixtureDataset(sources, seq_len=8, batch_size=3, seed=1, mix_block=16), num_workers=workers
        )

    reference = collect(make(0), 40)
    loader = make(2)
    first = collect(loader, 17)
    state = loader.state_dict()
    resumed = make(2)
    resumed.load_state_dict(state)
    got = first + collect(resumed, 23)
    assert all(torch.equal(a, b) for a, b in zip(got, reference, strict=True))


def test_tokenizer_identity_is_checked(corpus, tmp_path, tokenizer):
    folder, _ = corpus
    PackedDataset(folder, seq_len=4, batch_size=1, expect_tokenizer=tokenizer.path)  # by path: same file
    PackedDataset(folder, seq_len=4, batch_size=1, expect_tokenizer={"vocab_size": 202, "eos_id": 1})
    with pytest.raises(
        TokenizerMismatch, match=r"vocab_size 202 != expected 49152.*Re-run the recipe with the model's tokenizer"
    ):
        PackedDataset(folder, seq_len=4, batch_size=1, expect_tokenizer={"vocab_size": 49152})

    # A different tokenizer file (one more word): the hash differs.
    vocab = {"<unk>": 0, "</s>": 1, **{f"w{i}": i + 2 for i in range(201)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.save(str(tmp_path / "tokenizer.json"))
    other = resolve(str(tmp_path))
    with pytest.raises(TokenizerMismatch, match="sha256"):
        PackedDataset(folder, seq_len=4, batch_size=1, expect_tokenizer=other)

    # Shards of two tokenizers in one set, or in one mixture, are refused.
    write_shards(tmp_path / "other", [[3, 4]], other, first=500)
    mixed = [*sorted(folder.glob("*.arrow")), tmp_path / "other" / "shard-00000.arrow"]
    with pytest.raises(TokenizerMismatch, match="tokenized differently"):
        PackedDataset(mixed, seq_len=4, batch_size=1)
    with pytest.raises(TokenizerMismatch, match="every source of a mixture must use one tokenizer"):
        MixtureDataset([Source("a", folder, 1), Source("b", tmp_path / "other", 1)], seq_len=2, batch_size=1)


def test_unusable_shards_say_what_to_do(corpus, tmp_path, tokenizer):
    folder, _ = corpus
    with pytest.raises(ShardError, match="does not exist"):
        find_shards(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ShardError, match="assay demo"):
        find_shards(tmp_path / "empty")
    write_shards(tmp_path / "partial", [[3, 4]], tokenizer)
    (tmp_path / "partial" / "shard-00000.arrow.manifest.json").unlink()
    with pytest.raises(ShardError, match="incomplete write"):
        find_shards(tmp_path / "partial")
    with pytest.raises(ShardError, match="lower batch_size or seq_len"):
        PackedDataset(folder, seq_len=50, batch_size=64)


@pytest.mark.slow  # a pipeline run (and, first in a session, the tokenizer's conversion)
def test_shards_from_the_real_pipeline(tmp_path):
    from operators.execution.executor import LocalExecutor
    from operators.formats.shards import read_shard
    from pipelines.recipe import load
    from tests.conftest import write_jsonl

    texts = [f"Document number {i} talks about rivers, mills and the bakers of village {i}." for i in range(40)]
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in texts])
    recipe = {
        "name": "feed",
        "sources": [{"path": source}],
        "stages": [{"op": "normalize"}],
        "output": str(tmp_path / "out"),
        "rows_per_part": 15,
    }
    pipeline = load(recipe).pipeline()
    result = pipeline.run(LocalExecutor())
    stream = [
        t
        for s in sorted((tmp_path / "out" / "shards").glob("*.arrow"))
        for d in read_shard(str(s)).column("input_ids").to_pylist()
        for t in d
    ]
    assert len(stream) == result.tokens and result.kept == 40

    ds = PackedDataset(
        tmp_path / "out", seq_len=16, batch_size=4, shuffle=False, drop_last=False, expect_tokenizer=pipeline.tokenizer
    )
    assert [t for b in ResumableLoader(ds) for r in rows_of(b) for t in r] == stream


@pytest.mark.slow  # the first torch optimizer imports torch._dynamo: seconds on a busy machine
def test_train_tiny_runs_on_cpu(corpus, capsys):
    folder, _ = corpus
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import train_tiny
    finally:
        sys.path.pop(0)
    summary = train_tiny.main(
        [
            "--shards",
            str(folder),
            "--steps",
            "6",
            "--device",
            "cpu",
            "--batch-size",
            "2",
            "--seq-len",
            "8",
            "--log-every",
            "2",
            "--workers",
            "0",
            "--dim",
            "32",
            "--layers",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert "summary:" in out and summary["steps"] == 6
    assert np.isfinite(summary["first_loss"]) and np.isfinite(summary["last_loss"])
    assert 0 <= summary["loader_wait_fraction"] <= 1
