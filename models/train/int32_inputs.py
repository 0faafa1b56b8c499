"""Rewrites a model directory's ONNX decoder so that its integer inputs (input_ids, attention_mask and,
where the graph takes it, position_ids) are int32 at the graph's boundary, as exports built for
engines that prefer 32-bit indices declare them, while the graph computes inside as before: each
such input becomes int32 and is cast to int64 where the graph reads it.

It builds the test fixture for the runtime's int32 inputs (models/src/test/resources/models/
rotary-bpe-int32): the runtime must feed each integer input in the type the graph declares.

    python3 models/train/int32_inputs.py models/src/test/resources/models/rotary-bpe \
        models/src/test/resources/models/rotary-bpe-int32

Needs the onnx package (pip install onnx) only.
"""

import onnx
from onnx import TensorProto, helper

import fixture_io

INTEGER_INPUTS = ("input_ids", "attention_mask", "position_ids")


def main():
    args = fixture_io.arguments(__doc__)

    model = onnx.load(str(args.source / "model.onnx"))
    graph = model.graph
    casts = []
    for value in graph.input:
        if value.name in INTEGER_INPUTS:
            if value.type.tensor_type.elem_type != TensorProto.INT64:
                raise SystemExit(f"{value.name} is not int64 in {args.source}")
            inner = value.name + "/int64"
            for node in graph.node:
                node.input[:] = [inner if n == value.name else n for n in node.input]
            value.type.tensor_type.elem_type = TensorProto.INT32
            casts.append(helper.make_node("Cast", [value.name], [inner], to=TensorProto.INT64,
                                          name=value.name + "/cast"))
    if not casts:
        raise SystemExit(f"no integer input in {args.source}")
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    fixture_io.save(model, args.source, args.target, "int32", "with int32 " + ", ".join(c.input[0] for c in casts)
                    + " at the graph's boundary (models/train/int32_inputs.py)")

if __name__ == "__main__":
    main()
