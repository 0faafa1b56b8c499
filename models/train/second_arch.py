#!/usr/bin/python3
"""Build, train briefly and export a decoder of a second architecture, for the runtime's tests.

Usage (from the repository root):
  /usr/bin/python3 models/train/second_arch.py [--steps 600] [--merges 200]

Where the bundled models (train.py) use learned absolute positions, LayerNorm with biases, a GELU
MLP and a character-level word-level tokenizer, this one uses:
  - rotary position embeddings (RoPE) computed from position_ids,
  - RMSNorm without biases, no biases anywhere, a SiLU-gated MLP (SwiGLU),
  - a byte-level BPE tokenizer.json (Hugging Face's ByteLevel pre-tokenizer and decoder, merges
    learned here from the training split) with <pad> <sep> <eos> <unk> as added special tokens,
  - no `hidden` output.
It is exported only in the standard decoder layout with a key/value cache (input_ids,
attention_mask, position_ids, past_key_values.N.key/value -> logits, present.N.key/value).

Writes models/src/test/resources/models/rotary-bpe/: model.onnx, tokenizer.json, card.json and
greedy.json (prompt ids as this script's BPE encodes them, and PyTorch's greedy output without a
cache, for the first 40 test items), which the Java tests compare with the runtime.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train  # noqa: E402  (data loading only)

ROOT = train.ROOT
OUT = os.path.join(ROOT, "models", "src", "test", "resources", "models", "rotary-bpe")
SPECIALS = ["<pad>", "<sep>", "<eos>", "<unk>"]
PAD, SEP, EOS, UNK = 0, 1, 2, 3
CONTEXT = 128
MAX_NEW = 48
CFG = dict(layers=2, width=64, heads=4, ffn=128)


# ---------------------------------------------------------------- byte-level BPE

def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable characters (Hugging Face's ByteLevel)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_CHARS = bytes_to_unicode()


def to_symbols(text):
    return [BYTE_CHARS[b] for b in text.encode("utf-8")]


def learn_merges(texts, merges):
    words = [to_symbols(t) for t in texts]
    learned = []
    for _ in range(merges):
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            break
        best = max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]
        learned.append(best)
        joined = best[0] + best[1]
        for i, w in enumerate(words):
            out, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and (w[j], w[j + 1]) == best:
                    out.append(joined)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
    return learned


def bpe_encode(text, ranks, vocab):
    """What Hugging Face's BPE model does on one pre-tokenized word: merge the best-ranked pair first."""
    w = to_symbols(text)
    while len(w) > 1:
        pairs = [(ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(w, w[1:]))]
        rank, i = min(pairs)
        if rank == 1 << 30:
            break
        w = w[:i] + [w[i] + w[i + 1]] + w[i + 2:]
    return [vocab[s] for s in w]


def tokenizer_json(vocab, merges):
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, t in enumerate(SPECIALS)],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": [a + " " + b for a, b in merges]},
    }


# ---------------------------------------------------------------- model

class RMSNorm(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class Block(nn.Module):
    def __init__(self, width, heads, ffn):
        super().__init__()
        self.heads = heads
        self.n1 = RMSNorm(width)
        self.q = nn.Linear(width, width, bias=False)
        self.k = nn.Linear(width, width, bias=False)
        self.v = nn.Linear(width, width, bias=False)
        self.o = nn.Linear(width, width, bias=False)
        self.n2 = RMSNorm(width)
        self.gate = nn.Linear(width, ffn, bias=False)
        self.up = nn.Linear(width, ffn, bias=False)
        self.down = nn.Linear(ffn, width, bias=False)


class RotaryDecoder(nn.Module):
    """(input_ids, attention_mask, position_ids, *past) -> (logits, *present)."""

    def __init__(self, vocab_size, layers, width, heads, ffn):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, width)
        self.blocks = nn.ModuleList(Block(width, heads, ffn) for _ in range(layers))
        self.norm = RMSNorm(width)
        self.head = nn.Linear(width, vocab_size, bias=False)
        hs = width // heads
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, hs, 2).float() / hs)), persistent=False)

    def forward(self, input_ids, attention_mask, position_ids, *past):
        b, s = input_ids.shape
        total = attention_mask.shape[1]
        past_len = total - s
        kidx = torch.arange(total)
        qidx = torch.arange(s) + past_len
        allowed = ((kidx.unsqueeze(0) <= qidx.unsqueeze(1)).unsqueeze(0) & (attention_mask.unsqueeze(1) > 0)).unsqueeze(1)
        freqs = position_ids.unsqueeze(-1).float() * self.inv_freq                 # [b, s, hs/2]
        angles = freqs.unsqueeze(1)                                                 # [b, 1, s, hs/2]
        cos, sin = angles.cos(), angles.sin()
        x = self.tok(input_ids)
        presents = []
        for i, blk in enumerate(self.blocks):
            w = x.shape[2]
            h = blk.heads
            hs = w // h
            y = blk.n1(x)
            q = rotate(blk.q(y).reshape(b, s, h, hs).transpose(1, 2), cos, sin)
            k = rotate(blk.k(y).reshape(b, s, h, hs).transpose(1, 2), cos, sin)
            v = blk.v(y).reshape(b, s, h, hs).transpose(1, 2)
            if past:
                k = torch.cat([past[2 * i], k], dim=2)
                v = torch.cat([past[2 * i + 1], v], dim=2)
            presents += [k, v]
            scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(hs)
            scores = torch.where(allowed, scores, torch.full_like(scores, -1e9))
            att = torch.matmul(torch.softmax(scores, dim=-1), v)
            x = x + blk.o(att.transpose(1, 2).reshape(b, s, w))
            y = blk.n2(x)
            x = x + blk.down(F.silu(blk.gate(y)) * blk.up(y))
        return (self.head(self.norm(x)), *presents)


def positions_of(mask):
    return (torch.cumsum(mask, dim=1) - 1).clamp(min=0)


@torch.no_grad()
def greedy(model, prompt_ids):
    """Full recompute every step, no cache: the reference the runtime's cached decoding must equal."""
    seq = prompt_ids + [SEP]
    out = []
    for _ in range(min(MAX_NEW, CONTEXT - len(seq))):
        ids = torch.tensor([seq + out])
        mask = torch.ones_like(ids)
        logits = model(ids, mask, positions_of(mask))[0]
        tok = int(logits[0, -1].argmax())
        if tok == EOS:
            break
        out.append(tok)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--merges", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    command = "/usr/bin/python3 models/train/second_arch.py " + " ".join(sys.argv[1:])

    train_items, test_items = train.load("train"), train.load("test")
    merges = learn_merges([it["prompt"] for it in train_items[:4000]] + [it["reference"] for it in train_items[:4000]],
                          args.merges)
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for ch in BYTE_CHARS.values():
        vocab.setdefault(ch, len(vocab))
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    ranks = {m: i for i, m in enumerate(merges)}

    def example(it):
        return bpe_encode(it["prompt"], ranks, vocab), bpe_encode(it["reference"], ranks, vocab)

    examples = [e for e in (example(it) for it in train_items) if len(e[0]) + len(e[1]) + 2 <= CONTEXT
                and len(e[1]) < MAX_NEW]
    model = RotaryDecoder(len(vocab), **CFG)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    t0 = time.time()
    for step in range(args.steps):
        batch = rng.sample(examples, 64)
        seqs = [p + [SEP] + r + [EOS] for p, r in batch]
        t = max(len(q) for q in seqs) - 1
        inp = torch.full((64, t), PAD)
        mask = torch.zeros((64, t), dtype=torch.long)
        tgt = torch.full((64, t), -100)
        for i, ((p, _), q) in enumerate(zip(batch, seqs)):
            n = len(q) - 1
            inp[i, :n] = torch.tensor(q[:-1])
            mask[i, :n] = 1
            tgt[i, len(p):n] = torch.tensor(q[len(p) + 1:])
        logits = model(inp, mask, positions_of(mask))[0]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0:
            print(f"step {step + 1} loss {loss.item():.3f} {time.time() - t0:.0f}s", flush=True)
    model.eval()

    inv = {i: t for t, i in vocab.items()}
    byte_of = {c: b for b, c in BYTE_CHARS.items()}

    def detok(ids):
        return bytes(byte_of[c] for i in ids for c in inv[i]).decode("utf-8", errors="replace")

    fixture = []
    hits = 0
    for it in test_items[:40]:
        pid = bpe_encode(it["prompt"], ranks, vocab)
        out = greedy(model, pid)
        hits += detok(out) == it["reference"]
        fixture.append({"prompt": it["prompt"], "prompt_ids": pid, "tokens": out, "text": detok(out)})
    print(f"exact match on the first 40 test items: {hits}/40", flush=True)

    os.makedirs(OUT, exist_ok=True)
    layers, heads, hs = CFG["layers"], CFG["heads"], CFG["width"] // CFG["heads"]
    past_names = [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    present_names = [f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    dynamic = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "past_sequence + sequence"},
               "position_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}}
    for n in past_names:
        dynamic[n] = {0: "batch", 2: "past_sequence"}
    for n in present_names:
        dynamic[n] = {0: "batch", 2: "past_sequence + sequence"}
    path = os.path.join(OUT, "model.onnx")
    torch.onnx.export(model, (torch.tensor([[5, 6], [7, 8]]), torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]]),
                              torch.tensor([[2, 3], [3, 4]]), *[torch.randn(2, heads, 3, hs) for _ in past_names]),
                      path, input_names=["input_ids", "attention_mask", "position_ids", *past_names],
                      output_names=["logits", *present_names], dynamic_axes=dynamic, opset_version=14,
                      do_constant_folding=True)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    for key, value in (("context_length", CONTEXT), ("max_new_tokens", MAX_NEW)):
        entry = m.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(m, path)
    with open(os.path.join(OUT, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(vocab, merges), f, ensure_ascii=False)
    with open(os.path.join(OUT, "greedy.json"), "w", encoding="utf-8") as f:
        json.dump(fixture, f)
    card = {"name": "rotary-bpe", "purpose": "a test fixture: a second architecture in the standard cache layout",
            "architecture": "decoder-only, rotary positions from position_ids, RMSNorm, SwiGLU MLP, no biases, no hidden output",
            **CFG, "parameters": params, "vocab_size": len(vocab), "tokenizer": f"byte-level BPE, {len(merges)} merges",
            "context_length": CONTEXT, "max_new_tokens": MAX_NEW, "training": {"command": command, "steps": args.steps},
            "exact_match_first_40_test_items": hits}
    with open(os.path.join(OUT, "card.json"), "w", encoding="utf-8") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    print(f"exported {path} ({os.path.getsize(path)} bytes), {params} parameters, vocab {len(vocab)}")


if __name__ == "__main__":
    main()
