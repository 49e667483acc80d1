"""The step graph as the worker serves it: two graphs cut from the exported one.

- The step: the exported graph without π. The head's category distribution π_{r,k} is most of
  the graph's work (a 48×4096 MatMul and a softmax over 4×1024 buckets per user) and is read
  only when an alert or an action names categories, so the per-event step does not compute it.
- The top buckets: π from the LSTM's output alone, with the `TOP_BUCKETS_PER_COMPONENT`
  largest weights of each component taken inside (an ONNX TopK; ties go to the lower bucket
  index, opset ≥ 11). It is run on a user's stored h for the users an alert or an action is
  for (`stream_app.worker.serving.ServingModel.with_top_buckets`). The LSTM's output of a
  one-event step is its new h, so this equals the exported graph's π to the bit
  (tests/unit/model/test_runtime.py).
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper, shape_inference, utils

from stream_app.model.contract import OUTPUT_PI

#: Category buckets kept per mixture component.
TOP_BUCKETS_PER_COMPONENT = 8
#: The top-bucket graph's input: h as the LSTM's output of one step, shape (1, 1, B, hidden).
INPUT_STEP_OUTPUT = "lstm_step_output"
#: The top-bucket graph's outputs: (B, R, TOP) weights, largest first, and their bucket ids.
OUTPUT_TOP_WEIGHTS = "pi_top_weights"
OUTPUT_TOP_IDS = "pi_top_ids"
TOP_OUTPUTS = (OUTPUT_TOP_WEIGHTS, OUTPUT_TOP_IDS)

_TOP_COUNT = "pi_top_count"


def step_graph(model: bytes) -> tuple[bytes, list[str]]:
    """The serialized exported graph `model` without π, and its outputs (those of the exported
    graph but π)."""
    proto = onnx.load_from_string(model)
    names = [o.name for o in proto.graph.output]
    if OUTPUT_PI not in names:
        raise ValueError(f"the step graph has no output {OUTPUT_PI!r}")
    kept = [name for name in names if name != OUTPUT_PI]
    inputs = [i.name for i in proto.graph.input]
    step = utils.Extractor(proto).extract_model(inputs, kept)
    _keep_identity(proto, step)
    served: bytes = step.SerializeToString()
    return served, kept


def top_buckets_graph(model: bytes, count: int = TOP_BUCKETS_PER_COMPONENT) -> bytes:
    """The serialized graph of π's top `count` buckets per component from the LSTM's output
    (`INPUT_STEP_OUTPUT`), cut from the exported graph `model`."""
    proto = shape_inference.infer_shapes(onnx.load_from_string(model))
    lstm = [node for node in proto.graph.node if node.op_type == "LSTM"]
    if len(lstm) != 1:
        raise ValueError(f"the step graph has {len(lstm)} LSTM nodes, expected one")
    if OUTPUT_PI not in [o.name for o in proto.graph.output]:
        raise ValueError(f"the step graph has no output {OUTPUT_PI!r}")
    cut = utils.Extractor(proto).extract_model([lstm[0].output[0]], [OUTPUT_PI])
    graph = cut.graph
    for node in graph.node:
        node.input[:] = [INPUT_STEP_OUTPUT if x == lstm[0].output[0] else x for x in node.input]
    graph.input[0].name = INPUT_STEP_OUTPUT
    graph.initializer.append(helper.make_tensor(_TOP_COUNT, TensorProto.INT64, [1], [count]))
    graph.node.append(
        helper.make_node(
            "TopK", [OUTPUT_PI, _TOP_COUNT], [OUTPUT_TOP_WEIGHTS, OUTPUT_TOP_IDS],
            axis=-1, largest=1, sorted=1,
        )
    )  # fmt: skip
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT_TOP_WEIGHTS, TensorProto.FLOAT, None))
    graph.output.append(helper.make_tensor_value_info(OUTPUT_TOP_IDS, TensorProto.INT64, None))
    _keep_identity(proto, cut)
    top: bytes = cut.SerializeToString()
    return top


def _keep_identity(exported: onnx.ModelProto, cut: onnx.ModelProto) -> None:
    """The exported graph's metadata (its contract) and opsets on a graph cut from it."""
    del cut.metadata_props[:]
    cut.metadata_props.extend(exported.metadata_props)
    del cut.opset_import[:]
    cut.opset_import.extend(exported.opset_import)
    cut.ir_version = exported.ir_version
