"""Models that keep weights in external data files are refused before ONNX Runtime opens them: a
crafted path (../, absolute, a symlink or hard link beside the model) would turn any readable file
into weights that shape the output."""
import os

import cv2
import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from cgan.infer import InferError, Translator
from cgan.infer.cli import main
from cgan.infer.model_file import EXTERNAL, MESSAGES, TENSOR_DATA_LOCATION, TENSOR_EXTERNAL_DATA, check_model_file
from helpers import assert_one_line_error

SECRET = b"SECRET-BYTES" * 4


def _external(name: str, location: str) -> TensorProto:
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=[1, 3, 1, 1])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "12")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _model(nodes, initializers=(), sparse=(), functions=()) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, "h", "w"])
    graph = helper.make_graph(nodes, "g", [x], [y], list(initializers), sparse_initializer=list(sparse))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)],
                              functions=list(functions))
    model.ir_version = 8  # what every supported ONNX Runtime reads
    return model


def _add_w(w_source: list) -> list:
    return [*w_source, helper.make_node("Add", ["image", "w"], ["out"])]


def _placements(location: str) -> dict[str, onnx.ModelProto]:
    """One model per place a tensor can sit, each with its weights in `location`."""
    inline = numpy_helper.from_array(np.ones((1, 3, 1, 1), np.float32), "w")
    branch = lambda tensor: helper.make_graph(  # noqa: E731
        [helper.make_node("Constant", [], ["c"], value=tensor)], "branch", [],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 3, 1, 1])])
    sparse_values = _external("w_values", location)
    sparse_values.dims[:] = [3]
    sparse = helper.make_sparse_tensor(sparse_values, numpy_helper.from_array(np.arange(3, dtype=np.int64),
                                                                              "w_indices"), [1, 3, 1, 1])
    function = helper.make_function("local", "Weights", [], ["c"],
                                    [helper.make_node("Constant", [], ["c"], value=_external("f", location))],
                                    [helper.make_opsetid("", 17)])
    cond = numpy_helper.from_array(np.array(True), "cond")
    return {
        "initializer": _model(_add_w([]), [_external("w", location)]),
        "constant attribute": _model(_add_w([helper.make_node("Constant", [], ["w"],
                                                              value=_external("t", location))])),
        "subgraph": _model(_add_w([helper.make_node("If", ["cond"], ["w"], then_branch=branch(_external("a", location)),
                                                    else_branch=branch(inline))]), [cond]),
        "sparse initializer": _model(_add_w([]), sparse=[sparse]),
        "function": _model(_add_w([helper.make_node("Weights", [], ["w"], domain="local")]), functions=[function]),
    }


def test_the_scanned_fields_are_onnx_fields_and_cover_every_way_to_a_tensor():
    """The field numbers match the onnx package's descriptors, and every message field that can
    lead to a TensorProto is followed."""
    for message, fields in MESSAGES.items():
        descriptor = getattr(onnx, message).DESCRIPTOR
        for number, type_name in fields.items():
            assert descriptor.fields_by_number[number].message_type.name == type_name
        leads_to_tensors = {f.number for f in descriptor.fields
                            if f.message_type is not None and f.message_type.name in MESSAGES}
        assert leads_to_tensors == set(fields), message
    tensor = TensorProto.DESCRIPTOR
    assert tensor.fields_by_number[TENSOR_EXTERNAL_DATA].name == "external_data"
    assert tensor.fields_by_number[TENSOR_DATA_LOCATION].name == "data_location"
    assert TensorProto.EXTERNAL == EXTERNAL


@pytest.mark.parametrize("place", list(_placements("w.bin")))
@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "link.bin", "w.bin"])
def test_external_data_anywhere_is_refused_in_one_line(tmp_path, place, location):
    (tmp_path / "secret.bin").write_bytes(SECRET)
    models = tmp_path / "models"
    models.mkdir()
    (models / "w.bin").write_bytes(SECRET)
    os.symlink(tmp_path / "secret.bin", models / "link.bin")
    path = models / "evil.onnx"
    path.write_bytes(_placements(location)[place].SerializeToString())
    with pytest.raises(InferError, match=r"evil.onnx: the model keeps weights in external data files"):
        check_model_file(path)
    with pytest.raises(InferError, match="external data"):
        Translator(path, device="cpu")


def test_the_command_refuses_it_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret.bin").write_bytes(SECRET)
    onnx.save(_placements("secret.bin")["initializer"], str(tmp_path / "evil.onnx"))
    cv2.imwrite("a.png", np.zeros((8, 8, 3), np.uint8))
    result = CliRunner().invoke(main, ["--image", "a.png", "--model", "evil.onnx", "--out", "o.png", "--no-progress"])
    assert assert_one_line_error(result, "external data") == result.output.strip()  # and nothing else
    assert not (tmp_path / "o.png").exists()


def test_self_contained_models_pass(rgb_model, tmp_path):
    check_model_file(rgb_model)
    inline = _model(_add_w([]), [numpy_helper.from_array(np.ones((1, 3, 1, 1), np.float32), "w")])
    onnx.save(inline, str(tmp_path / "inline.onnx"))
    check_model_file(tmp_path / "inline.onnx")
    out = Translator(tmp_path / "inline.onnx", device="cpu")(np.zeros((8, 8, 3), np.uint8))
    assert out.shape == (8, 8, 3)


@pytest.mark.parametrize("cut", [1, 7, 100, -3])
def test_a_truncated_or_garbled_model_is_not_an_onnx_model(rgb_model, tmp_path, cut):
    data = rgb_model.read_bytes()
    path = tmp_path / "bad.onnx"
    path.write_bytes(data[:cut] if cut > 0 else data[:cut] + b"\xff\xff")
    with pytest.raises(InferError, match="bad.onnx: not an ONNX model"):
        check_model_file(path)


def test_an_empty_file_is_not_an_onnx_model(tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(InferError, match="empty.onnx: the file is empty"):
        check_model_file(tmp_path / "empty.onnx")
