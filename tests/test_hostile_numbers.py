"""Numbers and shapes of any size: every numeric option of cgan-train, cgan-export and cgan-infer, and
every JSON file they read, given a number too long for Python to convert (5,000 digits), one beyond
any float (400 digits), or JSON that is not an object, ends in a result or in one short line and a
non-zero exit: never a traceback, never a run folder or output file."""
import json
import sys
from pathlib import Path

import click
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from cgan.export.cli import main as export_main
from cgan.infer import processing, tiling
from cgan.infer.cli import main as infer_main
from cgan.infer.errors import InferError
from cgan.train.cli import main as train_main
from cgan.train.config import ConfigError, load_config_file, make_config, shown
from helpers import assert_one_line_error, identity_model

DIGITS = sys.get_int_max_str_digits()
TOO_MANY_DIGITS = "1" * (DIGITS + 700)  # int() refuses it
BEYOND_FLOAT = "1" * 400  # an int Python holds; float() gives inf
NUMBERS = [TOO_MANY_DIGITS, BEYOND_FLOAT, "-" + BEYOND_FLOAT, "1e999", "nan"]
SHORT_LINE = 300  # characters: a long value is shown cut short


def numeric_options(command: click.Command) -> list[str]:
    """The flags of every option of `command` that takes a number."""
    kinds = (click.types.IntParamType, click.types.FloatParamType)
    return [p.opts[0] for p in command.params if isinstance(p.type, kinds)]


def assert_result_or_one_line(result) -> None:
    """Success, or one short `Error:` line with a non-zero exit; never another exception."""
    if result.exit_code == 0:
        assert result.exception is None, repr(result.exception)
    else:
        assert len(assert_one_line_error(result)) < SHORT_LINE


def test_every_command_has_numeric_options():  # the parametrization below would silently shrink otherwise
    assert {"--ngf", "--lr", "--max-steps"} <= set(numeric_options(train_main))
    assert {"--ngf", "--opset"} <= set(numeric_options(export_main))
    assert {"--batch", "--tile", "--tile-overlap", "--camera"} <= set(numeric_options(infer_main))


@pytest.mark.parametrize("flag", numeric_options(train_main))
@pytest.mark.parametrize("number", NUMBERS, ids=["too_many_digits", "beyond_float", "negative", "1e999", "nan"])
def test_any_number_for_any_train_option(tmp_path, flag, number):
    guard = [] if flag == "--max-steps" else ["--max-steps", "1"]  # were a value taken: a one-step run
    result = CliRunner().invoke(train_main, [flag, number, *guard, "--runs-dir", str(tmp_path / "runs"),
                                             "--device", "cpu"])
    assert len(assert_one_line_error(result)) < SHORT_LINE  # no setting takes any of them
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("flag", numeric_options(export_main))
@pytest.mark.parametrize("number", NUMBERS[:3], ids=["too_many_digits", "beyond_float", "negative"])
def test_any_number_for_any_export_option(tmp_path, flag, number):
    result = CliRunner().invoke(export_main, [str(tmp_path / "no_run"), flag, number, "--out", str(tmp_path / "m")])
    assert len(assert_one_line_error(result, flag)) < SHORT_LINE
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("value", [TOO_MANY_DIGITS + "x4", "4x" + TOO_MANY_DIGITS, BEYOND_FLOAT + "x4", "0x8",
                                   "99999x4", "-4x4"], ids=["too_many_digits", "width_too_many_digits",
                                                            "beyond_float", "zero", "beyond_16384", "negative"])
def test_any_static_size_for_export(tmp_path, value):
    result = CliRunner().invoke(export_main, [str(tmp_path / "no_run"), "--static", value,
                                              "--out", str(tmp_path / "m")])
    assert len(assert_one_line_error(result, "--static", "give height x width")) < SHORT_LINE


@pytest.fixture(scope="module")
def infer_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("numbers")
    cv2.imwrite(str(folder / "a.png"), np.zeros((20, 24, 3), np.uint8))
    return identity_model(folder / "m.onnx"), folder / "a.png"


@pytest.mark.parametrize("flag", [*numeric_options(infer_main), "--max-memory", "--size"])
@pytest.mark.parametrize("number", NUMBERS, ids=["too_many_digits", "beyond_float", "negative", "1e999", "nan"])
def test_any_number_for_any_infer_option(tmp_path, infer_files, flag, number):
    model, image = infer_files
    source = [] if flag == "--camera" else ["--image", str(image)]
    result = CliRunner().invoke(infer_main, [*source, flag, number, "--model", str(model), "--out",
                                             str(tmp_path / "out.png"), "--no-progress"])
    assert_result_or_one_line(result)
    if result.exit_code != 0:
        assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("text", [BEYOND_FLOAT, TOO_MANY_DIGITS, BEYOND_FLOAT + "G", "1e5G", "0", "1025T", "-1G"],
                         ids=["beyond_float", "too_many_digits", "beyond_float_G", "exponent", "zero", "1025T",
                              "negative"])
def test_a_memory_budget_beyond_any_machine_is_refused(text):
    with pytest.raises(InferError, match="^max_memory=.*give a size like 4G"):
        tiling.parse_memory(text)
    assert tiling.parse_memory("1024T") == 1 << 50 and tiling.parse_memory("2.5GiB") == 5 << 29


@pytest.mark.parametrize("text", [TOO_MANY_DIGITS, BEYOND_FLOAT, "12000", "100000x2000", "0", "4x0"],
                         ids=["too_many_digits", "beyond_float", "12000", "100000x2000", "0", "4x0"])
def test_a_size_beyond_any_frame_is_refused(text):
    with pytest.raises(InferError, match="^size="):
        processing.parse_size(text)
    assert processing.parse_size("11585") == processing.Resize(short=11585)  # 11585^2 pixels: just decodable


# --- JSON files: --config FILE and a run's config.json on --resume -----------------------------------

NOT_A_CONFIG = {
    "list": ("[]", "holds one JSON object"),
    "null": ("null", "holds one JSON object"),
    "string": ('"ngf"', "holds one JSON object"),
    "number": ("5", "holds one JSON object"),
    "nested": ("[" * 100_000 + "]" * 100_000, "nested too deep"),
    "nested_object": ('{"a":' * 100_000 + "1" + "}" * 100_000, "nested too deep"),
    "too_many_digits": ('{"ngf": ' + TOO_MANY_DIGITS + "}", f"a number of more than {DIGITS} digits"),
    "too_many_digits_in_a_list": ('{"ngf": [' + TOO_MANY_DIGITS + "]}", f"more than {DIGITS} digits"),
    "beyond_float": ('{"lr": ' + BEYOND_FLOAT + "}", "lr=1111"),
    "int_beyond_float": ('{"ngf": ' + BEYOND_FLOAT + "}", "ngf=1111"),
    "not_utf8": (b"{\"name\": \"\xff\"}", "not a JSON config file"),
}


def _write(path: Path, text: str | bytes) -> None:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())


@pytest.mark.parametrize("case", list(NOT_A_CONFIG))
def test_any_config_file_given_with_config(tmp_path, case):
    text, phrase = NOT_A_CONFIG[case]
    config = tmp_path / "config.json"
    _write(config, text)
    result = CliRunner().invoke(train_main, ["--config", str(config), "--runs-dir", str(tmp_path / "runs")])
    assert_one_line_error(result, phrase)
    assert len(result.output) < SHORT_LINE + len(str(config)) and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("case", list(NOT_A_CONFIG))
def test_any_config_json_of_a_run_given_to_resume(tmp_path, case):
    """A run with no checkpoint yet resumes from its config.json: whatever that holds, one line."""
    text, phrase = NOT_A_CONFIG[case]
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    _write(run / "config.json", text)
    result = CliRunner().invoke(train_main, ["--resume", str(run)])
    assert_one_line_error(result, phrase)
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "train.lock"]  # nothing else made


@pytest.mark.parametrize("value", [10 ** (DIGITS + 700), -(10 ** (DIGITS + 700)), [10 ** (DIGITS + 700)],
                                   {"a": 10 ** (DIGITS + 700)}], ids=["int", "negative", "in_a_list", "in_a_dict"])
@pytest.mark.parametrize("key", ["ngf", "lr", "name", "max_steps"])
def test_a_number_too_long_to_print_through_the_api(key, value):
    with pytest.raises(ConfigError, match=rf"^{key}=<a number too long to show>: "):
        make_config({key: value})


def test_shown_values_are_short():
    assert shown("x" * 5000).endswith("...(long)") and len(shown("x" * 5000)) < 90
    assert shown(10 ** (DIGITS + 1)) == "<a number too long to show>"
    assert shown(7) == "7" and shown("a\tb") == "'a\\tb'"


def test_a_config_file_of_many_small_numbers_is_read(tmp_path):
    """The digit limit is per number: a long file of ordinary values still loads."""
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"ngf": 8, "lr": 0.0001, "seed": 2**32 - 1}))
    assert load_config_file(config) == {"ngf": 8, "lr": 0.0001, "seed": 2**32 - 1}
