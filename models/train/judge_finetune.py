"""An experiment, not part of the build: does training a model to judge its own answers make them easier to judge?

Usage (Debian's python3-torch and python3-onnx, as train.py):
  /usr/bin/python3 models/train/judge_finetune.py --size medium --steps 600 [--lam 1.0] [--lr 2e-4]
      [--unseen router/target/eval/unseen-words.jsonl] [--out router/target/eval/judge-finetune]

Starts from the bundled model's weights (read back from its model.onnx, as export_kv.py does) and
adds a correctness head: a 2-layer perceptron on the `hidden` output at the last answer position
(the one whose output chooses end-of-sequence, which the runtime has at no extra cost when decoding
ends). It then trains the whole model on two losses at once, per step:
  - the language-model loss on the references (train.py's loss), so that the model keeps its answers;
  - lam x binary cross-entropy of the head on the model's own greedy answers (decoded by the starting
    model, teacher-forced), labelled right when the answer equals the reference. These are the
    training split's answers and the validation split's; the starting model trained on the former.
Then it decodes validation, test and the unseen file greedily with the fine-tuned model and reports
exact match and the AUC of "right", against that model's answers, of: the head; a logistic
regression on the token features (fitted on validation, the learned rules' data); and both.
The same token-feature regression on the starting model is the baseline. Writes one JSON object.
"""
import argparse
import importlib.machinery
import importlib.util
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_kv  # noqa: E402
import train  # noqa: E402

ROOT = train.ROOT


@torch.no_grad()
def decode(model, card, head, prompts, batch=256):
    """Batched greedy decoding with the cache (left padding, positions from the mask): per prompt the
    answer ids, 12 token features, and the head's logit (None without a head)."""
    cached = export_kv.CachedDecoder(model)
    model.eval()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    answers, feats, judged = [None] * len(prompts), [None] * len(prompts), [None] * len(prompts)
    for b in range(0, len(order), batch):
        idx = order[b:b + batch]
        seqs = [prompts[i] + [train.SEP] for i in idx]
        n = len(seqs)
        ids, mask, pos = export_kv.left_padded(seqs)
        outs = cached(ids, mask, pos, *export_kv.empty_past(card, n))
        nxt = mask.sum(1)
        limits = [min(train.MAX_NEW_TOKENS, train.CONTEXT - len(s)) for s in seqs]
        live = list(range(n))
        out = [[] for _ in range(n)]
        lps, ents, margins = [[] for _ in range(n)], [[] for _ in range(n)], [[] for _ in range(n)]
        last_hidden = torch.zeros(n, outs[1].shape[2])
        while True:
            lp = F.log_softmax(outs[0][:, -1].double(), -1)
            tok = lp.argmax(-1)
            top2 = lp.topk(2, -1).values
            ent = -(lp.exp() * lp).sum(-1)
            keep = []
            for j, r in enumerate(live):
                lps[r].append(float(lp[j, tok[j]]))
                ents[r].append(float(ent[j]))
                margins[r].append(float(top2[j, 0] - top2[j, 1]))
                last_hidden[r] = outs[1][j, -1]
                if int(tok[j]) == train.EOS:
                    continue
                out[r].append(int(tok[j]))
                if len(out[r]) < limits[r]:
                    keep.append(j)
            if not keep:
                break
            k = torch.tensor(keep)
            live = [live[j] for j in keep]
            past = [p[k] for p in outs[2:]]
            mask = torch.cat([mask[k], torch.ones(len(keep), 1, dtype=torch.long)], 1)
            nxt = nxt[k]
            outs = cached(tok[k].unsqueeze(1), mask, nxt.unsqueeze(1), *past)
            nxt = nxt + 1
        scores = head(last_hidden).squeeze(-1) if head is not None else None
        for r, i in enumerate(idx):
            lp, e, g = np.array(lps[r]), np.array(ents[r]), np.array(margins[r])
            answers[i] = out[r]
            feats[i] = [lp.sum(), lp.mean(), lp.min(), lp[-1], len(out[r]), e.mean(), e.max(), g.mean(), g.min(),
                        (lp < math.log(0.5)).sum(), len(prompts[i]), lp.sum() / math.sqrt(len(lp))]
            judged[i] = None if scores is None else float(scores[r])
    return answers, np.array(feats), (None if head is None else np.array(judged))


def tier_bounds():
    """loadtest/scripts/tier-bounds (no .py suffix) as a module: its AUC and ridge logistic regression."""
    path = os.path.join(ROOT, "loadtest", "scripts", "tier-bounds")
    loader = importlib.machinery.SourceFileLoader("tier_bounds", path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


TIER_BOUNDS = tier_bounds()


def logistic(x, y):
    """tier-bounds' logistic regression with ridge 1 on the standardised inputs."""
    return TIER_BOUNDS.logistic(x, y, 1.0)


def auc(score, y):
    return float(TIER_BOUNDS.auc(score, y.astype(bool)))


def read(path):
    return [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="medium")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lam", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--train-items", type=int, default=0, help="use only this many training-split items (0: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--unseen", default="router/target/eval/unseen-words.jsonl")
    ap.add_argument("--out", default="router/target/eval/judge-finetune")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    os.makedirs(os.path.join(ROOT, a.out), exist_ok=True)
    model, card, out_dir = export_kv.load_trained(a.size)
    vocab = json.load(open(os.path.join(out_dir, "tokenizer.json"), encoding="utf-8"))["model"]["vocab"]
    enc = lambda p: train.encode_prompt(vocab, p)
    ref = lambda r: train.encode_reference(vocab, r)
    files = {"train": "models/data/train.jsonl", "validation": "models/data/validation.jsonl",
             "test": "models/data/test.jsonl"}
    if os.path.exists(os.path.join(ROOT, a.unseen)):
        files["unseen"] = a.unseen
    data = {k: read(os.path.join(ROOT, v)) for k, v in files.items()}
    if a.train_items:
        data["train"] = random.Random(a.seed).sample(data["train"], a.train_items)
    result = {"size": a.size, "steps": a.steps, "lam": a.lam, "lr": a.lr, "batch": a.batch}

    def evaluate(tag, head):
        t0 = time.time()
        got = {}
        for k in ("validation", "test", "unseen"):
            if k not in data:
                continue
            answers, feats, judged = decode(model, card, head, [enc(it["prompt"]) for it in data[k]])
            right = np.array([ans == ref(it["reference"]) for ans, it in zip(answers, data[k])], float)
            got[k] = (feats, judged, right)
        fit = logistic(got["validation"][0], got["validation"][2])
        row = {}
        for k in ("test", "unseen"):
            if k not in got:
                continue
            feats, judged, right = got[k]
            row[k] = {"exact_match": round(right.mean(), 4), "auc_token_features": round(auc(fit(feats), right), 4)}
            if judged is not None:
                both = logistic(np.c_[got["validation"][0], got["validation"][1]], got["validation"][2])
                row[k]["auc_head"] = round(auc(judged, right), 4)
                row[k]["auc_head_and_token_features"] = round(auc(both(np.c_[feats, judged]), right), 4)
        row["validation_exact_match"] = round(got["validation"][2].mean(), 4)
        result[tag] = row
        print(f"  {tag}: {json.dumps(row)} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)

    evaluate("before", None)
    # the starting model's own answers on train and validation, the head's labels
    t0 = time.time()
    judge_ex = []
    for k in ("train", "validation"):
        prompts = [enc(it["prompt"]) for it in data[k]]
        answers, _, _ = decode(model, card, None, prompts)
        judge_ex += [(p, ans, float(ans == ref(it["reference"]))) for p, ans, it in zip(prompts, answers, data[k])]
    print(f"  own answers for the head: {len(judge_ex)} in {time.time() - t0:.0f} s, "
          f"{np.mean([e[2] for e in judge_ex]):.3f} right", file=sys.stderr, flush=True)
    lm_ex = [(enc(it["prompt"]), ref(it["reference"])) for it in data["train"]]
    width = card["width"]
    head = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, 1))
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.98), weight_decay=0.01)
    t0 = time.time()
    for step in range(a.steps):
        model.train()
        lr = a.lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * step / a.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        inp, mask, tgt = train.collate(lm_ex, rng.sample(range(len(lm_ex)), a.batch))
        logits, _ = model(inp, mask)
        lm_loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=-100)
        ids = rng.sample(range(len(judge_ex)), a.batch)
        inp, mask, _ = train.collate([(judge_ex[i][0], judge_ex[i][1]) for i in ids], range(len(ids)))
        _, hidden = model(inp, mask)
        # collate drops the last token (<eos>); the last real position is the last answer token
        last = mask.sum(1) - 1
        logit = head(hidden[torch.arange(len(ids)), last]).squeeze(-1)
        judge_loss = F.binary_cross_entropy_with_logits(logit, torch.tensor([judge_ex[i][2] for i in ids]))
        loss = lm_loss + a.lam * judge_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if (step + 1) % 50 == 0:
            print(f"  step {step + 1} lm {lm_loss.item():.4f} judge {judge_loss.item():.4f} "
                  f"({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    result["train_seconds"] = round(time.time() - t0)
    head.eval()
    evaluate("after", head)
    torch.save({"model": model.state_dict(), "head": head.state_dict()}, os.path.join(ROOT, a.out, f"{a.size}.pt"))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
