"""cgan.export on small nets of every generator: the file, its checks, its metadata and its refusals."""
import json

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn

from cgan.export.errors import ExportError
from cgan.export.onnx_export import DEFAULT_EXPORTER, EXPORTERS, PARITY_KEY, export_generator
from cgan.infer.metadata import INPUT_NAME, OUTPUT_NAME, ModelInfo
from cgan.train import create_generator
from cgan.train.networks import GENERATORS
from helpers import LEGACY_MODEL, onnx_runtime_warnings

NGF = 4
# The smallest training size each architecture accepts (unet/encoder_decoder need their side multiple).
TRAIN_SIZE = {"resnet_9blocks": 16, "resnet_6blocks": 16, "unet_128": 128, "unet_256": 256, "encoder_decoder": 256}


def info_for(name, net, **changes):
    fields = dict(direction="G", source_domain="horse", target_domain="zebra", generator=name, ngf=NGF,
                  norm="instance", input_channels=3, output_channels=3, side_multiple=net.side_multiple,
                  train_size=TRAIN_SIZE[name], checkpoint_sha256="ab" * 32)
    return ModelInfo(**{**fields, **changes})


def torch_out(net, x):
    with torch.inference_mode():
        return net(torch.from_numpy(x)).numpy()


TRAIN_SIZE_FOR_MULTIPLE = {4: 16, 128: 128, 256: 256}


def sizes(m):
    """Square and non-square sizes (H, W) that respect side multiple m, each at batch 1 and 2."""
    side = TRAIN_SIZE_FOR_MULTIPLE[m]
    return [(b, h, w) for b in (1, 2) for h, w in ((side, side), (side, side + m), (side + m, side))]


# Every generator through the default exporter; one through the other exporter (about 10 s each).
EXPORTS = [(name, DEFAULT_EXPORTER) for name in GENERATORS] + [
    ("resnet_6blocks", other) for other in EXPORTERS if other != DEFAULT_EXPORTER]


@pytest.fixture(scope="module", params=EXPORTS, ids=lambda p: f"{p[0]}-{p[1]}")
def exported(request, tmp_path_factory):
    """Each registered generator exported once (dynamic batch, height and width)."""
    name, exporter = request.param
    torch.manual_seed(0)
    net = create_generator(name, ngf=NGF).eval()
    path = tmp_path_factory.mktemp(name) / "G.onnx"
    report = export_generator(net, path, info_for(name, net), exporter=exporter)
    assert report.opset == EXPORTERS[exporter].default_opset
    return name, net, path, report


def test_export_writes_one_self_contained_file(exported):
    name, net, path, report = exported
    assert report.path == path and path.stat().st_size == report.size_bytes
    assert [p.name for p in path.parent.iterdir()] == ["G.onnx"]  # no temp file, no external-data file
    model = onnx.load(str(path), load_external_data=False)
    assert all(t.data_location == onnx.TensorProto.DEFAULT for t in model.graph.initializer)
    assert [i.name for i in model.graph.input] == [INPUT_NAME]  # a plain graph: no initializer among the inputs
    assert [o.name for o in model.graph.output] == [OUTPUT_NAME]
    assert report.parity and max(c.max_abs for c in report.parity) <= 1e-4
    assert {c.shape[0] for c in report.parity} == {1, 2}
    assert any(c.shape[2] != c.shape[3] for c in report.parity)


def test_onnx_runtime_loads_it_without_a_warning(exported, capfd):
    assert onnx_runtime_warnings(exported[2], capfd) == []
    # A file with the statistics tensors exported before plain graphs draws one warning per optional input.
    legacy = onnx_runtime_warnings(LEGACY_MODEL, capfd)
    assert len(legacy) == 35 and all("appears in graph inputs" in line for line in legacy)


def test_checker_and_shape_inference_keep_the_input_symbols(exported):
    _, _, path, _ = exported
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert dims(inferred.graph.input[0]) == ["batch", 3, "height", "width"]
    assert dims(inferred.graph.output[0]) == ["batch", 3, "height", "width"]
    assert not any(n.op_type in ("Dropout", "BatchNormalization") and "training_mode" in
                   [a.name for a in n.attribute] for n in model.graph.node)


def test_onnx_runtime_matches_pytorch_at_several_sizes(exported):
    _, net, path, _ = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for b, h, w in sizes(net.side_multiple):
        x = rng.uniform(-1, 1, (b, 3, h, w)).astype(np.float32)
        y = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
        assert y.shape == x.shape
        assert np.abs(y - torch_out(net, x)).max() <= 1e-4


def test_opencv_dnn_matches_onnx_runtime(exported):
    _, net, path, _ = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    cv_net = cv2.dnn.readNetFromONNX(str(path))
    rng = np.random.default_rng(2)
    m, side = net.side_multiple, TRAIN_SIZE_FOR_MULTIPLE[net.side_multiple]
    for shape in [(1, 3, side, side), (2, 3, side, side + m)]:
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        cv_net.setInput(x)
        y = cv_net.forward()
        assert y.shape == x.shape
        assert np.abs(y - session.run(None, {INPUT_NAME: x})[0]).max() <= 1e-4


def test_metadata_is_present_and_parsable(exported):
    name, net, path, report = exported
    props = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert props["Image.BitmapPixelFormat"] == "Rgb8"
    assert props["Image.ColorSpaceGamma"] == "SRGB"
    assert props["Image.NominalPixelRange"] == "Normalized_1_1"
    info = ModelInfo.from_metadata_props(props)
    assert (info.direction, info.source_domain, info.target_domain) == ("G", "horse", "zebra")
    assert (info.generator, info.ngf, info.norm, info.side_multiple) == (name, NGF, "instance", net.side_multiple)
    assert (info.train_size, info.precision, info.checkpoint_sha256) == (TRAIN_SIZE[name], "fp32", "ab" * 32)
    assert info.export_date.startswith("20") and info.export_date.endswith("+00:00")
    parity = json.loads(props[PARITY_KEY])
    assert parity["reference"] == "pytorch" and parity["max_abs"] == max(c.max_abs for c in report.parity)


class ShapeChanging(nn.Module):
    side_multiple = 4

    def forward(self, x):
        return x[:, :, ::2, ::2]


class TracesOneBranch(nn.Module):
    """Eager PyTorch takes a shape-dependent branch that the tracer freezes: parity must catch it."""

    side_multiple = 4

    def forward(self, x):
        return torch.tanh(x) if x.shape[-1] <= 16 else -torch.tanh(x)


def _resnet_info(net, **changes):
    return info_for("resnet_6blocks", net, **changes)


def test_dry_run_rejects_a_net_that_changes_the_shape(tmp_path):
    with pytest.raises(ExportError, match="differs from its input shape"):
        export_generator(ShapeChanging(), tmp_path / "G.onnx", _resnet_info(ShapeChanging()))
    assert list(tmp_path.iterdir()) == []


def test_failed_parity_leaves_no_file(tmp_path):
    with pytest.raises(ExportError, match="differs from PyTorch.*no file written"):
        export_generator(TracesOneBranch(), tmp_path / "G.onnx", _resnet_info(TracesOneBranch()))
    assert list(tmp_path.iterdir()) == []


def test_failed_export_removes_the_empty_folders_it_made_and_keeps_older_ones(tmp_path):
    (tmp_path / "kept").mkdir()
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_generator(TracesOneBranch(), tmp_path / "kept" / "new" / "newer" / "G.onnx",
                         _resnet_info(TracesOneBranch()))
    assert list(tmp_path.iterdir()) == [tmp_path / "kept"] and list((tmp_path / "kept").iterdir()) == []


def test_no_verify_skips_parity_and_says_so(tmp_path):
    messages = []
    report = export_generator(TracesOneBranch(), tmp_path / "G.onnx", _resnet_info(TracesOneBranch()),
                              verify=False, log=messages.append)
    assert report.parity == () and "NOT checked" in "\n".join(report.lines())
    assert any("NOT checked" in m for m in messages)
    assert PARITY_KEY not in {p.key for p in onnx.load(str(report.path)).metadata_props}


def test_refuses_to_overwrite_without_being_asked(tmp_path):
    net = create_generator("resnet_6blocks", ngf=NGF)
    path = tmp_path / "G.onnx"
    path.write_bytes(b"an older export")
    with pytest.raises(ExportError, match="already exists; pass overwrite=True"):
        export_generator(net, path, _resnet_info(net))
    assert path.read_bytes() == b"an older export"
    export_generator(net, path, _resnet_info(net), overwrite=True)
    assert onnx.load(str(path)).graph.input[0].name == INPUT_NAME


def test_static_size(tmp_path):
    net = create_generator("resnet_6blocks", ngf=NGF).eval()
    report = export_generator(net, tmp_path / "G.onnx", _resnet_info(net), static_hw=(16, 24))
    assert report.input_shape == ("batch", 3, 16, 24) and report.output_shape == ("batch", 3, 16, 24)
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [INPUT_NAME] and not session.get_overridable_initializers()
    assert [o.name for o in session.get_outputs()] == [OUTPUT_NAME]
    x = np.random.default_rng(3).uniform(-1, 1, (2, 3, 16, 24)).astype(np.float32)
    assert np.abs(session.run(None, {INPUT_NAME: x})[0] - torch_out(net, x)).max() <= 1e-4
    with pytest.raises(ExportError, match="multiples of 4"):
        export_generator(net, tmp_path / "F.onnx", _resnet_info(net), static_hw=(15, 24))


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_other_norms_export_in_eval_mode(tmp_path, norm):
    torch.manual_seed(0)
    net = create_generator("resnet_6blocks", ngf=NGF, norm=norm, dropout=True)
    if norm == "batch":  # give the running statistics values that matter
        net.train()
        with torch.no_grad():
            net(torch.rand(4, 3, 16, 16) * 2 - 1)
    report = export_generator(net, tmp_path / "G.onnx", _resnet_info(net, norm=norm))
    assert max(c.max_abs for c in report.parity) <= 1e-4
    assert not net.training


def test_sizes_off_the_side_multiple_are_why_the_metadata_records_it(tmp_path):
    """Off the multiple the net changes the size; apps pad to meta side_multiple (README recipe test)."""
    net = create_generator("resnet_6blocks", ngf=NGF).eval()
    report = export_generator(net, tmp_path / "G.onnx", _resnet_info(net))
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    x = np.zeros((1, 3, 18, 22), np.float32)
    assert session.run(None, {INPUT_NAME: x})[0].shape == (1, 3, 20, 24)
    info = ModelInfo.from_metadata_props(session.get_modelmeta().custom_metadata_map)
    assert info.side_multiple == 4 and "multiple of side_multiple" in info.preprocess


def test_exporter_and_opset_refusals_write_nothing(tmp_path):
    net = create_generator("resnet_6blocks", ngf=NGF).eval()
    with pytest.raises(ExportError, match="the dynamo exporter needs opset 18 or later"):
        export_generator(net, tmp_path / "G.onnx", _resnet_info(net), exporter="dynamo", opset=17)
    with pytest.raises(ExportError, match="unknown exporter 'jit'; choose torchscript, dynamo"):
        export_generator(net, tmp_path / "G.onnx", _resnet_info(net), exporter="jit")
    assert list(tmp_path.iterdir()) == []
