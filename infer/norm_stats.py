"""Whole-image instance-norm statistics for tiles: a statistics graph derived from a plain model.

Tiled inference (cgan.infer.tiling) must normalize each tile by the whole image's statistics, not
the tile's own. An exported model is a plain graph (input `image`, output `translated`), so when a
frame first runs in tiles cgan-infer derives, in memory, a graph that adds for every top-level
InstanceNormalization i:

- outputs norm{i}_mean, norm{i}_var (N x C x 1 x 1): the statistics of the layer's input;
- optional inputs norm{i}_mean_in, norm{i}_var_in and one norm_stats_weight (a scalar): graph
  inputs that are also initializers (defaults 0, 1 and 0, broadcast over channels), so ONNX Runtime
  uses the defaults when a caller omits them.

The original node is kept and its output rescaled per channel: with mean m, std s = sqrt(var+eps)
of the input and m', s' fed, (x - m')/s' = (x - m)/s * (s/s') + (m - m')/s', hence

    y' = y * K + C,   K = 1 + w (s/s' - 1),   C = w ((m - m')/s' * scale + bias (1 - s/s')).

At the default weight w = 0, K is exactly 1 and C exactly 0: the graph's `translated` is bit for
bit the plain model's. Files that cgan-export wrote before its models were plain carry these
tensors themselves (metadata `norm_stats`) and are used as they are.

The edit works on the protobuf bytes (the base install has no `onnx` package): the model's and
the graph's fields are copied as they are, each InstanceNormalization's output is renamed and
followed by the nodes below, and the new constants, inputs and outputs are appended. Field numbers
are those of onnx/onnx.proto3 (tests check them against the `onnx` package's descriptors).
"""
from __future__ import annotations

import mmap
import struct
from pathlib import Path

import numpy as np

from .metadata import NORM_STATS_WEIGHT, norm_stat_names
from .wire import FIXED32, LENGTH_DELIMITED, Field, fields, message_field, text_field, varint_field

PREFIX = "norm_stats/"  # names of the nodes and constants this pass adds
INSTANCE_NORM = "InstanceNormalization"
DEFAULT_EPSILON = 1e-5  # InstanceNormalization's when the attribute is absent
MODEL_GRAPH = 7
GRAPH = {"node": 1, "initializer": 5, "input": 11, "output": 12}
NODE = {"input": 1, "output": 2, "name": 3, "op_type": 4, "attribute": 5, "domain": 7}
ATTRIBUTE = {"name": 1, "f": 2}
TENSOR = {"dims": 1, "data_type": 2, "name": 8, "raw_data": 9}
VALUE_INFO = {"name": 1, "type": 2}
TYPE_TENSOR_TYPE = 1  # TypeProto.tensor_type
TENSOR_TYPE = {"elem_type": 1, "shape": 2}  # TypeProto.Tensor
SHAPE_DIM = 1  # TensorShapeProto.dim (a Dimension without value or name is unknown)
DATA_TYPES = {np.dtype(np.float32): 1, np.dtype(np.int64): 7}  # TensorProto.DataType
ONNX_DOMAINS = ("", "ai.onnx")


def _node(op: str, inputs: list[str], output: str, name: str) -> bytes:
    return b"".join([*(text_field(NODE["input"], i) for i in inputs), text_field(NODE["output"], output),
                     text_field(NODE["name"], name), text_field(NODE["op_type"], op)])


def _constant(name: str, value, dtype=np.float32) -> bytes:
    array = np.asarray(value, np.dtype(dtype).newbyteorder("<"))
    return b"".join([*(varint_field(TENSOR["dims"], d) for d in array.shape),
                     varint_field(TENSOR["data_type"], DATA_TYPES[np.dtype(dtype)]),
                     text_field(TENSOR["name"], name), message_field(TENSOR["raw_data"], array.tobytes())])


def _float_value(name: str, rank: int) -> bytes:
    """A ValueInfoProto: a float tensor of `rank` dimensions of unknown sizes."""
    shape = b"".join(message_field(SHAPE_DIM, b"") for _ in range(rank))
    tensor_type = (varint_field(TENSOR_TYPE["elem_type"], DATA_TYPES[np.dtype(np.float32)])
                   + message_field(TENSOR_TYPE["shape"], shape))
    value_type = message_field(TYPE_TENSOR_TYPE, tensor_type)
    return text_field(VALUE_INFO["name"], name) + message_field(VALUE_INFO["type"], value_type)


def _layer_ops(i: int, x: str, scale: str, bias: str, output: str) -> list[tuple[str, list[str], str]]:
    """(op, inputs, output) of layer i: its statistics, and the rescaled output named `output`."""
    names, p = norm_stat_names(i), f"{PREFIX}{i}/"
    eps, one, shape = p + "eps", PREFIX + "one", PREFIX + "shape_1c11"
    return [
        # var = E[x^2] - mean^2: one elementwise op and two reductions over the feature map
        ("GlobalAveragePool", [x], names["mean"]),
        ("Mul", [x, x], p + "squares"),
        ("GlobalAveragePool", [p + "squares"], p + "mean_squares"),
        ("Mul", [names["mean"], names["mean"]], p + "mean_squared"),
        ("Sub", [p + "mean_squares", p + "mean_squared"], p + "raw_var"),
        ("Relu", [p + "raw_var"], names["var"]),  # rounding may leave a tiny negative
        ("Add", [names["var"], eps], p + "var_eps"),
        ("Sqrt", [p + "var_eps"], p + "std"),
        ("Add", [names["var_in"], eps], p + "var_in_eps"),
        ("Sqrt", [p + "var_in_eps"], p + "std_in"),
        ("Div", [p + "std", p + "std_in"], p + "ratio"),  # s / s'
        ("Reshape", [scale, shape], p + "scale"),
        ("Reshape", [bias, shape], p + "bias"),
        ("Sub", [names["mean"], names["mean_in"]], p + "shift"),
        ("Div", [p + "shift", p + "std_in"], p + "shift_std"),  # (m - m') / s'
        ("Mul", [p + "shift_std", p + "scale"], p + "shift_scaled"),
        ("Sub", [one, p + "ratio"], p + "one_minus_ratio"),
        ("Mul", [p + "bias", p + "one_minus_ratio"], p + "bias_part"),
        ("Add", [p + "shift_scaled", p + "bias_part"], p + "offset"),
        ("Mul", [NORM_STATS_WEIGHT, p + "offset"], p + "C"),
        ("Sub", [p + "ratio", one], p + "ratio_minus_one"),
        ("Mul", [NORM_STATS_WEIGHT, p + "ratio_minus_one"], p + "w_ratio"),
        ("Add", [one, p + "w_ratio"], p + "K"),
        ("Mul", [p + "y", p + "K"], p + "scaled"),
        ("Add", [p + "scaled", p + "C"], output),
    ]


class _Node:
    """The parts of a NodeProto this pass reads."""

    def __init__(self, data, field: Field):
        self.fields = list(fields(data, field.payload, field.end))
        strings = {key: [f.text(data) for f in self.fields if f.number == number and f.wire == LENGTH_DELIMITED]
                   for key, number in NODE.items() if key != "attribute"}
        self.inputs, self.outputs = strings["input"], strings["output"]
        self.op_type = (strings["op_type"] or [""])[-1]
        self.domain = (strings["domain"] or [""])[-1]
        self.epsilon = DEFAULT_EPSILON
        for f in self.fields:
            if f.number == NODE["attribute"] and f.wire == LENGTH_DELIMITED:
                attribute = {a.number: a for a in fields(data, f.payload, f.end)}
                name, value = attribute.get(ATTRIBUTE["name"]), attribute.get(ATTRIBUTE["f"])
                if name is not None and name.text(data) == "epsilon" and value is not None and value.wire == FIXED32:
                    self.epsilon = struct.unpack("<f", bytes(data[value.payload:value.end]))[0]

    @property
    def is_instance_norm(self) -> bool:
        return self.op_type == INSTANCE_NORM and self.domain in ONNX_DOMAINS

    def renamed_output(self, data, output: str) -> bytes:
        """The node's bytes with its (one) output renamed."""
        return b"".join(text_field(NODE["output"], output) if f.number == NODE["output"]
                        else bytes(data[f.start:f.end]) for f in self.fields)


def _graph_field(data) -> Field:
    graphs = [f for f in fields(data, 0, len(data)) if f.number == MODEL_GRAPH and f.wire == LENGTH_DELIMITED]
    if len(graphs) != 1:
        raise ValueError(f"the model holds {len(graphs)} graphs, not one")
    return graphs[0]


def _top_level_nodes(data, graph: Field) -> list[tuple[Field, _Node]]:
    return [(f, _Node(data, f)) for f in fields(data, graph.payload, graph.end)
            if f.number == GRAPH["node"] and f.wire == LENGTH_DELIMITED]


def count_instance_norms(path: Path) -> int:
    """How many InstanceNormalization nodes the model file's graph has (0 when it cannot be read)."""
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return sum(node.is_instance_norm for _, node in _top_level_nodes(data, _graph_field(data)))
    except (OSError, ValueError):  # the session's own checks report a damaged file
        return 0


def _names(data, graph: Field, nodes: list[_Node]) -> set[str]:
    """Every tensor name the graph uses: node inputs and outputs, initializers, graph inputs and outputs."""
    names = {n for node in nodes for n in (*node.inputs, *node.outputs)}
    named = {GRAPH["initializer"]: TENSOR["name"], GRAPH["input"]: VALUE_INFO["name"],
             GRAPH["output"]: VALUE_INFO["name"]}
    for f in fields(data, graph.payload, graph.end):
        if f.number in named and f.wire == LENGTH_DELIMITED:
            names.update(g.text(data) for g in fields(data, f.payload, f.end) if g.number == named[f.number])
    return names


def expose_norm_stats(data: bytes) -> tuple[bytes, int]:
    """The statistics graph of a serialized plain model, and its number of instance-norm layers.

    Raises ValueError when the model cannot take the edit (malformed, or tensor names it would clash with).
    """
    graph = _graph_field(data)
    nodes = _top_level_nodes(data, graph)
    norms = [(field, node) for field, node in nodes if node.is_instance_norm]
    if not norms:
        return data, 0
    taken = _names(data, graph, [node for _, node in nodes])
    ours = {NORM_STATS_WEIGHT, *(n for i in range(len(norms)) for n in norm_stat_names(i).values())}
    clash = sorted(n for n in taken if n in ours or n.startswith(PREFIX))
    if clash:
        raise ValueError(f"its graph already has a tensor named {clash[0]!r}")
    for _, node in norms:
        if len(node.inputs) != 3 or len(node.outputs) != 1 or not all(node.inputs):
            raise ValueError(f"an {INSTANCE_NORM} node has {len(node.inputs)} inputs and {len(node.outputs)} "
                             "outputs, not 3 and 1")

    constants = [_constant(PREFIX + "one", 1.0), _constant(PREFIX + "shape_1c11", [1, -1, 1, 1], np.int64),
                 _constant(NORM_STATS_WEIGHT, 0.0)]
    inputs, outputs = [_float_value(NORM_STATS_WEIGHT, 0)], []
    added_nodes: dict[int, bytes] = {}  # start of an instance norm's field -> its replacement and new nodes
    for i, (field, node) in enumerate(norms):
        names = norm_stat_names(i)
        constants.append(_constant(f"{PREFIX}{i}/eps", node.epsilon))
        for key, default in (("mean_in", 0.0), ("var_in", 1.0)):
            constants.append(_constant(names[key], np.full((1, 1, 1, 1), default)))
            inputs.append(_float_value(names[key], 4))
        outputs += [_float_value(names["mean"], 4), _float_value(names["var"], 4)]
        ops = _layer_ops(i, *node.inputs, node.outputs[0])
        added_nodes[field.start] = b"".join(
            [message_field(GRAPH["node"], node.renamed_output(data, f"{PREFIX}{i}/y")),
             *(message_field(GRAPH["node"], _node(op, ins, out, f"{PREFIX}{i}/{j}_{op}"))
               for j, (op, ins, out) in enumerate(ops))])

    body = b"".join(added_nodes.get(f.start, bytes(data[f.start:f.end]))
                    for f in fields(data, graph.payload, graph.end))
    body += b"".join([*(message_field(GRAPH["initializer"], c) for c in constants),
                      *(message_field(GRAPH["input"], v) for v in inputs),
                      *(message_field(GRAPH["output"], v) for v in outputs)])
    model = b"".join(message_field(MODEL_GRAPH, body) if f.start == graph.start else bytes(data[f.start:f.end])
                     for f in fields(data, 0, len(data)))
    return model, len(norms)
