"""Rewrites a model directory's ONNX decoder (standard cache layout) into the layout of Optimum's
merged decoder (decoder_model_merged.onnx): one more input, use_cache_branch (bool [1]), and an If
node on it. Its true branch is the decoder as it was; its false branch is the decoder reading none of
the past (every past_key_values.N input cut to 0 positions), as the first pass of a merged export
computes without a cache. The weights stay in the outer graph, shared by both branches.

It builds the test fixture for the runtime's support of that input (models/src/test/resources/
models/rotary-bpe-merged):

    python3 models/train/merged_decoder.py models/src/test/resources/models/rotary-bpe \
        models/src/test/resources/models/rotary-bpe-merged

Needs the onnx package (pip install onnx) only.
"""
import copy
import re

import onnx
from onnx import TensorProto, helper

import fixture_io

PAST = re.compile(r"past_key_values\.\d+\.(key|value)")


def branch(graph, prefix, outer, cut_past):
    """The graph's nodes as a subgraph: every value it makes renamed under prefix, outer-scope
    names (inputs, weights) kept; with cut_past, the past inputs read as zero-length slices."""
    nodes = []
    renamed = {}
    if cut_past:
        for name in outer:
            if PAST.fullmatch(name):
                sliced = prefix + name
                for suffix, value in (("starts", 0), ("ends", 0), ("axes", 2)):
                    nodes.append(helper.make_node("Constant", [], [sliced + "/" + suffix],
                                                  value=helper.make_tensor("v", TensorProto.INT64, [1], [value]),
                                                  name=sliced + "/" + suffix))
                nodes.append(helper.make_node("Slice", [name, sliced + "/starts", sliced + "/ends", sliced + "/axes"],
                                              [sliced], name=sliced + "/slice"))
                renamed[name] = sliced
    for node in graph.node:
        for out in node.output:
            if out:
                renamed[out] = prefix + out
    for node in graph.node:
        n = copy.deepcopy(node)
        n.name = prefix + (node.name or node.output[0])
        n.input[:] = [renamed.get(i, i) if i else i for i in node.input]
        n.output[:] = [renamed[o] if o else o for o in node.output]
        nodes.append(n)
    outputs = []
    for value in graph.output:
        out = copy.deepcopy(value)
        out.name = renamed[value.name]
        outputs.append(out)
    return helper.make_graph(nodes, prefix.strip("/"), [], outputs)


def main():
    args = fixture_io.arguments(__doc__)

    model = onnx.load(str(args.source / "model.onnx"))
    graph = model.graph
    outer = [v.name for v in graph.input]
    with_cache = branch(graph, "cache/", outer, cut_past=False)
    without_cache = branch(graph, "no_cache/", outer, cut_past=True)
    choose = helper.make_node("If", ["use_cache_branch"], [v.name for v in graph.output],
                              then_branch=with_cache, else_branch=without_cache, name="optimum::if")
    inputs = list(graph.input) + [helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1])]
    merged = helper.make_graph([choose], graph.name + "_merged", inputs, list(graph.output),
                               initializer=list(graph.initializer))
    result = helper.make_model(merged, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    fixture_io.save(result, args.source, args.target, "merged", "in the layout of Optimum's merged decoder, with a"
                    " use_cache_branch input (models/train/merged_decoder.py)")

if __name__ == "__main__":
    main()
