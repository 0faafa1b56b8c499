"""Rewrites a model directory's ONNX decoder so that its cache tensors differ in shape from layer to
layer, and keys from values, as in models whose layers have different key/value head counts
(OpenELM, DeciLM) or whose keys and values differ in head size (DeepSeek's multi-head latent
attention), while the graph computes inside as before: layer 1's key crosses the graph's boundary
as [batch, 2, sequence, 32] and its value as [batch, 8, sequence, 8], each a rearrangement of the
[batch, 4, sequence, 16] the graph computes (heads and head size regrouped per position), undone
where the graph reads the past and done where it writes the present.

It builds the test fixture models/src/test/resources/models/rotary-bpe-reshaped: the runtime must
read each cache tensor's heads and head size from the graph and keep them per tensor.

    python3 models/train/reshaped_cache.py models/src/test/resources/models/rotary-bpe \
        models/src/test/resources/models/rotary-bpe-reshaped

Needs the onnx package (pip install onnx) only.
"""

import onnx
from onnx import TensorProto, helper

import fixture_io

# Tensor name suffix -> (heads, head size) at the boundary; the graph's own is (4, 16).
OUTER = {"1.key": (2, 32), "1.value": (8, 8)}
INNER = (4, 16)


def regroup(graph, source, target, heads, size, name):
    """Nodes turning source [b, h, s, d] into target [b, heads, s, size] (same b*s*h*d values)."""
    shape = name + "/shape"
    graph.initializer.append(helper.make_tensor(shape, TensorProto.INT64, [4], [0, 0, heads, size]))
    return [
        helper.make_node("Transpose", [source], [name + "/bshd"], perm=[0, 2, 1, 3], name=name + "/t1"),
        helper.make_node("Reshape", [name + "/bshd", shape], [name + "/regrouped"], name=name + "/reshape"),
        helper.make_node("Transpose", [name + "/regrouped"], [target], perm=[0, 2, 1, 3], name=name + "/t2"),
    ]


def main():
    args = fixture_io.arguments(__doc__)

    model = onnx.load(str(args.source / "model.onnx"))
    graph = model.graph
    first, last = [], []
    for value in graph.input:
        for suffix, (heads, size) in OUTER.items():
            if value.name == "past_key_values." + suffix:
                inner = value.name + "/inner"
                for node in graph.node:
                    node.input[:] = [inner if n == value.name else n for n in node.input]
                dims = value.type.tensor_type.shape.dim
                dims[1].dim_value = heads
                dims[3].dim_value = size
                first += regroup(graph, value.name, inner, *INNER, value.name + "/in")
    for value in graph.output:
        for suffix, (heads, size) in OUTER.items():
            if value.name == "present." + suffix:
                inner = value.name + "/inner"
                for node in graph.node:
                    node.output[:] = [inner if n == value.name else n for n in node.output]
                    node.input[:] = [inner if n == value.name else n for n in node.input]
                dims = value.type.tensor_type.shape.dim
                dims[1].dim_value = heads
                dims[3].dim_value = size
                last += regroup(graph, inner, value.name, heads, size, value.name + "/out")
    if len(first) != 6 or len(last) != 6:
        raise SystemExit(f"{args.source} has no layer-1 cache to regroup")
    nodes = first + list(graph.node) + last
    del graph.node[:]
    graph.node.extend(nodes)
    fixture_io.save(model, args.source, args.target, "reshaped", "with layer 1's cache crossing the graph's boundary"
                    " as key [batch, 2, s, 32] and value [batch, 8, s, 8] (models/train/reshaped_cache.py)")

if __name__ == "__main__":
    main()
