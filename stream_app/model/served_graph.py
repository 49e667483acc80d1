"""The step graph as the worker serves it: the exported graph with the top category buckets of
each mixture component taken inside it (an ONNX TopK on π), in place of π itself.

A user's state keeps only the `TOP_BUCKETS_PER_COMPONENT` largest weights π_{r,k} of each
component; the full (R, K) distribution is read by nothing else in the worker. Taking them in
the graph spares copying K floats per component out of ONNX Runtime and sorting them in
Python. TopK breaks ties by the lower bucket index (ONNX operator spec, opset ≥ 11).
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from stream_app.model.contract import OUTPUT_NAMES, OUTPUT_PI

#: Category buckets kept per mixture component in a user's state.
TOP_BUCKETS_PER_COMPONENT = 8
#: The served graph's outputs in place of π: (B, R, TOP) weights and their bucket ids.
OUTPUT_TOP_WEIGHTS = "pi_top_weights"
OUTPUT_TOP_IDS = "pi_top_ids"

#: The served graph's outputs: the exported graph's, π replaced by its top buckets.
SERVED_OUTPUTS = (*(n for n in OUTPUT_NAMES if n != OUTPUT_PI), OUTPUT_TOP_WEIGHTS, OUTPUT_TOP_IDS)

_TOP_COUNT = "pi_top_count"


def as_exported(served: list[str]) -> list[str]:
    """The exported graph's output names of the served graph's (π in place of its top)."""
    names = [n for n in served if n != OUTPUT_TOP_IDS]
    return [OUTPUT_PI if n == OUTPUT_TOP_WEIGHTS else n for n in names]


def with_top_buckets(model: bytes, count: int = TOP_BUCKETS_PER_COMPONENT) -> bytes:
    """The serialized graph `model` with π's top `count` buckets per component as outputs
    (sorted by weight, largest first) instead of π."""
    proto = onnx.load_from_string(model)
    graph = proto.graph
    outputs = [o for o in graph.output if o.name != OUTPUT_PI]
    if len(outputs) == len(graph.output):
        raise ValueError(f"the step graph has no output {OUTPUT_PI!r}")
    graph.initializer.append(helper.make_tensor(_TOP_COUNT, TensorProto.INT64, [1], [count]))
    graph.node.append(
        helper.make_node(
            "TopK", [OUTPUT_PI, _TOP_COUNT], [OUTPUT_TOP_WEIGHTS, OUTPUT_TOP_IDS],
            axis=-1, largest=1, sorted=1,
        )
    )  # fmt: skip
    del graph.output[:]
    graph.output.extend(outputs)
    graph.output.append(helper.make_tensor_value_info(OUTPUT_TOP_WEIGHTS, TensorProto.FLOAT, None))
    graph.output.append(helper.make_tensor_value_info(OUTPUT_TOP_IDS, TensorProto.INT64, None))
    served: bytes = proto.SerializeToString()
    return served
