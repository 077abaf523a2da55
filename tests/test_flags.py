"""Errors name the arguments the caller gave: the API's in Python, the flags on the command line."""
import pytest
from click.testing import CliRunner

from cgan.export.api import export_run
from cgan.export.errors import ExportError
from cgan.infer import InferError, Translator
from cgan.infer.cli import main as infer_main
from cgan.infer.flags import as_flags
from helpers import invoke_export, make_run

FLAGS = {"gen": "--gen", "overwrite": "--overwrite", "static_hw": "--static", "verify": "--no-verify",
         "model_path": "--model", "tile": "--tile"}


@pytest.mark.parametrize("api, cli", [
    ("gen='F': use G or F", "--gen F: use G or F"),
    ("a.onnx exists; pass overwrite=True to replace it", "a.onnx exists; pass --overwrite to replace it"),
    ("static_hw=(256, 250): multiples of 4", "--static 256x250: multiples of 4"),
    ("verify=False: parity NOT checked", "--no-verify: parity NOT checked"),
    ("model_path='my photos/a.onnx': no such file", "--model 'my photos/a.onnx': no such file"),
    ("no model_path=... given", "no --model given"),
    ("tile=8: use at least 16 pixels", "--tile 8: use at least 16 pixels"),
    ("tile_overlap=40 and gen_x='F' are not in the table", "tile_overlap=40 and gen_x='F' are not in the table"),
])
def test_api_spelling_becomes_the_flags(api, cli):
    assert as_flags(api, FLAGS) == cli


def test_export_run_names_its_argument_and_the_cli_its_flag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_run(tmp_path / "runs", "a2b")
    export_run(gen="G", verify=False)
    with pytest.raises(ExportError, match=r"already exists; pass overwrite=True to replace it$"):
        export_run(gen="G", verify=False)
    with pytest.raises(ExportError, match=r"^gen='X': choose G, F or both$"):
        export_run(gen="X")
    line = invoke_export("--gen", "G", "--no-verify").output.strip().splitlines()[-1]
    assert line.endswith("already exists; pass --overwrite to replace it") and "overwrite=True" not in line


def test_translator_names_its_argument_and_the_cli_its_flag(rgb_model, tmp_path, monkeypatch):
    with pytest.raises(InferError, match=r"^gen='F': picks a generator in a model folder, but model_path="):
        Translator(rgb_model, "cpu", gen="F")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.png").write_bytes(b"")
    out = CliRunner().invoke(infer_main, ["--image", "a.png", "--model", str(rgb_model), "--gen", "F"]).output
    assert f"--gen F: picks a generator in a model folder, but --model {rgb_model} is one file" in out
