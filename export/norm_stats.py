"""Make every InstanceNormalization's statistics readable and, optionally, replaceable.

Tiled inference (cgan.infer.tiling) must normalize each tile by the whole image's statistics,
not the tile's own. This pass works on the ONNX graph itself, so it applies to any exporter and
to the fp16/int8 variants (where instance norm stays fp32). For layer i it adds:

- outputs norm{i}_mean, norm{i}_var (N x C x 1 x 1): the statistics of the layer's input;
- optional inputs norm{i}_mean_in, norm{i}_var_in (1 x C x 1 x 1) and one norm_stats_weight
  (scalar): graph inputs that are also initializers, so ONNX Runtime uses their defaults when a
  caller omits them.

The original node is kept and its output rescaled per channel: with mean m, std s = sqrt(var+eps)
of the input and m', s' fed, (x - m')/s' = (x - m)/s * (s/s') + (m - m')/s', hence

    y' = y * K + C,   K = 1 + w (s/s' - 1),   C = w ((m - m')/s' * scale + bias (1 - s/s')).

At the default weight w = 0, K is exactly 1 and C exactly 0, so an app that feeds only the image
gets bit-for-bit the output of the model before this pass.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cgan.infer.metadata import NORM_STATS_WEIGHT, norm_stat_names

PREFIX = "norm_stats/"  # names of the nodes and constants this pass adds


def _constant(value: np.ndarray, name: str, dtype=np.float32) -> TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype), name)


def _channels(model: onnx.ModelProto, node: onnx.NodeProto) -> int:
    """The channel count of an InstanceNormalization, from its scale (an initializer, or cast of one)."""
    initializers = {i.name: i for i in model.graph.initializer}
    name = node.input[1]
    producers = {o: n for n in model.graph.node for o in n.output}
    while name not in initializers:  # the fp16 variant casts fp16 constants back to fp32
        producer = producers.get(name)
        if producer is None or not producer.input:
            raise ValueError(f"cannot tell the channels of instance norm {node.name!r}")
        name = producer.input[0]
    return int(initializers[name].dims[0])


def _layer_ops(i: int, norm: onnx.NodeProto, output: str) -> list[tuple[str, list[str], str]]:
    """(op, inputs, output) of layer i: its statistics, and the rescaled output named `output`."""
    names, p = norm_stat_names(i), f"{PREFIX}{i}/"
    x, scale, bias = norm.input
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


def expose_norm_stats(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """A copy of `model` with overridable instance-norm statistics; returns it and the layer count."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    positions = [k for k, n in enumerate(graph.node) if n.op_type == "InstanceNormalization"]
    if not positions:
        return model, 0
    graph.initializer.extend([_constant(1.0, PREFIX + "one"), _constant([1, -1, 1, 1], PREFIX + "shape_1c11", np.int64),
                              _constant(0.0, NORM_STATS_WEIGHT)])
    graph.input.append(helper.make_tensor_value_info(NORM_STATS_WEIGHT, TensorProto.FLOAT, []))
    added: dict[int, list[onnx.NodeProto]] = {}
    for i, position in enumerate(positions):
        norm = graph.node[position]
        names, channels = norm_stat_names(i), _channels(model, norm)
        eps = next((a.f for a in norm.attribute if a.name == "epsilon"), 1e-5)
        graph.initializer.append(_constant(eps, f"{PREFIX}{i}/eps"))
        for key, default in (("mean_in", 0.0), ("var_in", 1.0)):
            graph.initializer.append(_constant(np.full((1, channels, 1, 1), default), names[key]))
            graph.input.append(helper.make_tensor_value_info(names[key], TensorProto.FLOAT, [1, channels, 1, 1]))
        ops = _layer_ops(i, norm, norm.output[0])
        norm.output[0] = f"{PREFIX}{i}/y"
        added[position] = [helper.make_node(op, inputs, [out], name=f"{PREFIX}{i}/{j}_{op}")
                           for j, (op, inputs, out) in enumerate(ops)]
        graph.output.extend([helper.make_tensor_value_info(names[k], TensorProto.FLOAT, ["batch", channels, 1, 1])
                             for k in ("mean", "var")])
    nodes = [copy for k, n in enumerate(graph.node)  # each layer's nodes right after it
             for copy in (onnx.NodeProto.FromString(n.SerializeToString()), *added.get(k, ()))]
    del graph.node[:]
    graph.node.extend(nodes)
    return model, len(positions)
