#!/usr/bin/env python3
"""The bundled models' weights on a GPU, through PyTorch: parity, decoding speed, pass costs.

Usage (from the repository root, on a machine with PyTorch and the `onnx` package):
  python3 loadtest/gpu/torch_bench.py [--device cuda] [--sizes small,medium,large]
      [--batches 1,8,32,256,1024] [--seconds 2] [--limit N] [--json OUT.json]

Not the router's path: the router runs the models through DJL (ONNX Runtime on a CPU, TensorRT on
a GPU host). This script reads the same weights out of each bundled `model.onnx` (the key/value
cache layout) into the PyTorch module that exported them (`models/train/export_kv.py`), in float32
with TF32 off, and on the chosen device:

1. **Parity.** Greedy decoding with the cache, batched with left padding, of every test-split
   prompt (or the first --limit), against `test-greedy.jsonl.gz` (the outputs the Java runtime
   must reproduce): how many are identical, token for token.
2. **Decoding speed.** Static batches of each --batches size, test prompts in file order (cycled),
   decoded greedily with the cache until every row has ended (at most 48 new tokens): sequences/s
   and generated tokens/s over at least --seconds after a warm-up; at batch 1 also p50/p99 of a
   whole generation. `peak_gflops` is a 4096^3 float32 matrix product on the same device, and `mfu`
   is 2 x parameters per token x tokens/s over it.
3. **What a wider pass costs** (the draft window of speculative escalation): one cached forward
   pass of the large model over k new tokens after 24 past ones, k = 1 to 48, at batch 1 and 16,
   median of 50 (ms, and relative to k = 1).
4. **Speculative escalation, one request at a time** (with --speculative-windows, e.g.
   `8,2,16;48`): the small model's greedy answers to the test split (`test-greedy.jsonl.gz`) are
   the drafts; the 30% of items with the highest Chow-Quantile-0 score (the largest -log p of the
   small model's tokens, computed here) are the escalated ones. The large model decodes each one
   without a draft and with it, checking drafts as the Java runtime does (`DecodingRow`: a window
   of FIRST tokens, doubled up to MAX while every token is kept, cut to what was kept plus one, at
   least MIN, after a miss; after a miss the draft goes on past the occurrence of the large
   model's token nearest the row's length). Reports ms per request (mean, p50), time saved,
   forward passes, draft tokens kept, and how many outputs are identical to the greedy ones.

Prints one JSON object (and writes it to --json), with `environment` saying what the machine had:
whether `java` is on the PATH, ONNX Runtime's providers, whether `tensorrt` imports.
"""
import argparse
import gzip
import json
import os
import platform
import shutil
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "models", "train"))
import train  # noqa: E402  (architecture and constants)
from export_kv import CachedDecoder, left_padded, state_from_onnx  # noqa: E402

MODELS = os.path.join(ROOT, "models", "src", "main", "resources", "cascade", "models")


def load_cached(size, device):
    """The CachedDecoder with the weights of models/.../<size>/model.onnx (cache layout)."""
    d = os.path.join(MODELS, size)
    card = json.load(open(os.path.join(d, "card.json"), encoding="utf-8"))
    model = train.Decoder(card["vocab_size"], card["layers"], card["width"], card["heads"], card["ffn"])
    model.load_state_dict(state_from_onnx(os.path.join(d, "model.onnx"), card), strict=True)
    cached = CachedDecoder(model).eval().to(device)
    vocab = json.load(open(os.path.join(d, "tokenizer.json"), encoding="utf-8"))["model"]["vocab"]
    expected = [json.loads(line) for line in gzip.open(os.path.join(d, "test-greedy.jsonl.gz"), "rt")]
    return cached, card, vocab, expected


def empty_past(card, batch, device):
    h, hs = card["heads"], card["width"] // card["heads"]
    return [torch.zeros(batch, h, 0, hs, device=device) for _ in range(2 * card["layers"])]


@torch.no_grad()
def greedy(cached, card, prompts, device):
    """Greedy decoding with the cache of one static batch (left padding): token lists, EOS excluded."""
    ids, mask, pos = left_padded([p + [train.SEP] for p in prompts], device)
    b, width = ids.shape
    out = cached(ids, mask, pos, *empty_past(card, b, device))
    last = pos[:, -1:]
    steps = []
    done = torch.zeros(b, dtype=torch.bool, device=device)
    limit = min(train.MAX_NEW_TOKENS, train.CONTEXT - width)
    for _ in range(limit):
        nxt = out[0][:, -1].argmax(-1)
        steps.append(nxt)
        done |= nxt == train.EOS
        if bool(done.all()):
            break
        mask = torch.cat([mask, torch.ones((b, 1), dtype=torch.long, device=device)], 1)
        last = last + 1
        out = cached(nxt[:, None], mask, last, *out[2:])
    table = torch.stack(steps, 1).tolist()
    result = []
    for row in table:
        tokens = []
        for t in row:
            if t == train.EOS:
                break
            tokens.append(t)
        result.append(tokens)
    return result


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def parity(cached, card, vocab, expected, device, batch=256):
    prompts = [train.encode_prompt(vocab, e["prompt"]) for e in expected]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    got = [None] * len(prompts)
    for start in range(0, len(order), batch):
        chunk = order[start:start + batch]
        for i, tokens in zip(chunk, greedy(cached, card, [prompts[i] for i in chunk], device)):
            got[i] = tokens
    same = sum(1 for g, e in zip(got, expected) if g == e["tokens"])
    return same, len(expected)


def speed(cached, card, vocab, expected, device, batch, seconds):
    prompts = [train.encode_prompt(vocab, e["prompt"]) for e in expected]
    cursor = 0

    def next_batch():
        nonlocal cursor
        chunk = [prompts[(cursor + j) % len(prompts)] for j in range(batch)]
        cursor = (cursor + batch) % len(prompts)
        return chunk

    for _ in range(3):
        greedy(cached, card, next_batch(), device)
    sync(device)
    sequences = tokens = 0
    times = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds or len(times) < 5:
        s = time.perf_counter()
        out = greedy(cached, card, next_batch(), device)
        sync(device)
        times.append(time.perf_counter() - s)
        sequences += len(out)
        tokens += sum(len(o) + 1 for o in out)
    wall = time.perf_counter() - t0
    row = {"sequences_per_s": round(sequences / wall, 1), "tokens_per_s": round(tokens / wall, 1)}
    if batch == 1:
        ms = sorted(1000 * t for t in times)
        row["p50_ms"] = round(statistics.median(ms), 3)
        row["p99_ms"] = round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 3)
    return row


@torch.no_grad()
def pass_costs(cached, card, device, batch, widths, past_len=24, repeats=50):
    past = [torch.randn(batch, card["heads"], past_len, card["width"] // card["heads"], device=device)
            for _ in range(2 * card["layers"])]
    out = {}
    for k in widths:
        ids = torch.randint(4, card["vocab_size"], (batch, k), device=device)
        mask = torch.ones((batch, past_len + k), dtype=torch.long, device=device)
        pos = torch.arange(past_len, past_len + k, device=device).repeat(batch, 1)
        for _ in range(5):
            cached(ids, mask, pos, *past)
        sync(device)
        ms = []
        for _ in range(repeats):
            s = time.perf_counter()
            cached(ids, mask, pos, *past)
            sync(device)
            ms.append(1000 * (time.perf_counter() - s))
        out[k] = statistics.median(ms)
    return {str(k): {"ms": round(v, 4), "relative": round(v / out[widths[0]], 3)} for k, v in out.items()}


@torch.no_grad()
def chow_quantile_0(cached, card, prompts, answers, device, batch=256):
    """max over the answer's tokens of -log p under the model (EOS excluded), teacher-forced."""
    scores = []
    for start in range(0, len(prompts), batch):
        seqs = [p + [train.SEP] + a for p, a in zip(prompts[start:start + batch], answers[start:start + batch])]
        ids, mask, pos = left_padded(seqs, device)
        b, width = ids.shape
        logp = torch.log_softmax(cached(ids, mask, pos, *empty_past(card, b, device))[0], -1)
        for r, a in enumerate(answers[start:start + batch]):
            if not a:
                scores.append(float("inf"))
                continue
            # the logits at position t predict token t + 1; the answer is the last len(a) tokens
            at = torch.arange(width - len(a) - 1, width - 1, device=device)
            chosen = logp[r, at, torch.tensor(a, device=device)]
            scores.append(float(-chosen.min()))
    return scores


def resume(draft, own, length, otherwise):
    best = -1
    for j in range(1, len(draft) + 1):
        if draft[j - 1] == own and (best < 0 or abs(j - length) < abs(best - length)):
            best = j
    return min(otherwise, len(draft)) if best < 0 else best


@torch.no_grad()
def decode_one(cached, card, prompt, draft, windows, device):
    """One request, batch 1, with the cache; checks ``draft`` as DecodingRow does. Returns (tokens,
    draft tokens kept, forward passes)."""
    seq = prompt + [train.SEP]
    limit = min(train.MAX_NEW_TOKENS, train.CONTEXT - len(seq))
    draft = draft[:limit]
    first, wmin, wmax = windows
    window, frm, generated, accepted_total = first, 0, [], 0

    def pending():
        count = max(0, min(window, limit - len(generated), len(draft) - frm))
        return draft[frm:frm + count]

    pend = pending()
    ids = seq + pend
    out = cached(torch.tensor([ids], device=device), torch.ones((1, len(ids)), dtype=torch.long, device=device),
                 torch.arange(len(ids), device=device)[None], *empty_past(card, 1, device))
    passes = 1
    while True:
        choices = out[0][0, -(len(pend) + 1):].argmax(-1).tolist()
        kept, own, finished = 0, None, False
        for j in range(len(pend) + 1):
            own = choices[j]
            if own == train.EOS:
                finished = True
                break
            generated.append(own)
            finished = len(generated) >= limit
            agrees = j < len(pend) and own == pend[j]
            kept += 1 if agrees else 0
            if not agrees or finished:
                break
        if pend:
            checked, at = len(pend), frm + kept
            goes_on = not finished and kept == checked and at < len(draft) and draft[at] == own
            accepted_total += kept + 1 if goes_on else kept
            if goes_on:
                frm = at + 1
            else:
                frm = len(draft) if finished or at >= len(draft) else resume(draft, own, len(generated), at + 1)
            window = min(wmax, 2 * window) if kept == checked else max(wmin, min(window, kept + 1))
        if finished:
            return generated, accepted_total, passes
        pend = pending()
        keep = len(seq) + len(generated) - 1
        past = [p[:, :, :keep] for p in out[2:]]
        ids = [generated[-1]] + pend
        out = cached(torch.tensor([ids], device=device),
                     torch.ones((1, keep + len(ids)), dtype=torch.long, device=device),
                     torch.arange(keep, keep + len(ids), device=device)[None], *past)
        passes += 1


def speculative(device, windows_list, escalate=0.3):
    small, small_card, vocab, small_expected = load_cached("small", device)
    large, large_card, _, large_expected = load_cached("large", device)
    prompts = [train.encode_prompt(vocab, e["prompt"]) for e in small_expected]
    drafts = [e["tokens"] for e in small_expected]
    scores = chow_quantile_0(small, small_card, prompts, drafts, device)
    n = int(round(escalate * len(scores)))
    chosen = sorted(range(len(scores)), key=lambda i: -scores[i])[:n]
    for i in chosen[:16]:  # warm-up
        decode_one(large, large_card, prompts[i], [], (1, 1, 1), device)
        decode_one(large, large_card, prompts[i], drafts[i], windows_list[0], device)
    sync(device)
    result = {"items": n, "draft_tokens_mean": round(sum(len(drafts[i]) for i in chosen) / n, 3), "windows": {}}
    runs = {"none": None}
    runs.update({",".join(map(str, w)): w for w in windows_list})
    times = {k: [] for k in runs}
    stats = {k: {"kept": 0, "passes": 0, "identical": 0} for k in runs}
    for i in chosen:
        for name, w in runs.items():  # each item decoded every way in turn, so drift hits all alike
            s = time.perf_counter()
            tokens, kept, passes = decode_one(large, large_card, prompts[i], [] if w is None else drafts[i],
                                              (1, 1, 1) if w is None else w, device)
            sync(device)
            times[name].append(1000 * (time.perf_counter() - s))
            stats[name]["kept"] += kept
            stats[name]["passes"] += passes
            stats[name]["identical"] += 1 if tokens == large_expected[i]["tokens"] else 0
    base = statistics.mean(times["none"])
    for name in runs:
        mean = statistics.mean(times[name])
        result["windows"][name] = {"mean_ms": round(mean, 3), "p50_ms": round(statistics.median(times[name]), 3),
                                   "time_saved": round(1 - mean / base, 4),
                                   "passes_mean": round(stats[name]["passes"] / n, 3),
                                   "kept_mean": round(stats[name]["kept"] / n, 3),
                                   "identical_outputs": stats[name]["identical"]}
    return result


def peak_gflops(device, n=4096, repeats=10):
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    sync(device)
    s = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * n ** 3 * repeats / (time.perf_counter() - s) / 1e9


def environment(device):
    env = {"python": platform.python_version(), "torch": torch.__version__, "device": device,
           "java_on_path": shutil.which("java"), "cpus": os.cpu_count()}
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(0)
    try:
        import onnxruntime
        env["onnxruntime"] = onnxruntime.__version__
        env["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except ImportError as e:
        env["onnxruntime"] = "not importable: " + str(e)
    try:
        import tensorrt  # noqa: F401
        env["tensorrt"] = tensorrt.__version__
    except ImportError as e:
        env["tensorrt"] = "not importable: " + str(e)
    return env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--sizes", default="small,medium,large")
    ap.add_argument("--batches", default="1,8,32,256,1024")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--limit", type=int, default=0, help="parity on the first N test items only (0: all)")
    ap.add_argument("--json", help="also write the JSON object to this file")
    ap.add_argument("--speculative-windows", default="",
                    help="e.g. '8,2,16;48': measure speculative escalation with these draft windows (FIRST,MIN,MAX"
                         " or one number for a fixed window)")
    ap.add_argument("--speculative-only", action="store_true", help="skip parity, speed and pass costs")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = args.device
    result = {"environment": environment(device), "tf32": False, "dtype": "float32", "models": {}}
    peak = peak_gflops(device)
    result["peak_gflops"] = round(peak, 1)
    print(json.dumps(result["environment"]), file=sys.stderr, flush=True)
    for size in ([] if args.speculative_only else args.sizes.split(",")):
        cached, card, vocab, expected = load_cached(size, device)
        checked = expected[:args.limit] if args.limit else expected
        t0 = time.perf_counter()
        same, total = parity(cached, card, vocab, checked, device)
        entry = {"parameters": card["parameters"], "parity_identical": same, "parity_items": total,
                 "parity_s": round(time.perf_counter() - t0, 2), "speed": {}}
        print(f"{size}: parity {same}/{total}", file=sys.stderr, flush=True)
        for batch in (int(b) for b in args.batches.split(",")):
            row = speed(cached, card, vocab, expected, device, batch, args.seconds)
            row["mfu"] = round(2 * card["parameters"] * row["tokens_per_s"] / (peak * 1e9), 6)
            entry["speed"][str(batch)] = row
            print(f"{size} batch {batch}: {row}", file=sys.stderr, flush=True)
        if size == "large":
            widths = [1, 2, 4, 8, 16, 32, 48]
            entry["pass_ms_by_new_tokens"] = {str(b): pass_costs(cached, card, device, b, widths) for b in (1, 16)}
        result["models"][size] = entry
    if args.speculative_windows:
        windows = []
        for w in args.speculative_windows.split(";"):
            parts = [int(x) for x in w.split(",")]
            windows.append(tuple(parts) if len(parts) == 3 else (parts[0],) * 3)
        result["speculative"] = speculative(device, windows)
        print(json.dumps(result["speculative"]), file=sys.stderr, flush=True)
    text = json.dumps(result)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
