"""What the graph-rewriting fixture scripts (half_io.py, merged_decoder.py, int32_inputs.py,
reshaped_cache.py) share: reading a fixture directory's arguments, and writing the rewritten model
beside a copy of the tokenizer and a card that says what was rewritten.

Needs the onnx package (pip install onnx) only.
"""
import argparse
import json
import shutil
from pathlib import Path

import onnx


def arguments(doc, extra=None):
    """The source and target directories (and whatever `extra(parser)` adds), parsed."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def save(model, source, target, suffix, what):
    """Checks `model`, writes it to `target`/model.onnx with `source`'s tokenizer, and a card named
    `source`'s name plus -`suffix` whose purpose is "a test fixture: NAME `what`"."""
    onnx.checker.check_model(model)
    target.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(target / "model.onnx"))
    shutil.copy(source / "tokenizer.json", target / "tokenizer.json")
    card = json.loads((source / "card.json").read_text())
    base = card["name"]
    card["name"] = base + "-" + suffix
    card["purpose"] = "a test fixture: " + base + " " + what
    card.pop("training", None)
    card.pop("exact_match_first_40_test_items", None)
    (target / "card.json").write_text(json.dumps(card, indent=2) + "\n")
