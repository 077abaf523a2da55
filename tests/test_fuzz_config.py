"""Property tests: any JSON value for any config key, given to make_config or through a --config file,
gives a valid TrainConfig or a one-line ConfigError naming the key, never another exception."""
import json
import math
import tempfile
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cgan.train.config import FIELDS, ConfigError, TrainConfig, load_config_file, make_config, value_type

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


def check_outcome(values: dict) -> None:
    """make_config either accepts `values` (every field then has its declared type) or names a key."""
    try:
        config = make_config(values)
    except ConfigError as e:
        message = str(e)
        assert "\n" not in message
        assert any(message.startswith(f"{key}=") for key in KEYS), message
        return
    for f in fields(TrainConfig):
        kind, optional = value_type(f.name)
        value = getattr(config, f.name)
        assert (value is None and optional) or type(value) is kind, (f.name, value)
        if kind is float and value is not None:
            assert math.isfinite(value)


@settings(max_examples=100, deadline=None)
@given(config_values())
def test_make_config_gives_a_config_or_a_config_error(values):
    check_outcome(values)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config_values())
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
