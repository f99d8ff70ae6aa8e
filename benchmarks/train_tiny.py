"""Train a tiny transformer on assay shards: the loss falls, and the GPU is never starved.

Reads the shards with ``pipelines.training`` (a ResumableLoader with workers
and pinned memory), trains a small pure-PyTorch GPT for a few hundred steps,
and prints every ``--log-every`` steps the loss, the time spent waiting for
the loader and the whole step time. The last line is a summary:

    summary: steps=300 first_loss=10.83 last_loss=4.12 mean_loader_wait_fraction=0.002 ...

The loader wait fraction is time blocked in ``next(loader)`` over the whole
step time (the step is synchronised with the GPU, so it includes the
compute); the first step (worker start-up) is left out of the mean.

    python benchmarks/train_tiny.py                                  # out/demo/shards, GPU if present
    python benchmarks/train_tiny.py --shards out/demo --steps 300 --device cuda
    python benchmarks/train_tiny.py --device cpu --steps 10 --batch-size 4 --seq-len 64
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

# Run from a checkout without installing assay.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipelines.training import PackedDataset, ResumableLoader, doc_causal_mask  # noqa: E402


class Block(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if mask is None:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class TinyLM(nn.Module):
    def __init__(self, vocab: int, dim: int, layers: int, heads: int, seq_len: int):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(seq_len, dim)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.tok.weight  # tied
        for m in self.modules():  # GPT-2's initialisation: the first loss is about ln(vocab)
            if isinstance(m, nn.Linear | nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.tok(ids) + self.pos(positions)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.ln(x))


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--shards", default="out/demo/shards", help="shards: a folder, a run's output folder, a file or a glob"
    )
    p.add_argument("--steps", type=int, default=300, help="training steps")
    p.add_argument("--device", default=None, help="cuda, cpu, ... (default: cuda when available)")
    p.add_argument("--batch-size", type=int, default=32, help="sequences per step")
    p.add_argument("--seq-len", type=int, default=512, help="tokens per sequence")
    p.add_argument("--dim", type=int, default=256, help="model width")
    p.add_argument("--layers", type=int, default=4, help="transformer blocks")
    p.add_argument("--heads", type=int, default=4, help="attention heads")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (AdamW, warmup then cosine)")
    p.add_argument("--workers", type=int, default=4, help="DataLoader workers (0: read in the training process)")
    p.add_argument(
        "--doc-mask", action="store_true", help="attend within documents only; positions restart per document"
    )
    p.add_argument("--log-every", type=int, default=25, help="print every N steps")
    p.add_argument("--seed", type=int, default=0, help="data order and initialisation")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    torch.manual_seed(args.seed)
    dataset = PackedDataset(args.shards, args.seq_len, args.batch_size, seed=args.seed, boundaries=args.doc_mask)
    loader = ResumableLoader(
        dataset,
        num_workers=args.workers,
        pin_memory=cuda,
        persistent_workers=args.workers > 0,
        prefetch_factor=4 if args.workers > 0 else None,
    )
    vocab = int(dataset.tokenizer["vocab_size"])
    model = TinyLM(vocab, args.dim, args.layers, args.heads, args.seq_len).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1, betas=(0.9, 0.95))
    warmup = max(1, min(50, args.steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: min(1.0, (s + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps)))),
    )
    tokens_per_epoch = dataset.steps_per_epoch * args.batch_size * (args.seq_len + 1)
    print(f"ln(vocab)={math.log(vocab):.2f}: the loss of a uniform guess", flush=True)
    print(
        f"device={device} {torch.cuda.get_device_name(device) if cuda else ''} params={sum(p.numel() for p in model.parameters()) / 1e6:.1f}M "
        f"vocab={vocab} shards={len(dataset.stream.shards)} tokens/epoch={tokens_per_epoch:,} "
        f"steps/epoch={dataset.steps_per_epoch} workers={args.workers}",
        flush=True,
    )

    def batches():
        while True:
            yield from loader

    stream = batches()
    ar = torch.arange(args.seq_len, device=device).expand(args.batch_size, -1)
    losses, waits, totals = [], [], []
    for step in range(1, args.steps + 1):
        t0 = time.perf_counter()
        batch = next(stream)
        t1 = time.perf_counter()
        ids = batch["input_ids"].to(device, non_blocking=True)
        labels = batch["labels"].to(device, non_blocking=True)
        positions, mask = ar[: ids.shape[0]], None
        if args.doc_mask:
            positions = batch["position_ids"].to(device, non_blocking=True)
            mask = doc_causal_mask(batch["doc_ids"].to(device, non_blocking=True))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            logits = model(ids, positions, mask)
        loss = F.cross_entropy(logits.float().view(-1, vocab), labels.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())  # synchronises: the step time includes the GPU's work
        t2 = time.perf_counter()
        waits.append(t1 - t0)
        totals.append(t2 - t0)
        if step % args.log_every == 0 or step == 1 or step == args.steps:
            print(
                f"step {step:5d}  loss {losses[-1]:.4f}  loader wait {1e3 * waits[-1]:7.2f} ms  "
                f"step {1e3 * totals[-1]:7.2f} ms  epoch {dataset.epoch}",
                flush=True,
            )
    steady = slice(1, None) if len(totals) > 1 else slice(None)
    wait_fraction = sum(waits[steady]) / sum(totals[steady])
    tokens_per_s = args.batch_size * args.seq_len * len(totals[steady]) / sum(totals[steady])
    summary = {
        "steps": args.steps,
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "loader_wait_fraction": wait_fraction,
        "mean_loader_wait_ms": 1e3 * sum(waits[steady]) / len(waits[steady]),
        "mean_step_ms": 1e3 * sum(totals[steady]) / len(totals[steady]),
        "max_loader_wait_ms": 1e3 * max(waits[steady]),
        "tokens_per_s": tokens_per_s,
    }
    print(
        f"summary: steps={args.steps} first_loss={losses[0]:.4f} last_loss={losses[-1]:.4f} "
        f"mean_loader_wait_fraction={wait_fraction:.4f} mean_loader_wait_ms={summary['mean_loader_wait_ms']:.3f} "
        f"max_loader_wait_ms={summary['max_loader_wait_ms']:.3f} mean_step_ms={summary['mean_step_ms']:.2f} "
        f"train_tokens_per_s={tokens_per_s:,.0f} device={device}",
        flush=True,
    )
    return summary


if __name__ == "__main__":
    main()
