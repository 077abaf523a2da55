"""The statistics graph cgan-infer derives from a plain model for tiles (cgan.infer.norm_stats), edited on the
protobuf bytes without the onnx package: valid ONNX, the plain output bit for bit at the default weight, the
statistics PyTorch computes, overrides that work, and one-line refusals of graphs it cannot edit."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from cgan.export.onnx_export import to_onnx
from cgan.infer import norm_stats, wire
from cgan.infer.metadata import NORM_STATS_WEIGHT, norm_stat_names
from cgan.train import create_generator
from helpers import identity_model

LAYERS = 17  # InstanceNormalization nodes of resnet_6blocks


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_generator("resnet_6blocks", 3, 3, ngf=4).eval()


@pytest.fixture(scope="module")
def plain() -> tuple[torch.nn.Module, bytes]:
    """A tiny generator and its plain graph, as the exporter writes it."""
    net = _net()
    return net, to_onnx(net, (1, 3, 32, 32), 17, dynamic_hw=True).SerializeToString()


def _session(data: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the statistics graph's optional inputs draw a warning each
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def test_field_numbers_are_the_onnx_packages():
    def number(message, name):
        return message.DESCRIPTOR.fields_by_name[name].number

    assert norm_stats.MODEL_GRAPH == number(onnx.ModelProto, "graph")
    for message, table in ((onnx.GraphProto, norm_stats.GRAPH), (onnx.NodeProto, norm_stats.NODE),
                           (onnx.AttributeProto, norm_stats.ATTRIBUTE), (TensorProto, norm_stats.TENSOR),
                           (onnx.ValueInfoProto, norm_stats.VALUE_INFO), (onnx.TypeProto.Tensor, norm_stats.TENSOR_TYPE)):
        assert {name: number(message, name) for name in table} == table
    assert norm_stats.TYPE_TENSOR_TYPE == number(onnx.TypeProto, "tensor_type")
    assert norm_stats.SHAPE_DIM == number(onnx.TensorShapeProto, "dim")
    assert norm_stats.DATA_TYPES == {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64}


def test_the_graph_is_valid_onnx_with_the_plain_output_bit_for_bit(plain):
    _, data = plain
    derived, layers = norm_stats.expose_norm_stats(data)
    assert layers == LAYERS
    model = onnx.load_from_string(derived)
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input][:2] == ["image", NORM_STATS_WEIGHT]
    assert [o.name for o in model.graph.output][:3] == ["translated", "norm0_mean", "norm0_var"]
    assert len(model.graph.output) == 1 + 2 * LAYERS and len(model.graph.input) == 2 + 2 * LAYERS
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 40, 36)).astype(np.float32)
    before = _session(data).run(["translated"], {"image": x})[0]
    assert np.array_equal(_session(derived).run(["translated"], {"image": x})[0], before)


def test_statistics_are_those_of_each_instance_norm_input_in_pytorch(plain):
    net, data = plain
    seen = []
    hooks = [m.register_forward_hook(lambda m, args, out: seen.append(args[0]))
             for m in net.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    x = np.random.default_rng(1).uniform(-1, 1, (2, 3, 36, 44)).astype(np.float32)
    with torch.inference_mode():
        net(torch.from_numpy(x))
    for hook in hooks:
        hook.remove()
    sess = _session(norm_stats.expose_norm_stats(data)[0])
    names = [o.name for o in sess.get_outputs()]
    ours = dict(zip(names, sess.run(None, {"image": x})))
    assert len(seen) == LAYERS
    for i, features in enumerate(seen):
        mean = features.mean(dim=(2, 3), keepdim=True).numpy()
        var = features.var(dim=(2, 3), unbiased=False, keepdim=True).numpy()
        np.testing.assert_allclose(ours[norm_stat_names(i)["mean"]], mean, atol=1e-5)
        np.testing.assert_allclose(ours[norm_stat_names(i)["var"]], var, rtol=1e-3, atol=1e-5)


def test_fed_statistics_replace_the_inputs_own(plain):
    sess = _session(norm_stats.expose_norm_stats(plain[1])[0])
    names = [o.name for o in sess.get_outputs()]
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 40, 36)).astype(np.float32)
    own = dict(zip(names, sess.run(None, {"image": x})))
    assert own[norm_stat_names(0)["mean"]].shape == (2, 4, 1, 1)
    assert not np.allclose(own[norm_stat_names(0)["mean"]][0], own[norm_stat_names(0)["mean"]][1])  # per image
    # Feeding an image's own statistics with weight 1 reproduces its default output.
    feeds = {"image": x[:1], NORM_STATS_WEIGHT: np.array(1.0, np.float32)}
    for i in range(LAYERS):
        n = norm_stat_names(i)
        feeds[n["mean_in"]], feeds[n["var_in"]] = own[n["mean"]][:1], own[n["var"]][:1]
    np.testing.assert_allclose(sess.run(["translated"], feeds)[0], own["translated"][:1], atol=1e-5)
    feeds[norm_stat_names(0)["mean_in"]] = feeds[norm_stat_names(0)["mean_in"]] + 0.5  # other stats, other output
    assert np.abs(sess.run(["translated"], feeds)[0] - own["translated"][:1]).max() > 1e-3


def test_a_model_without_instance_norm_is_left_as_it_is(tmp_path):
    path = identity_model(tmp_path / "id.onnx")
    data = path.read_bytes()
    assert norm_stats.expose_norm_stats(data) == (data, 0)
    assert norm_stats.count_instance_norms(path) == 0


def test_count_instance_norms(tmp_path, plain):
    (tmp_path / "G.onnx").write_bytes(plain[1])
    assert norm_stats.count_instance_norms(tmp_path / "G.onnx") == LAYERS
    (tmp_path / "junk.onnx").write_bytes(b"\xff" * 40)
    assert norm_stats.count_instance_norms(tmp_path / "junk.onnx") == 0
    assert norm_stats.count_instance_norms(tmp_path / "missing.onnx") == 0


def _with_norm(output: str, epsilon: float | None = None, extra_graph: bool = False) -> bytes:
    attributes = {} if epsilon is None else {"epsilon": epsilon}
    nodes = [helper.make_node("InstanceNormalization", ["image", "s", "b"], [output], **attributes)]
    if output != "translated":
        nodes.append(helper.make_node("Identity", [output], ["translated"]))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 2, "h", "w"])],
        [helper.make_tensor_value_info("translated", TensorProto.FLOAT, ["n", 2, "h", "w"])],
        [numpy_helper.from_array(np.array([2.0, 0.5], np.float32), "s"),
         numpy_helper.from_array(np.array([0.1, -0.3], np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    data = model.SerializeToString()
    return data + wire.message_field(norm_stats.MODEL_GRAPH, graph.SerializeToString()) if extra_graph else data


def test_fed_statistics_normalize_with_the_layers_epsilon():
    x = np.random.default_rng(0).normal(size=(1, 2, 3, 5)).astype(np.float32)
    mean, var = np.array([0.3, -0.2], np.float32).reshape(1, 2, 1, 1), np.array([0.02, 0.5], np.float32).reshape(1, 2, 1, 1)
    scale, bias = np.array([2.0, 0.5]).reshape(1, 2, 1, 1), np.array([0.1, -0.3]).reshape(1, 2, 1, 1)
    for epsilon in (None, 0.5):
        sess = _session(norm_stats.expose_norm_stats(_with_norm("translated", epsilon))[0])
        feeds = {"image": x, NORM_STATS_WEIGHT: np.array(1.0, np.float32), "norm0_mean_in": mean, "norm0_var_in": var}
        expected = (x - mean) / np.sqrt(var + (epsilon or norm_stats.DEFAULT_EPSILON)) * scale + bias
        np.testing.assert_allclose(sess.run(["translated"], feeds)[0], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("data,message", [
    (_with_norm("norm0_var"), "already has a tensor named 'norm0_var'"),
    (_with_norm("norm_stats/mine"), "already has a tensor named 'norm_stats/mine'"),
    (_with_norm("y", extra_graph=True), "holds 2 graphs"),
    (b"\x3a\x05\x0a\x01", "runs past the end"),
])
def test_graphs_it_cannot_edit_are_refused_with_a_reason(data, message):
    with pytest.raises(ValueError, match=message):
        norm_stats.expose_norm_stats(data)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_damaged_bytes_give_a_graph_or_value_error(data):
    model = _with_norm("y", 0.5)
    position = data.draw(st.integers(0, len(model) - 1))
    damaged = model[:position] + bytes([data.draw(st.integers(0, 255))]) + model[position + 1:]
    try:
        norm_stats.expose_norm_stats(damaged[:data.draw(st.integers(1, len(model)))])
    except ValueError:
        pass


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63 - 1, -1, -2**63])
def test_varints_read_back_as_written(value):
    encoded = wire.varint(value)
    assert wire.read_varint(encoded, 0, len(encoded)) == (value % 2**64, len(encoded))
    tensor = TensorProto.FromString(wire.varint_field(norm_stats.TENSOR["dims"], value))
    assert list(tensor.dims) == [value]


def test_fields_walk_an_onnx_message_and_copy_it_exactly():
    tensor = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
    tensor.doc_string = "ü"
    data = tensor.SerializeToString()
    found = list(wire.fields(data, 0, len(data)))
    assert b"".join(data[f.start:f.end] for f in found) == data
    assert [f.text(data) for f in found if f.number == norm_stats.TENSOR["name"]] == ["w"]
    assert [f.value for f in found if f.number == norm_stats.TENSOR["dims"]] == [2, 3]
