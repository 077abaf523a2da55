"""Hostile input to `cgan-train`: bad config values (from flags and from --config files) and bad data
folders must each give one line naming the key or file, exit non-zero, and leave no run folder."""
import json
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cgan.train.cli import main
from cgan.train.config import CONFIG_FILE_LIMIT, ConfigError, make_config
from cgan.train.data import CorruptImageWarning, DataError, UnalignedDataset, check_batchable
from cgan.train.images import MAX_IMAGE_BYTES, UnreadableImage, decode_image
from cgan.train.loop import check_nets_fit
from cgan.train.networks import GENERATORS, create_generator, side_multiple, smallest_side
from cgan.train.preprocess import Preprocess
from helpers import assert_one_line_error

TINY = {"generator": "resnet_6blocks", "discriminator": "pixel", "ngf": 4, "ndf": 4, "crop_size": 16,
        "load_size": 16, "device": "cpu", "max_steps": 1}


def train(tmp_path: Path, *args: str):
    """`cgan-train` at a tiny size: TINY comes from a config file, so flags and other files win over it."""
    tiny = tmp_path / "tiny.json"
    tiny.write_text(json.dumps(TINY))
    return CliRunner().invoke(main, ["--config", str(tiny), "--runs-dir", str(tmp_path / "runs"), *args])


def train_with_config(tmp_path: Path, text: str):
    """TINY and then the keys of `text` (a JSON object) in one config file; the later keys win."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(TINY)[:-1] + ", " + text.strip()[1:])
    return CliRunner().invoke(main, ["--config", str(config), "--runs-dir", str(tmp_path / "runs")])


def assert_refused(result, tmp_path: Path, *needles: str) -> None:
    """One error line holding every needle, and no run folder."""
    assert_one_line_error(result, *needles)
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir())


def write_image(path: Path, h: int, w: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))
    return path


# --- config values from a --config file ----------------------------------------------------------

@pytest.mark.parametrize("text, needle", [
    ('{"ngf": 8.5}', "ngf=8.5: must be an integer"),
    ('{"ngf": "64"}', "ngf='64': must be an integer"),
    ('{"dropout": "false"}', "dropout='false': must be true or false"),
    ('{"ngf": true}', "ngf=True: must be an integer"),
    ('{"lr": "2e-4"}', "lr='2e-4': must be a number"),
    ('{"norm": "layer"}', "norm='layer': choose one of instance, batch, none"),
    ('{"padding": "circular"}', "padding='circular': choose one of"),
    ('{"init": "he"}', "init='he': choose one of"),
    ('{"direction": "AtoC"}', "direction='AtoC': choose one of AtoB, BtoA"),
    ('{"lr": NaN}', "lr=nan: must be a finite number"),
    ('{"lr": Infinity}', "lr=inf: must be a finite number"),
    ('{"beta1": -Infinity}', "beta1=-inf: must be a finite number"),
    ('{"lambda_x": 1e999}', "lambda_x=inf: must be a finite number"),
    ('{"lambda_identity": NaN}', "lambda_identity=nan"),
    ('{"init_gain": NaN}', "init_gain=nan: must be a finite number"),
    ('{"crop_size": 0}', "crop_size=0: must be at least 1"),
    ('{"batch_size": -2}', "batch_size=-2: must be at least 1"),
    ('{"lr": 0}', "lr=0: must be positive"),
    ('{"recipe": []}', "recipe=[]: must be a string"),
    ('{"pointwise_lr": 0}', "pointwise_lr=0: must be positive"),
    ('{"beta1": 1}', "beta1=1: must be less than 1"),
    ('{"ngf": 100000000000000000000000000000}', "ngf=100000000000000000000000000000: must be at most 4096"),
    ('{"max_steps": 100000000000000000000}', "max_steps=100000000000000000000: must be at most 2147483647"),
    ('{"lr": 1' + "0" * 400 + '}', "lr=1000"),
    ('{"dist_timeout": 1000000000000}', "dist_timeout=1000000000000: must be at most"),
    ('{"seed": -1}', "seed=-1: must not be negative"),
    ('{"epochs": null}', "epochs=None: must be an integer, not null"),
    ('{"data": 5}', "data=5: must be a string"),
    ('{"data": "a\\u0000b"}', "data='a\\x00b': must not hold a NUL character"),
    ('{"generator": ["resnet_9blocks"]}', "generator=['resnet_9blocks']: must be a string"),
    ('{"name": "../escape"}', "name='../escape'"),
    ('{"name": "' + "a" * 300 + '"}', "use at most 100 letters"),
    ('{"domain_x": "\\ud800"}', "domain_x='\\ud800': must be valid Unicode text"),
    ('{"lr": "' + "b" * 5000 + '"}', "lr='bbbbbbbb"),
])
def test_bad_value_in_a_config_file_names_the_key(tmp_path, text, needle):
    result = train_with_config(tmp_path, text)
    assert_refused(result, tmp_path, needle)
    assert len(result.output) < 300  # long values are cut short


@pytest.mark.parametrize("runs_dir, problem", [
    ("afile", "{tmp}/afile is a file, not a folder"),
    ("afile/sub/dir", "{tmp}/afile is a file, not a folder"),
    ("", "give a folder"),
])
def test_runs_dir_that_cannot_be_a_folder(tmp_path, runs_dir, problem):
    (tmp_path / "afile").write_text("a file where the runs should go")
    value = str(tmp_path / runs_dir) if runs_dir else ""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**TINY, "runs_dir": value}))
    result = CliRunner().invoke(main, ["--config", str(config)])
    assert_one_line_error(result, f"runs_dir={value!r}: {problem.format(tmp=tmp_path)}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "config.json"]


def test_config_file_too_large_is_not_read(tmp_path):
    config = tmp_path / "config.json"
    with open(config, "wb") as f:
        f.truncate(50 << 30)  # sparse: costs no disk
    result = CliRunner().invoke(main, ["--config", str(config), "--runs-dir", str(tmp_path / "runs")])
    assert_refused(result, tmp_path, str(config), f"at most {CONFIG_FILE_LIMIT}")


def test_config_file_nested_too_deep(tmp_path):
    config = tmp_path / "config.json"
    config.write_text("[" * 100_000 + "]" * 100_000)
    result = CliRunner().invoke(main, ["--config", str(config), "--runs-dir", str(tmp_path / "runs")])
    assert_refused(result, tmp_path, str(config), "nested too deep")


# --- the same checks on flags --------------------------------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (["--lr", "inf"], "lr=inf: must be a finite number"),
    (["--lr", "nan"], "lr=nan: must be a finite number"),
    (["--lambda-y", "-1"], "lambda_y=-1.0: must not be negative"),
    (["--init-gain", "1e308"], "init_gain=1e+308: must be at most 10"),
    (["--ngf", "99999999999999999999999"], "ngf=99999999999999999999999: must be at most 4096"),
    (["--load-size", "0"], "load_size=0: must be at least 1"),
    (["--workers", "100000"], "workers=100000: must be at most 1024"),
    (["--ngf", "8.5"], "'--ngf': '8.5' is not a valid integer"),
    (["--norm", "layer"], "Invalid value for '--norm'"),
    (["--ngf", "0"], "ngf=0: must be at least 1"),
    (["--generator", "nope"], "Invalid value for '--generator'"),
    (["--device", "cuda:7"], "cuda:7"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--data", "/no/such/folder"], "/no/such/folder"),
    (["--discriminator", "basic"], "crop_size=16 is too small for discriminator basic"),
    (["--input-nc", "2"], "input_nc=2"),
    (["--threads", "-1"], "threads=-1: must not be negative"),
])
def test_bad_flag_value_names_the_key(tmp_path, args, needle):
    assert_refused(train(tmp_path, *args), tmp_path, needle)


def test_make_config_refuses_wrong_types_without_a_folder():
    with pytest.raises(ConfigError, match=r"^ndf='16': must be an integer$"):
        make_config({"ndf": "16"})
    assert make_config({"lr": 1}).lr == 1.0 and isinstance(make_config({"lr": 1}).lr, float)


# --- data folders --------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", ["0", "2"])
def test_domain_of_only_undecodable_files_stops_before_the_run_folder(tmp_path, workers):
    data = tmp_path / "data"
    write_image(data / "trainB" / "b.png", 20, 24)
    (data / "trainA").mkdir()
    (data / "trainA" / "empty.jpg").write_bytes(b"")
    (data / "trainA" / "text.png").write_text("not a png")
    (data / "trainA" / "noise.webp").write_bytes(np.random.default_rng(0).bytes(4096))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptImageWarning)
        result = train(tmp_path, "--data", str(data), "--workers", workers)
    assert_refused(result, tmp_path, "no file in", "trainA", "can be decoded")


@pytest.mark.parametrize("mode", ["none", "scale_width"])
@pytest.mark.parametrize("workers", ["0", "2"])
def test_unbatchable_image_sizes_stop_before_the_run_folder(tmp_path, mode, workers):
    data = tmp_path / "data"
    write_image(data / "trainA" / "wide.png", 20, 40)
    write_image(data / "trainA" / "tall.png", 40, 20, seed=1)
    write_image(data / "trainB" / "b.png", 20, 20)
    result = train(tmp_path, "--data", str(data), "--preprocess", mode, "--batch-size", "2", "--workers", workers)
    assert_refused(result, tmp_path, "trainA", f"--preprocess {mode}", "--batch-size 1", "cropping --preprocess")


def test_same_sized_images_batch_with_any_preprocess(tmp_path):
    for domain in ("trainA", "trainB"):
        for i in range(3):
            write_image(tmp_path / domain / f"{i}.png", 20, 36, seed=i)
    for mode in ("none", "scale_width"):
        dataset = UnalignedDataset(tmp_path, Preprocess(mode, load_size=16, crop_size=16, flip=False))
        check_batchable(dataset, 2)  # equal sizes: nothing to refuse
    odd = tmp_path / "trainB" / "odd.png"
    write_image(odd, 60, 20)
    dataset = UnalignedDataset(tmp_path, Preprocess("none", flip=False))
    check_batchable(dataset, 1)  # one image a batch never needs equal sizes
    with pytest.raises(DataError, match="odd.png"):
        check_batchable(dataset, 4)


def test_file_too_large_is_skipped_unread_with_its_name(tmp_path):
    huge = tmp_path / "trainA" / "a0_huge.png"
    huge.parent.mkdir(parents=True)
    with open(huge, "wb") as f:
        f.truncate(50 << 30)  # 50 GB, sparse: costs no disk, and reading it whole would take minutes
    write_image(tmp_path / "trainA" / "a1.png", 20, 24)
    write_image(tmp_path / "trainB" / "b.png", 20, 24)
    with pytest.raises(UnreadableImage, match=rf"a0_huge.png: 51200 MiB is more than the {MAX_IMAGE_BYTES >> 20} MiB"):
        decode_image(str(huge), 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = UnalignedDataset(tmp_path, Preprocess("none", flip=False))
        item = dataset[(0, 0)]
    reports = [str(w.message) for w in caught if issubclass(w.category, CorruptImageWarning)]
    assert len(reports) == 1 and "a0_huge.png" in reports[0] and "\n" not in reports[0]
    assert item["x_path"].endswith("a1.png")
    assert dataset.x.unreadable() == [str(huge)]


# --- sizes the nets cannot train at, and run folders that cannot be made --------------------------

@pytest.mark.parametrize("data", [False, True], ids=["builtin", "folder"])
@pytest.mark.parametrize("args, phrase", [
    (["--generator", "unet_256"], "crop_size=16 is not a multiple of 256, which generator unet_256 needs; "
                                  "use --crop-size 256"),
    (["--generator", "unet_128", "--crop-size", "64", "--load-size", "64"],
     "crop_size=64 is not a multiple of 128, which generator unet_128 needs; use --crop-size 128"),
    (["--generator", "encoder_decoder", "--crop-size", "128", "--load-size", "128"], "use --crop-size 256"),
    (["--crop-size", "4", "--load-size", "4"], "crop_size=4 is too small for generator resnet_6blocks"),
    (["--crop-size", "4", "--load-size", "4", "--padding", "zero"], "use --crop-size 8"),
    (["--crop-size", "6", "--load-size", "6"], "crop_size=6 is not a multiple of 4, which generator resnet_6blocks"),
    (["--discriminator", "basic"], "crop_size=16 is too small for discriminator basic"),
], ids=["unet_256", "unet_128", "encoder_decoder", "resnet_4", "resnet_4_zero_padding", "resnet_6", "basic_16"])
def test_a_crop_the_nets_cannot_take_is_refused_before_the_run_folder(tmp_path, data, args, phrase):
    if data:
        for domain in ("trainA", "trainB"):
            write_image(tmp_path / "data" / domain / "a.png", 40, 40)
    result = train(tmp_path, *args, *(["--data", str(tmp_path / "data")] if data else []))
    assert_refused(result, tmp_path, phrase)


@pytest.mark.parametrize("generator", list(GENERATORS))
def test_the_size_check_matches_what_each_generator_really_takes(generator):
    """For every registered generator: the smallest crop the check accepts trains (a real forward and
    backward), and the next smaller multiple is refused by the check and fails in the real net."""
    multiple = side_multiple(generator)
    with torch.device("meta"):
        smallest = smallest_side(create_generator(generator, ngf=1), 3, multiple)
    config = make_config({"generator": generator, "ngf": 1, "ndf": 1, "discriminator": "pixel",
                          "crop_size": smallest, "load_size": smallest})
    check_nets_fit(config)
    net = create_generator(generator, ngf=1, residual=True, pointwise=True)
    net(torch.rand(1, 3, smallest, smallest)).mean().backward()
    if smallest > multiple:
        with pytest.raises(ConfigError, match=f"crop_size={smallest - multiple} is too small for generator"):
            check_nets_fit(make_config({**config.to_dict(), "crop_size": smallest - multiple, "name": ""}))
        with pytest.raises((RuntimeError, ValueError)):
            net(torch.rand(1, 3, smallest - multiple, smallest - multiple))


@pytest.mark.parametrize("runs_dir", ["/sys/cgan-test-runs", "/proc/self/cgan-test-runs", "read-only"])
def test_a_runs_dir_that_cannot_hold_a_run_folder(tmp_path, runs_dir):
    if runs_dir == "read-only":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        runs_dir = tmp_path / "runs"
        runs_dir.mkdir()
        runs_dir.chmod(0o555)
    elif not Path(runs_dir).parent.is_dir():
        pytest.skip(f"no {Path(runs_dir).parent} here")
    tiny = tmp_path / "tiny.json"
    tiny.write_text(json.dumps(TINY))
    result = CliRunner().invoke(main, ["--config", str(tiny), "--runs-dir", str(runs_dir)])
    assert assert_one_line_error(result).startswith(f"Error: --runs-dir {runs_dir}: cannot create a run folder there")
    assert not os.path.lexists(runs_dir) or not any(Path(runs_dir).iterdir())
