"""Property tests: any JSON value for any config key, given to make_config or through a --config file,
gives a valid TrainConfig or a one-line ConfigError naming the key, never another exception; any JSON
document as a config file or a run's config.json is read or refused in one line; the domain names
training accepts are those inference accepts; a crop the size check accepts trains."""
import json
import math
import re
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cgan.infer.metadata import ModelInfo
from cgan.train.config import FIELDS, ConfigError, TrainConfig, load_config_file, make_config, value_type
from cgan.train.errors import TrainError
from cgan.train.generators import PADDINGS
from cgan.train.layers import NORMS
from cgan.train.loop import check_nets_fit
from cgan.train.networks import DISCRIMINATORS, GENERATORS, side_multiple
from cgan.train.resume import load_resume
from cgan.train.run_dir import RunDir
from cgan.train.trainer import build_nets

KEYS = list(FIELDS)

TRICKY_TEXT = ["", "\0", "\ud800", "64", "false", "nan", "a/b", "..", "x" * 300, "/dev/null", "unet256"]
json_scalars = (st.none() | st.booleans() | st.integers() | st.integers(-10**40, 10**40)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12) | st.sampled_from(TRICKY_TEXT))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


def near_valid(key: str) -> st.SearchStrategy:
    """Values close to what the key takes, so the checks behind the type check are reached too."""
    meta, (kind, _) = FIELDS[key].metadata, value_type(key)
    limit = meta["range"]
    edges = [x for b in (limit.low, limit.high) if b is not None for x in (b, b - 1, b + 1)]
    choices = list(meta["choices"] or [])
    options = [st.just(getattr(TrainConfig(), key))]
    if choices:
        options.append(st.sampled_from(choices))
    if kind is int:
        options += [st.sampled_from([int(x) for x in edges] or [0]), st.integers(-5, 5000)]
    if kind is float:
        options += [st.sampled_from([float(x) for x in edges] or [0.0]), st.floats(-2, 2)]
    return st.one_of(options)


@st.composite
def config_values(draw) -> dict:
    """Some keys near their valid values, and up to three keys with any JSON value at all."""
    near = draw(st.fixed_dictionaries({}, optional={k: near_valid(k) for k in KEYS}))
    wild = draw(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=3))
    return {**near, **wild}


def all_defaults(values) -> bool:
    """Whether `values` holds only config keys at their default values and types: a config that must be accepted."""
    default = TrainConfig()
    return isinstance(values, dict) and all(
        key in FIELDS and type(value) is type(getattr(default, key)) and value == getattr(default, key)
        for key, value in values.items())


DEFAULTS = {key: getattr(TrainConfig(), key) for key in KEYS}


def check_outcome(values: dict) -> None:
    """make_config either accepts `values` (every field then has its declared type) or names a key; it
    accepts the defaults."""
    try:
        config = make_config(values)
    except ConfigError as e:
        message = str(e)
        assert "\n" not in message
        assert any(message.startswith(f"{key}=") for key in KEYS), message
        assert not all_defaults(values), message
        return
    for f in fields(TrainConfig):
        kind, optional = value_type(f.name)
        value = getattr(config, f.name)
        assert (value is None and optional) or type(value) is kind, (f.name, value)
        if kind is float and value is not None:
            assert math.isfinite(value)


@settings(max_examples=100, deadline=None)
@given(config_values())
@example({})
@example(DEFAULTS)
def test_make_config_gives_a_config_or_a_config_error(values):
    check_outcome(values)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config_values())
@example(DEFAULTS)
def test_config_file_gives_a_config_or_a_config_error(values):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.json"
        path.write_text(json.dumps(values))  # NaN and Infinity are written as JSON's common extension
        check_outcome(load_config_file(path))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=8).filter(lambda key: key not in FIELDS), json_values)
def test_an_unknown_key_is_named(key, value):
    with pytest.raises(ConfigError) as error:
        make_config({"ngf": 8, key: value})
    assert f"unknown config key {key!r}" in str(error.value)


# --- any JSON document where a config is read: --config FILE and a run's config.json on --resume ------

LONG_NUMBER = "9" * (sys.get_int_max_str_digits() + 1)  # json.loads refuses to convert it
documents = st.recursive(json_scalars | st.just("@LONG@"), lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=3),
                         max_leaves=8)


def json_text(document) -> str:
    """`document` as JSON text, with every "@LONG@" string written as a number of too many digits."""
    return json.dumps(document).replace('"@LONG@"', LONG_NUMBER)


@settings(max_examples=60, deadline=None)
@given(documents)
@example({})
@example({"ngf": 64, "name": None})
def test_any_json_document_as_a_config_file(document):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.json"
        path.write_text(json_text(document))
        try:
            values = load_config_file(path)
        except ConfigError as e:
            assert str(e).startswith(str(path)) and "\n" not in str(e)
            assert not all_defaults(document), e
            return
        check_outcome(values)


@settings(max_examples=40, deadline=None)
@given(documents)
@example({})
def test_any_json_document_as_the_config_of_a_run_to_resume(document):
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder)
        (run / "config.json").write_text(json_text(document))
        try:
            resumed = load_resume(RunDir(run), {}, {})
        except TrainError as e:
            assert "\n" not in str(e) and len(str(e)) < 2000
            assert not all_defaults(document), e
            return
        assert resumed.state is None and isinstance(resumed.config, TrainConfig)


# --- domain names: what training accepts, exports carry and inference reads ---------------------------

@settings(max_examples=200, deadline=None)
@given(st.text(max_size=8) | st.text(min_size=995, max_size=1005) | st.sampled_from(TRICKY_TEXT)
       | st.text("abcxyz_-0123456789", min_size=1, max_size=20))
@example("horse")
def test_a_domain_name_training_accepts_is_one_inference_accepts(name):
    try:
        make_config({"domain_x": name})
        trained = True
    except ConfigError:
        trained = False
    info = ModelInfo(direction="G", source_domain=name, target_domain="y", generator="resnet_9blocks", ngf=64,
                     norm="instance", input_channels=3, output_channels=3, side_multiple=4, train_size=256)
    try:
        info.checked()
        inferred = True
    except ValueError:
        inferred = False
    assert trained == inferred, repr(name)
    assert trained or not re.fullmatch(r"[a-z0-9_-]{1,20}", name), repr(name)  # plain names are accepted


# --- sizes: a config the size check accepts trains at its crop --------------------------------------

@st.composite
def net_sizes(draw) -> dict:
    generator = draw(st.sampled_from(list(GENERATORS)))
    multiple = side_multiple(generator)
    crop = draw(st.integers(1, 40) | st.integers(1, 2).map(lambda k: k * multiple))
    return {"generator": generator, "crop_size": crop, "load_size": crop, "ngf": 1, "ndf": 1,
            "padding": draw(st.sampled_from(PADDINGS)), "norm": draw(st.sampled_from(NORMS)),
            "discriminator": draw(st.sampled_from(list(DISCRIMINATORS))), "n_layers": draw(st.integers(1, 4)),
            "residual": draw(st.booleans()), "pointwise": True, "colour_judge": draw(st.booleans())}


def trains(config: TrainConfig) -> bool:
    """Whether the nets of `config` take a training step at its crop (G keeping the size)."""
    nets = build_nets(config)
    x = torch.rand(config.batch_size, 3, config.crop_size, config.crop_size)
    try:
        fake = nets["G"](x)
        if fake.shape != x.shape:
            return False
        (nets["F"](fake).mean() + nets["D_Y"](fake).mean()).backward()
    except (RuntimeError, ValueError):  # a pad wider than its input, a norm over one element, ...
        return False
    return True


@settings(max_examples=40, deadline=None)
@given(net_sizes())
def test_the_size_check_accepts_exactly_the_crops_that_train(values):
    config = make_config(values)
    try:
        check_nets_fit(config)
        accepted = True
    except ConfigError as e:
        assert str(e).startswith(f"crop_size={config.crop_size} ") and "\n" not in str(e)
        accepted = False
    assert trains(config) == accepted
