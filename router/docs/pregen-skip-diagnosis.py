#!/usr/bin/env python3
"""Why the pre-generation skip's validation estimate is more pessimistic than the test split.

Reads the per-item file of `cascade eval --tiers small,large --skip-items-out ITEMS.csv` (validation
rows with the prompt rule's out-of-fold scores, then the evaluated file's rows with the refit rule's
scores) and prints, for thresholds at 4%, 8.5% and 10% of validation skipped:

  * on each split: the share skipped, the share of skipped items where deferring helps, the share of
    skipped items the post rule (Chow-Sum) escalates anyway at rates 0.20 and 0.50, and the exact-match
    loss against no skip (largest / mean over rates 0.20..0.50, and at 0.30), in points;
  * the bootstrap standard deviation of those losses at 8.5% (200 resamples of each split);
  * the same losses for a logistic regression fitted here (numpy, 5 folds, L2 10) instead of the
    Tribuo rule, to compare a learner whose out-of-fold scores are not noisier than its refit.

Usage: router/docs/pregen-skip-diagnosis.py ITEMS.csv       (needs numpy)
"""
import sys

import numpy as np

RATES = np.array([0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50])


def load(path):
    d = np.loadtxt(path, delimiter=',', skiprows=1)
    return d[d[:, 0] == 0], d[d[:, 0] == 1]


def accuracy_at(d, skipped, rate):
    """PregenSkip.accuracyAt: the skipped items, then the highest post scores of the rest."""
    n = len(d)
    k = int(np.floor(rate * n + 0.5))
    if skipped.sum() > k:
        return np.nan
    order = np.lexsort((np.arange(n), -d[:, 3]))
    deferred = skipped.copy()
    count = skipped.sum()
    for j in order:
        if count >= k:
            break
        if not deferred[j]:
            deferred[j] = True
            count += 1
    return np.where(deferred, d[:, 2], d[:, 1]).mean()


def losses(d, skipped):
    none = np.zeros(len(d), bool)
    return np.array([accuracy_at(d, none, r) - accuracy_at(d, skipped, r) for r in RATES])


def top(d, rate):
    n = len(d)
    out = np.zeros(n, bool)
    out[np.argsort(-d[:, 3], kind='stable')[:int(np.floor(rate * n + 0.5))]] = True
    return out


def describe(name, d, scores, threshold):
    sk = scores > threshold
    benefit = (d[:, 2] == 1) & (d[:, 1] == 0)
    l = losses(d, sk) * 100
    print(f"  {name}: skipped {sk.mean():.3f}, deferring helps on {benefit[sk].mean():.3f} of them,"
          f" escalated anyway at 0.20 {(sk & top(d, 0.2)).sum() / max(sk.sum(), 1):.2f}"
          f" / at 0.50 {(sk & top(d, 0.5)).sum() / max(sk.sum(), 1):.2f};"
          f" loss max {l.max():+.2f} mean {l.mean():+.2f} at 0.30 {l[2]:+.2f}")


def logistic(x, y, l2=10.0, steps=100):
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = np.c_[(x - mu) / sd, np.ones(len(x))]
    w = np.zeros(z.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ w))
        g = z.T @ (p - y) + l2 * np.r_[w[:-1], 0]
        h = (z * (p * (1 - p))[:, None]).T @ z + l2 * np.eye(len(w))
        w -= np.linalg.solve(h, g)
        if np.abs(g).max() < 1e-6:
            break
    return lambda q: 1 / (1 + np.exp(-(np.c_[(q - mu) / sd, np.ones(len(q))] @ w)))


def auc(scores, label):
    ranks = np.argsort(np.argsort(scores))
    pos = label == 1
    return (ranks[pos].mean() - (pos.sum() - 1) / 2) / (~pos).sum()


def main(path):
    v, t = load(path)
    sorted_oof = np.sort(v[:, 4])
    # As TiersEvaluation: Java's Math.round (half up), not Python's round (half to even).
    at = lambda share, s=sorted_oof: s[int(np.floor((1 - share) * len(s) + 0.5)) - 1]
    benefit_v = ((v[:, 2] == 1) & (v[:, 1] == 0)).astype(float)
    benefit_t = ((t[:, 2] == 1) & (t[:, 1] == 0)).astype(float)
    print("the Tribuo prompt rule (validation: out-of-fold scores; test: the rule refit on all of validation);"
          f" ROC AUC of the deferral benefit {auc(v[:, 4], benefit_v):.3f} / {auc(t[:, 4], benefit_t):.3f}")
    for share in (0.04, 0.085, 0.10):
        print(f" {share:.1%} of validation skipped:")
        describe("validation", v, v[:, 4], at(share))
        describe("test      ", t, t[:, 4], at(share))
    rng = np.random.default_rng(1)
    for name, d in (("validation", v), ("test", t)):
        boot = []
        for _ in range(200):
            idx = rng.integers(0, len(d), len(d))
            l = losses(d[idx], d[idx, 4] > at(0.085)) * 100
            boot.append([l.max(), l.mean(), l[2]])
        boot = np.array(boot)
        print(f" bootstrap at 8.5%, {name}: loss max {boot[:, 0].mean():+.2f} (sd {boot[:, 0].std():.2f}),"
              f" mean {boot[:, 1].mean():+.2f} (sd {boot[:, 1].std():.2f}), at 0.30 {boot[:, 2].mean():+.2f}"
              f" (sd {boot[:, 2].std():.2f})")
    label = ((v[:, 2] == 1) & (v[:, 1] == 0)).astype(float)
    fold = rng.permutation(np.arange(len(v)) % 5)
    oof = np.zeros(len(v))
    for f in range(5):
        oof[fold == f] = logistic(v[fold != f, 6:], label[fold != f])(v[fold == f, 6:])
    refit = logistic(v[:, 6:], label)(t[:, 6:])
    sorted_lr = np.sort(oof)
    print("a logistic regression on the same inputs and label (numpy, 5 folds);"
          f" ROC AUC {auc(oof, benefit_v):.3f} / {auc(refit, benefit_t):.3f}")
    for share in (0.04, 0.085, 0.10):
        print(f" {share:.1%} of validation skipped:")
        describe("validation", v, oof, at(share, sorted_lr))
        describe("test      ", t, refit, at(share, sorted_lr))


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
