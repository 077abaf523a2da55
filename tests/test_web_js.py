"""The web page's pure modules under Node: web/onnx-metadata.js (the protobuf reader) against the onnx
package's own encoding, and web/contract.js (metadata checks, pixels <-> tensors) against cgan.infer."""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from cgan.infer.metadata import ModelInfo
from cgan.infer.processing import Layout, finish, prepare
from helpers import identity_info, identity_model, image, need

WEB = Path(__file__).resolve().parent.parent / "web"

# Calls exported functions of one module; typed arrays travel as {"$u8"|"$u8c"|"$f32": base64}, a file's bytes
# as {"$file": path}; each call answers {"value": ...} or {"error": class name, "message": ...}.
HARNESS = r"""
import { readFileSync } from "node:fs";
const mod = await import(process.argv[1]);
const TYPES = { $u8: Uint8Array, $u8c: Uint8ClampedArray, $f32: Float32Array };
const decode = (v) => {
  if (Array.isArray(v)) return v.map(decode);
  if (v === null || typeof v !== "object") return v;
  if ("$file" in v) return new Uint8Array(readFileSync(v.$file));
  for (const [tag, Type] of Object.entries(TYPES)) {
    if (tag in v) { const b = Buffer.from(v[tag], "base64"); return new Type(b.buffer, b.byteOffset, b.length / Type.BYTES_PER_ELEMENT); }
  }
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
};
const encode = (v) => {
  for (const [tag, Type] of Object.entries(TYPES)) {
    if (v instanceof Type) return { [tag]: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
  }
  if (Array.isArray(v)) return v.map(encode);
  if (v === null || typeof v !== "object") return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encode(x)]));
};
const answers = JSON.parse(readFileSync(0, "utf8")).map(([name, args]) => {
  try { return { value: encode(mod[name](...decode(args))) }; }
  catch (e) { return { error: e.constructor.name, message: e.message }; }
});
process.stdout.write(JSON.stringify(answers));
"""


@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node")
    need(exe is not None, "no node on PATH (Debian: apt-get install nodejs; `make test` installs it as root)")
    return exe


def call_js(node: str, module: str, calls: list[tuple[str, list]]) -> list[dict]:
    """Runs each (function, args) of web/`module` in one Node process."""
    done = subprocess.run([node, "--input-type=module", "-e", HARNESS, (WEB / module).as_uri()],
                          input=json.dumps(calls), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def b64(array: np.ndarray, tag: str) -> dict:
    return {tag: base64.b64encode(np.ascontiguousarray(array).tobytes()).decode()}


def unb64(value: dict, dtype) -> np.ndarray:
    (data,) = value.values()
    return np.frombuffer(base64.b64decode(data), dtype)


# ---------------------------------------------------------------- the protobuf reader

def write_model(path: Path, props: list[tuple[str, str]], doc: str = "") -> Path:
    """identity_model's graph with exactly these metadata_props (duplicates and order kept)."""
    model = onnx.load(str(identity_model(path)))
    model.doc_string = doc
    del model.metadata_props[:]
    for key, value in props:
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def read_js(node: str, paths: list[Path]) -> list[dict]:
    return call_js(node, "onnx-metadata.js", [("readMetadataProps", [{"$file": str(p)}]) for p in paths])


def onnx_props(path: Path) -> list[list[str]]:
    return [[p.key, p.value] for p in onnx.load(str(path)).metadata_props]


def test_reader_gives_what_onnx_wrote(node, tmp_path, rgb_model):
    long = "".join(chr(0x20 + i % 0x5F) for i in range(300_000))  # a 3-byte length varint
    cases = {
        "none": [],
        "unicode": [("cgan", json.dumps({"source_domain": "zèbre 🦓", "target_domain": "馬"}, ensure_ascii=False)),
                    ("ключ ✓", "значение")],
        "long": [("long", long), ("empty", ""), ("", "empty key")],
        "duplicates": [("k", "first"), ("other", "x"), ("k", "second")],
        "many": [(f"key{i}", str(i) * (i % 7)) for i in range(500)],
    }
    paths = [write_model(tmp_path / f"{name}.onnx", props, doc="é" * 200) for name, props in cases.items()]
    paths.append(rgb_model)  # a real export: a large graph field before the metadata
    answers = read_js(node, paths)
    for path, answer in zip(paths, answers):
        assert "error" not in answer, (path.name, answer)
        assert answer["value"] == onnx_props(path), path.name
    assert dict(answers[-1]["value"])["cgan"].startswith("{")


def test_reader_refuses_truncated_files_exactly_when_protobuf_does(node, tmp_path):
    whole = write_model(tmp_path / "m.onnx", [("cgan", "{}"), ("ключ", "ü" * 40)]).read_bytes()
    cuts = sorted({*range(0, len(whole), max(1, len(whole) // 60)), *range(len(whole) - 80, len(whole))})
    paths = []
    for cut in cuts:
        paths.append(tmp_path / f"cut{cut}.onnx")
        paths[-1].write_bytes(whole[:cut])
    for path, answer in zip(paths, read_js(node, paths)):
        model = onnx.ModelProto()
        try:
            model.ParseFromString(path.read_bytes())
        except Exception:  # noqa: BLE001 - protobuf's DecodeError class differs between its backends
            assert answer.get("error") == "ProtobufError", (path.name, answer)
        else:
            assert answer.get("value") == [[p.key, p.value] for p in model.metadata_props], (path.name, answer)


HOSTILE = {  # bytes -> what the one error must say
    "huge length": (b"\x72\x80\x80\x80\x80\x80\x20", "runs past the end"),  # field 14, a length of 2^40
    "entry overruns": (b"\x72\x05\x0a\x03ab", "runs past the end"),  # an entry longer than the bytes left
    "key overruns": (b"\x72\x03\x0a\x05abc", "runs past the end"),  # a key longer than its entry
    "endless varint": (b"\x08" + b"\xff" * 11, "longer than 10 bytes"),
    "varint over 2^53": (b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\x7f", "too large"),
    "group": (b"\x0b", "wire type 3"),
    "field 0": (b"\x00", "field number 0"),
    "props as varint": (b"\x70\x01", "metadata_props with wire type 0"),
    "bad utf-8": (b"\x72\x04\x0a\x02\xc3\x28", "not valid UTF-8"),
    "cut key": (b"\x3a", "truncated varint"),
}


def test_reader_refuses_hostile_bytes_with_one_error(node, tmp_path):
    paths = []
    for i, (data, _) in enumerate(HOSTILE.values()):
        paths.append(tmp_path / f"bad{i}.onnx")
        paths[-1].write_bytes(data)
    for (case, (_, message)), answer in zip(HOSTILE.items(), read_js(node, paths)):
        assert answer.get("error") == "ProtobufError" and message in answer["message"], (case, answer)


def test_reader_never_fails_otherwise_on_random_bytes(node, tmp_path):
    rng = np.random.default_rng(0)
    whole = write_model(tmp_path / "m.onnx", [("cgan", json.dumps(identity_info()))]).read_bytes()
    paths = []
    for i in range(200):
        data = bytearray(whole) if i % 2 else bytearray(rng.integers(0, 256, int(rng.integers(1, 400)), np.uint8))
        for at in rng.integers(0, len(data), 1 + i % 5):  # a few flipped bytes in a real file
            data[at] = int(rng.integers(0, 256))
        paths.append(tmp_path / f"r{i}.onnx")
        paths[-1].write_bytes(bytes(data))
    for path, answer in zip(paths, read_js(node, paths)):
        assert "value" in answer or answer["error"] == "ProtobufError", (path.name, answer)


# ---------------------------------------------------------------- the contract: metadata

GRAPH_IO = ([{"name": "image", "isTensor": True, "type": "float32", "shape": ["batch", 3, "height", "width"]}],
            [{"name": "translated", "isTensor": True, "type": "float32", "shape": ["batch", 3, "height", "width"]}])


def spec_js(node, metadata_texts: list[str | None], io=GRAPH_IO) -> list[dict]:
    calls = [("modelSpec", [[] if text is None else [["cgan", text]], *io]) for text in metadata_texts]
    return call_js(node, "contract.js", calls)


METADATA_CHANGES = [
    {}, {"side_multiple": 0}, {"side_multiple": 1025}, {"side_multiple": 2.5}, {"side_multiple": True},
    {"value_range": [1, 1]}, {"value_range": [0, "1"]}, {"value_range": [0, 1e7]}, {"value_range": [0, 1, 2]},
    {"value_range": [0, 255]}, {"input_channels": 2}, {"output_channels": 1}, {"direction": "X"},
    {"color_order": "BGR"}, {"color_order": "GBR"}, {"layout": "NHWC"}, {"ngf": 0}, {"train_size": 16385},
    {"source_domain": 3}, {"target_domain": "y" * 1001}, {"generator": None}, {"new_key": "ignored"},
    {"norm": "a\nb"}, {"norm": "a\u00a0b"}, {"norm": "a\u200bb"}, {"norm": "zèbre 🦓 馬"},
]


def test_metadata_checks_match_cgan_infer(node):
    """Each variant of valid metadata is accepted by the page exactly when cgan-infer accepts it."""
    texts = [json.dumps(identity_info(**changes)) for changes in METADATA_CHANGES]
    for changes, text, answer in zip(METADATA_CHANGES, texts, spec_js(node, texts)):
        try:
            ModelInfo.from_metadata_props({"cgan": text})
        except ValueError as e:
            assert answer.get("error") == "ContractError", (changes, answer, str(e))
            assert next(iter(changes)) in answer["message"], (changes, answer)
        else:
            assert "value" in answer, (changes, answer)
            spec, data = answer["value"], json.loads(text)
            assert spec["sideMultiple"] == data["side_multiple"] and spec["valueRange"] == data["value_range"]
            assert spec["colorOrder"] == data["color_order"] and spec["info"] == data


def test_broken_metadata_is_refused_in_one_line(node):
    cases = {"not json": "not valid JSON", "NaN": "not valid JSON", "[1, 2]": "not a JSON object",
             '{"direction": "G"}': "missing"}
    for (text, message), answer in zip(cases.items(), spec_js(node, list(cases))):
        assert answer.get("error") == "ContractError" and message in answer["message"], (text, answer)
        assert "\n" not in answer["message"]


def test_names_come_from_the_metadata_else_the_graph(node):
    plain_io = ([{"name": "x", "isTensor": True, "type": "float32", "shape": [1, 3, "h", "w"]},
                 {"name": "extra", "isTensor": True, "type": "float32", "shape": [1]}],
                [{"name": "y", "isTensor": True, "type": "float32", "shape": [1, 3, "h", "w"]},
                 {"name": "stats", "isTensor": True, "type": "float32", "shape": [1]}])
    named, unnamed, missing, absent = spec_js(node, [
        json.dumps(identity_info(input_name="x", output_name="y")),
        json.dumps({k: v for k, v in identity_info().items() if k not in ("input_name", "output_name")}),
        json.dumps(identity_info()),  # names image/translated, which this graph lacks
        None,
    ], plain_io)
    assert (named["value"]["inputName"], named["value"]["outputName"]) == ("x", "y")
    assert (unnamed["value"]["inputName"], unnamed["value"]["outputName"]) == ("x", "y")
    assert missing["error"] == "ContractError" and "'image'" in missing["message"]
    plain = absent["value"]
    assert (plain["inputName"], plain["outputName"], plain["info"]) == ("x", "y", None)
    assert plain["sideMultiple"] == 4 and plain["valueRange"] == [-1, 1] and "no cgan metadata" in plain["note"]


# ---------------------------------------------------------------- the contract: pixels <-> tensors

PIXEL_CASES = [  # (h, w), side multiple, channels, colour order, value range
    ((30, 21), 4, 3, "RGB", [-1, 1]),
    ((17, 40), 8, 3, "BGR", [0, 1]),
    ((9, 9), 1, 3, "RGB", [-1, 1]),
    ((33, 64), 32, 1, "RGB", [-0.5, 2]),
    ((5, 7), 4, 3, "RGB", [1, -1]),
]


def test_pixels_to_tensor_and_back_match_cgan_infer(node):
    calls, expected = [], []
    for (h, w), multiple, channels, order, value_range in PIXEL_CASES:
        spec = {"inputChannels": channels, "outputChannels": channels, "colorOrder": order,
                "valueRange": value_range, "sideMultiple": multiple}
        layout = Layout(channels, channels, order, tuple(value_range), multiple, np.dtype(np.float32))
        bgr = image(h, w, seed=h * w)
        rgba = np.dstack([bgr[:, :, ::-1], np.full((h, w), 255, np.uint8)])
        prepared = prepare(bgr, layout)
        output = np.random.default_rng(h).uniform(-1.2, 2.2, prepared.tensor.shape).astype(np.float32)
        dims = [1, *prepared.tensor.shape]
        calls += [("toTensor", [b64(rgba, "$u8c"), w, h, spec]), ("toPixels", [b64(output, "$f32"), dims, w, h, spec])]
        frame = finish(output, prepared, layout)
        expected.append((prepared.tensor, dims, frame[:, :, ::-1] if frame.ndim == 3 else np.dstack([frame] * 3)))
    answers = call_js(node, "contract.js", calls)
    for case, (tensor, dims, pixels), to_tensor, to_pixels in zip(PIXEL_CASES, expected, answers[::2], answers[1::2]):
        assert to_tensor["value"]["dims"] == dims, case
        data = unb64(to_tensor["value"]["data"], np.float32).reshape(tensor.shape)
        np.testing.assert_allclose(data, tensor, atol=1e-6, err_msg=str(case))  # padding, order, range as infer
        got = unb64(to_pixels["value"], np.uint8).reshape(*pixels.shape[:2], 4)
        assert (got[:, :, 3] == 255).all(), case
        assert np.abs(got[:, :, :3].astype(int) - pixels.astype(int)).max() <= 1, case  # float32 vs 64 rounding


def test_too_small_pictures_are_refused(node):
    spec = {"inputChannels": 3, "outputChannels": 3, "colorOrder": "RGB", "valueRange": [-1, 1], "sideMultiple": 8}
    (answer,) = call_js(node, "contract.js", [("toTensor", [b64(np.zeros(3 * 3 * 4, np.uint8), "$u8c"), 3, 3, spec])])
    assert answer["error"] == "ContractError" and "too small" in answer["message"]


def test_runtime_version_is_pinned():
    """package.json pins onnxruntime-web to one version, and the lock file holds that version."""
    package = json.loads((WEB / "package.json").read_text())
    lock = json.loads((WEB / "package-lock.json").read_text())
    pinned = package["dependencies"]["onnxruntime-web"]
    assert pinned.replace(".", "").isdigit(), pinned
    assert lock["packages"]["node_modules/onnxruntime-web"]["version"] == pinned


def test_readme_browser_snippet_imports_what_the_modules_export(node):
    """The README's JavaScript lines import names that web/'s modules really export."""
    readme = (WEB.parent / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```js\n(.*?)```", readme.split("## The ONNX contract", 1)[1].split("\n## ", 1)[0], re.S)
    imports = re.findall(r'import \{([^}]*)\} from "\./web/([\w.-]+)"', block)
    assert {module for _, module in imports} == {"onnx-metadata.js", "contract.js"}
    for names, module in imports:
        script = f"const m = await import({json.dumps((WEB / module).as_uri())}); " \
                 "console.log(JSON.stringify(Object.keys(m).filter((k) => typeof m[k] === 'function')))"
        done = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
        exported = set(json.loads(done.stdout))
        assert {n.strip() for n in names.split(",")} <= exported, (module, exported)
