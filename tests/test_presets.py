"""--preset: named sets of options, where they sit among the other sources of options, and --help."""
import pytest
from click.testing import CliRunner

from cgan.train.cli import main
from cgan.train.config import PRESETS, RECIPES, TrainConfig, make_config
from helpers import assert_one_line_error


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_makes_a_valid_config_with_its_settings(name):
    config = make_config({}, {"preset": name, "data": "photos"})
    expected = {**RECIPES[PRESETS[name].get("recipe", "cgan")], **PRESETS[name]}
    assert config.preset == name
    assert {k: getattr(config, k) for k in expected} == expected


def test_quick_is_a_small_short_run_and_standard_the_defaults():
    quick = make_config({}, {"preset": "quick", "data": "photos"})
    assert (quick.generator, quick.ngf, quick.ndf, quick.crop_size, quick.max_steps) == (
        "resnet_6blocks", 16, 16, 64, 2000)
    standard = make_config({}, {"preset": "standard", "data": "photos"}).to_dict()
    assert standard == {**TrainConfig(data="photos", domain_x="A", domain_y="B").to_dict(), "preset": "standard"}
    assert make_config({}, {"preset": "official", "data": "photos"}).recipe == "official"


def test_options_given_beside_a_preset_win():
    assert make_config({}, {"preset": "quick", "crop_size": 96, "data": "photos"}).crop_size == 96
    # on the command line a preset beats the config file, in the file it loses to the file's own keys
    assert make_config({"crop_size": 128}, {"preset": "quick", "data": "photos"}).crop_size == 64
    assert make_config({"preset": "quick", "crop_size": 128}, {"data": "photos"}).crop_size == 128
    # the built-in run's own defaults are below any preset named
    assert make_config({}, {"preset": "quick"}).crop_size == 64
    assert make_config({}, {"preset": "official", "recipe": "cgan", "data": "photos"}).recipe == "cgan"


def test_unknown_preset_is_one_clean_error(tmp_path):
    result = CliRunner().invoke(main, ["--preset", "fast", "--runs-dir", str(tmp_path)])
    assert_one_line_error(result, "'fast' is not one of 'quick', 'standard', 'official'")
    with pytest.raises(ValueError, match="preset='fast': choose one of quick, standard, official"):
        make_config({"preset": "fast"}, {})


def test_help_lists_the_presets():
    out = " ".join(CliRunner().invoke(main, ["--help"]).output.split())
    assert "--preset [quick|standard|official]" in out and "minutes on a CPU" in out
