"""Rewrites a model directory's ONNX decoder so that its key/value cache (and its logits) cross the
graph's boundary in float16 or bfloat16, as a half-precision export's do, while the graph computes
inside as before: each past_key_values.N input becomes half and is cast to float32 where the graph
reads it; each present.N output and logits are cast to half where the graph writes them.

It builds the test fixture for the runtime's half-precision cache (models/src/test/resources/models/
rotary-bpe-fp16): the runtime must feed and read such a graph's cache in its own precision.

    python3 models/train/half_io.py models/src/test/resources/models/rotary-bpe \
        models/src/test/resources/models/rotary-bpe-fp16 --type float16

Needs the onnx package (pip install onnx) only.
"""
import re

import onnx
from onnx import TensorProto, helper

import fixture_io

PAST = re.compile(r"past_key_values\.\d+\.(key|value)")
PRESENT = re.compile(r"present\.\d+\.(key|value)")


def main():
    args = fixture_io.arguments(__doc__, lambda parser: parser.add_argument(
        "--type", choices=["float16", "bfloat16"], default="float16"))
    half = TensorProto.FLOAT16 if args.type == "float16" else TensorProto.BFLOAT16

    model = onnx.load(str(args.source / "model.onnx"))
    graph = model.graph
    casts = []
    for value in graph.input:
        if PAST.fullmatch(value.name):
            inner = value.name + "/float32"
            for node in graph.node:
                node.input[:] = [inner if n == value.name else n for n in node.input]
            value.type.tensor_type.elem_type = half
            casts.append(helper.make_node("Cast", [value.name], [inner], to=TensorProto.FLOAT,
                                          name=value.name + "/cast"))
    for value in graph.output:
        if PRESENT.fullmatch(value.name) or value.name == "logits":
            inner = value.name + "/float32"
            for node in graph.node:
                node.output[:] = [inner if n == value.name else n for n in node.output]
                node.input[:] = [inner if n == value.name else n for n in node.input]
            value.type.tensor_type.elem_type = half
            casts.append(helper.make_node("Cast", [inner], [value.name], to=half, name=value.name + "/cast"))
    # Inputs' casts first and outputs' last keeps the node list in topological order.
    nodes = [c for c in casts if c.input[0] in {v.name for v in graph.input}] + list(graph.node) \
        + [c for c in casts if c.input[0] not in {v.name for v in graph.input}]
    del graph.node[:]
    graph.node.extend(nodes)
    if half == TensorProto.BFLOAT16:
        # Cast to and from bfloat16 needs opset 13 or later.
        for opset in model.opset_import:
            if opset.domain in ("", "ai.onnx") and opset.version < 13:
                opset.version = 13
    fixture_io.save(model, args.source, args.target, "fp16" if args.type == "float16" else "bf16",
                    "with its cache and logits in " + args.type + " at the graph's boundary (models/train/half_io.py)")

if __name__ == "__main__":
    main()
