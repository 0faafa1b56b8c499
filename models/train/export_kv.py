#!/usr/bin/python3
"""Re-export a bundled model in the standard decoder layout with a key/value cache, same weights.

Usage (from the repository root):
  /usr/bin/python3 models/train/export_kv.py --size small
  /usr/bin/python3 models/train/export_kv.py --size large

Reads the weights from models/src/main/resources/cascade/models/<size>/model.onnx (the layout
train.py exports: input_ids, attention_mask -> logits, hidden), checks them against parity.json,
and writes model.onnx in its place with the layout of a Hugging Face decoder exported by Optimum:

  inputs   input_ids       int64 [batch, sequence]
           attention_mask  int64 [batch, past_sequence + sequence]   (1 = real token, 0 = padding)
           position_ids    int64 [batch, sequence]
           past_key_values.N.key / .value   float32 [batch, heads, past_sequence, head_size]
  outputs  logits          float32 [batch, sequence, vocab]
           hidden          float32 [batch, sequence, width]   (final LayerNorm output; cascade's extra)
           present.N.key / .value           float32 [batch, heads, past_sequence + sequence, head_size]

Before writing, greedy decoding with the cache (PyTorch, one item at a time) is checked against
test-greedy.jsonl.gz (the outputs of the model as trained, decoded without a cache) on the whole
test split; the export stops if a single item differs. card.json gains the new sha256 and layout;
the old file is kept next to it as model-nocache.onnx only when --keep-old is given.
"""
import argparse
import gzip
import hashlib
import json
import math
import os
import sys
import time

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train  # noqa: E402  (the architecture, vocabulary layout and constants)

ROOT = train.ROOT


def load_trained(size):
    """The trained Decoder, its weights read back from the exported ONNX file."""
    out_dir = os.path.join(ROOT, "models", "src", "main", "resources", "cascade", "models", size)
    card = json.load(open(os.path.join(out_dir, "card.json"), encoding="utf-8"))
    model = train.Decoder(card["vocab_size"], card["layers"], card["width"], card["heads"], card["ffn"])
    model.load_state_dict(state_from_onnx(os.path.join(out_dir, "model.onnx"), card), strict=True)
    model.eval()
    return model, card, out_dir


def state_from_onnx(path, card):
    """The Decoder's state dict read out of a model.onnx exported by train.py or by this script
    (whose initializers are named d.<module>, as CachedDecoder holds the Decoder as d)."""
    graph = onnx.load(path).graph
    inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    # The Linear weights were constant-folded into transposed MatMul initializers; the MatMul nodes
    # run in module order: qkv, proj, fc1, fc2 of each block, then the head.
    matmul_weights = []
    for node in graph.node:
        if node.op_type == "MatMul":
            for name in node.input:
                if name in inits and name not in matmul_weights:
                    matmul_weights.append(name)
    linear_names = [f"blocks.{i}.{n}.weight" for i in range(card["layers"]) for n in ("qkv", "proj", "fc1", "fc2")]
    linear_names.append("head.weight")
    if len(matmul_weights) != len(linear_names):
        raise SystemExit(f"expected {len(linear_names)} MatMul weights, found {len(matmul_weights)}")
    state = {}
    for name, tensor in inits.items():
        if not name.startswith("onnx::"):
            state[name[2:] if name.startswith("d.") else name] = tensor
    for linear, init in zip(linear_names, matmul_weights):
        state[linear] = inits[init].t().contiguous()
    return state


class CachedDecoder(nn.Module):
    """The same Decoder's weights, run over new tokens with the cached keys and values of the past."""

    def __init__(self, decoder):
        super().__init__()
        self.d = decoder

    def forward(self, input_ids, attention_mask, position_ids, *past):
        d = self.d
        b, s = input_ids.shape
        total = attention_mask.shape[1]
        past_len = total - s
        kidx = torch.arange(total, device=input_ids.device)
        qidx = torch.arange(s, device=input_ids.device) + past_len
        causal = kidx.unsqueeze(0) <= qidx.unsqueeze(1)                          # [s, total]
        allowed = (causal.unsqueeze(0) & (attention_mask.unsqueeze(1) > 0)).unsqueeze(1)  # [b, 1, s, total]
        x = d.tok(input_ids) + d.pos(position_ids)
        presents = []
        for i, block in enumerate(d.blocks):
            w = x.shape[2]
            h = block.heads
            q, k, v = block.qkv(block.ln1(x)).split(w, dim=2)
            q = q.reshape(b, s, h, w // h).transpose(1, 2)
            k = torch.cat([past[2 * i], k.reshape(b, s, h, w // h).transpose(1, 2)], dim=2)
            v = torch.cat([past[2 * i + 1], v.reshape(b, s, h, w // h).transpose(1, 2)], dim=2)
            presents += [k, v]
            scores = torch.matmul(q, k.transpose(2, 3)) * (1.0 / math.sqrt(w // h))
            scores = torch.where(allowed, scores, torch.full_like(scores, -1e9))
            att = torch.matmul(torch.softmax(scores, dim=-1), v)
            x = x + block.proj(att.transpose(1, 2).reshape(b, s, w))
            x = x + block.fc2(F.gelu(block.fc1(block.ln2(x))))
        hidden = d.ln(x)
        return (d.head(hidden), hidden, *presents)


def left_padded(seqs, device="cpu"):
    """input_ids, attention_mask and position_ids of token lists, left-padded to the longest, as the
    Java runtime pads a batch (positions count the attention mask's ones)."""
    b, width = len(seqs), max(len(s) for s in seqs)
    ids = torch.full((b, width), train.PAD, dtype=torch.long)
    mask = torch.zeros((b, width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, width - len(s):] = torch.tensor(s)
        mask[r, width - len(s):] = 1
    ids, mask = ids.to(device), mask.to(device)
    return ids, mask, (mask.cumsum(1) - 1).clamp(min=0)


def empty_past(card, batch):
    h, hs = card["heads"], card["width"] // card["heads"]
    return [torch.zeros(batch, h, 0, hs) for _ in range(2 * card["layers"])]


@torch.no_grad()
def greedy_cached(cached, card, prompt_ids):
    """Greedy decoding with the cache, one item: prefill the prefix, then one token per step."""
    seq = prompt_ids + [train.SEP]
    ids = torch.tensor([seq])
    mask = torch.ones_like(ids)
    pos = torch.arange(len(seq)).unsqueeze(0)
    outs = cached(ids, mask, pos, *empty_past(card, 1))
    out = []
    for _ in range(min(train.MAX_NEW_TOKENS, train.CONTEXT - len(seq))):
        tok = int(outs[0][0, -1].argmax())
        if tok == train.EOS:
            break
        out.append(tok)
        n = len(seq) + len(out)
        outs = cached(torch.tensor([[tok]]), torch.ones(1, n, dtype=torch.long), torch.tensor([[n - 1]]), *outs[2:])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", required=True, choices=sorted(train.SIZES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="check only the first N test items (0 = all)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model, card, out_dir = load_trained(args.size)
    if card.get("onnx", {}).get("kv_cache"):
        raise SystemExit(f"{out_dir}/model.onnx is already in the key/value-cache layout")
    parity = json.load(open(os.path.join(out_dir, "parity.json"), encoding="utf-8"))
    with torch.no_grad():
        logits, _ = model(torch.tensor(parity["input_ids"]), torch.tensor(parity["attention_mask"]))
    diff = (logits - torch.tensor(parity["logits"])).abs().max().item()
    print(f"weights read back: max |logit - parity.json| = {diff:.2e}", flush=True)
    if diff > 1e-4:
        raise SystemExit("the weights read back do not reproduce parity.json")

    cached = CachedDecoder(model).eval()
    vocab = json.load(open(os.path.join(out_dir, "tokenizer.json"), encoding="utf-8"))["model"]["vocab"]
    expected = [json.loads(line) for line in gzip.open(os.path.join(out_dir, "test-greedy.jsonl.gz"), "rt")]
    if args.limit:
        expected = expected[:args.limit]
    t0 = time.time()
    mismatches = 0
    for i, item in enumerate(expected):
        got = greedy_cached(cached, card, train.encode_prompt(vocab, item["prompt"]))
        if got != item["tokens"]:
            mismatches += 1
            print(f"MISMATCH {item['prompt']!r}: {got} != {item['tokens']}", flush=True)
        if (i + 1) % 500 == 0:
            print(f"{i + 1}/{len(expected)} checked, {mismatches} mismatches, {time.time() - t0:.0f}s", flush=True)
    print(f"greedy with the cache: {len(expected) - mismatches}/{len(expected)} equal to test-greedy.jsonl.gz")
    if mismatches:
        raise SystemExit("greedy outputs differ; not exporting")

    n_layers, heads, hs = card["layers"], card["heads"], card["width"] // card["heads"]
    past_names = [f"past_key_values.{i}.{kv}" for i in range(n_layers) for kv in ("key", "value")]
    present_names = [f"present.{i}.{kv}" for i in range(n_layers) for kv in ("key", "value")]
    dummy_ids = torch.tensor([[5, 6], [7, 8]])
    dummy_past = [torch.randn(2, heads, 3, hs) for _ in past_names]
    dummy_mask = torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]])
    dummy_pos = torch.tensor([[2, 3], [3, 4]])
    dynamic = {"input_ids": {0: "batch", 1: "sequence"},
               "attention_mask": {0: "batch", 1: "past_sequence + sequence"},
               "position_ids": {0: "batch", 1: "sequence"},
               "logits": {0: "batch", 1: "sequence"}, "hidden": {0: "batch", 1: "sequence"}}
    for n in past_names:
        dynamic[n] = {0: "batch", 2: "past_sequence"}
    for n in present_names:
        dynamic[n] = {0: "batch", 2: "past_sequence + sequence"}
    path = os.path.join(out_dir, "model.onnx")
    tmp = path + ".kv"
    torch.onnx.export(cached, (dummy_ids, dummy_mask, dummy_pos, *dummy_past), tmp,
                      input_names=["input_ids", "attention_mask", "position_ids", *past_names],
                      output_names=["logits", "hidden", *present_names],
                      dynamic_axes=dynamic, opset_version=14, do_constant_folding=True)
    m = onnx.load(tmp)
    onnx.checker.check_model(m, full_check=True)
    for key, value in (("context_length", train.CONTEXT), ("max_new_tokens", train.MAX_NEW_TOKENS)):
        entry = m.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(m, tmp)
    os.replace(tmp, path)
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    card["sha256"] = sha
    card["onnx"] = {"opset": 14, "kv_cache": True,
                    "inputs": ["input_ids", "attention_mask", "position_ids", "past_key_values.N.key",
                               "past_key_values.N.value"],
                    "outputs": ["logits", "hidden", "present.N.key", "present.N.value"],
                    "export": "/usr/bin/python3 models/train/export_kv.py --size " + args.size}
    with open(os.path.join(out_dir, "card.json"), "w", encoding="utf-8") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    print(f"exported {path} ({os.path.getsize(path)} bytes, sha256 {sha})")


if __name__ == "__main__":
    main()
