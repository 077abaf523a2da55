"""The metadata contract of an exported cgan generator.

`cgan-export` writes it into the ONNX file's `metadata_props`; `cgan-infer` and any other app
read it back. Besides the standard ONNX image keys, all cgan fields sit under one key, "cgan",
as a JSON object, so an app needs one `json.loads` and nothing of our code:

    meta = json.loads(session.get_modelmeta().custom_metadata_map["cgan"])
    x = (rgb_uint8.astype("float32") / 127.5 - 1).transpose(2, 0, 1)[None]   # meta["preprocess"]
    y = session.run([meta["output_name"]], {meta["input_name"]: x})[0]
    out = ((y[0].transpose(1, 2, 0) + 1) * 127.5).clip(0, 255).round().astype("uint8")  # meta["postprocess"]
"""
from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from importlib import metadata as _pkg_metadata
from typing import Any, Callable, Mapping

METADATA_KEY = "cgan"
FORMAT_VERSION = 1
INPUT_NAME = "image"
OUTPUT_NAME = "translated"
PREPROCESS = ("x = pixels / 127.5 - 1 for 8-bit pixels in the colour order below, "
              "HWC -> CHW, batch dimension first (N, C, H, W), float32; H and W padded to a multiple "
              "of side_multiple (reflect) and the output cropped back")
POSTPROCESS = "pixels = round(clip((y + 1) * 127.5, 0, 255)) as uint8, CHW -> HWC"
# Whole-image instance-norm statistics for tiled inference (docs/tiling.md). In the statistics graph
# (cgan.infer.norm_stats derives it from a plain model; files exported before models were plain carry
# it themselves, with `norm_stats` = n > 0) layer i outputs its per-tile statistics as norm{i}_mean /
# norm{i}_var (N x C x 1 x 1) and takes overrides as norm{i}_mean_in / norm{i}_var_in; these and
# NORM_STATS_WEIGHT are optional inputs: omitted, the model normalizes by each input's own
# statistics; fed with the weight at 1, it normalizes by the fed ones.
NORM_STATS_WEIGHT = "norm_stats_weight"


def norm_stat_names(layer: int) -> dict[str, str]:
    """The tensor names of instance-norm layer `layer` (0 = nearest the input)."""
    return {"mean": f"norm{layer}_mean", "var": f"norm{layer}_var",
            "mean_in": f"norm{layer}_mean_in", "var_in": f"norm{layer}_var_in"}


def cgan_version() -> str:
    """The installed cgan version (or 'unknown' when running from a bare source tree)."""
    try:
        return _pkg_metadata.version("cgan")
    except _pkg_metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class ModelInfo:
    """What an app needs to feed an exported generator and read its output."""

    direction: str  # "G" (X->Y) or "F" (Y->X)
    source_domain: str  # the domain the input comes from, e.g. "horse"
    target_domain: str  # the domain the output belongs to, e.g. "zebra"
    generator: str  # registry name, e.g. "resnet_9blocks"
    ngf: int
    norm: str
    input_channels: int  # 1 (grayscale) or 3 (RGB)
    output_channels: int
    side_multiple: int  # input H and W must be multiples of this
    train_size: int  # the crop size the generator was trained at
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    layout: str = "NCHW"
    color_order: str = "RGB"  # for 3 channels; 1-channel models take luminance
    value_range: tuple[float, float] = (-1.0, 1.0)
    dtype: str = "float32"  # of input and output tensors, whatever the weights' precision
    precision: str = "fp32"  # weights and compute: fp32, fp16 or int8
    preprocess: str = PREPROCESS
    postprocess: str = POSTPROCESS
    cgan_version: str = field(default_factory=cgan_version)
    export_date: str = ""  # ISO 8601, UTC
    checkpoint_sha256: str = ""  # of the checkpoint file the weights came from
    norm_stats: int | None = None  # layers whose statistics the graph itself exposes (older files); None: plain
    format_version: int = FORMAT_VERSION

    def to_metadata_props(self) -> dict[str, str]:
        """All key/value pairs to write into an ONNX model's metadata_props."""
        return {
            "Image.BitmapPixelFormat": "Rgb8" if self.input_channels == 3 else "Gray8",
            "Image.ColorSpaceGamma": "SRGB",
            "Image.NominalPixelRange": "Normalized_1_1",
            METADATA_KEY: json.dumps(asdict(self), sort_keys=True, allow_nan=False),
        }

    @classmethod
    def from_metadata_props(cls, props: Mapping[str, str]) -> "ModelInfo | None":
        """Parse and check the cgan key of a model's metadata; None when the file has no cgan metadata.

        The file is untrusted: every value is checked for type and range (see CHECKS). Raises
        ValueError when the key is present but not strict JSON or any value is out of bounds.
        """
        raw = props.get(METADATA_KEY)
        if raw is None:
            return None
        data = strict_json(raw, f"the '{METADATA_KEY}' metadata")
        if not isinstance(data, dict):
            raise ValueError(f"the '{METADATA_KEY}' metadata is not a JSON object")
        values = {k: v for k, v in data.items() if k in CHECKS}  # newer writers may add keys
        missing = sorted(REQUIRED - set(values))
        if missing:
            raise ValueError(f"the '{METADATA_KEY}' metadata is incomplete (missing {', '.join(missing)})")
        for key, value in values.items():
            values[key] = CHECKS[key](key, value)
        return cls(**values)

    def checked(self) -> "ModelInfo":
        """This info as a reader gets it back from a file: written, then every value checked as
        `from_metadata_props` checks it. Raises ValueError naming the first value a reader refuses;
        cgan-export calls it before it writes a file."""
        try:
            props = self.to_metadata_props()
        except ValueError as e:  # NaN or Inf, which strict JSON cannot hold
            raise ValueError(f"the metadata cannot be written as strict JSON ({e})") from None
        return ModelInfo.from_metadata_props(props)


class NotStrictJSON(ValueError):
    """JSON text holding NaN, Infinity or -Infinity."""


def strict_json(text: Any, what: str) -> Any:
    """json.loads without NaN, Infinity or -Infinity (which Python's json accepts by default)."""
    def refuse(token: str):
        raise NotStrictJSON(f"{what} holds {token}, which strict JSON does not allow")

    if not isinstance(text, str):
        raise ValueError(f"{what} is not text")
    try:
        return json.loads(text, parse_constant=refuse)
    except NotStrictJSON:
        raise
    except (ValueError, RecursionError) as e:  # also integers too long to convert
        raise ValueError(f"{what} is not valid JSON ({str(e)[:80]})") from None


# What each metadata value may be. A value outside these bounds makes the whole file refused.
MAX_TEXT = 1000  # characters in any text value
MAX_SIDE_MULTIPLE = 1024
MAX_TRAIN_SIZE = 16384
MAX_NGF = 4096
MAX_RANGE = 1e6  # |value_range| bound: the model's values for pixels 0 and 255


def _bad(key: str, value: Any, expected: str) -> ValueError:
    shown = repr(value)
    return ValueError(f"metadata '{key}' is {shown[:40]}{'...' if len(shown) > 40 else ''}; expected {expected}")


TEXT = f"printable text of at most {MAX_TEXT} characters"  # what every text value must be


def is_text(value: Any) -> bool:
    """Whether `value` may be a text value of the metadata (cgan-train checks domain names with it)."""
    return isinstance(value, str) and len(value) <= MAX_TEXT and value.isprintable()


def _text(key: str, value: Any) -> str:
    if not is_text(value):
        raise _bad(key, value, TEXT)
    return value


def _one_of(*allowed: str) -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        if value not in allowed or not isinstance(value, str):
            raise _bad(key, value, " or ".join(allowed))
        return value
    return check


def _int_in(lo: int, hi: int, *allowed: int) -> Callable[[str, Any], int]:
    def check(key: str, value: Any) -> int:
        ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
        if not ok or (allowed and value not in allowed):
            raise _bad(key, value, " or ".join(map(str, allowed)) if allowed else f"an integer in {lo}..{hi}")
        return value
    return check


def _optional(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """`check`, letting JSON null (None) through."""
    return lambda key, value: None if value is None else check(key, value)


def _value_range(key: str, value: Any) -> tuple[float, float]:
    numbers = (isinstance(value, list) and len(value) == 2
               and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
    if not numbers or not all(abs(v) <= MAX_RANGE for v in value) or value[0] == value[1]:  # NaN fails <=
        raise _bad(key, value, f"two different finite numbers within +-{MAX_RANGE:g}")
    return float(value[0]), float(value[1])


MAX_NORM_LAYERS = 10_000  # instance-norm layers with overridable statistics; real generators have tens

CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "direction": _one_of("G", "F"),
    "source_domain": _text, "target_domain": _text, "generator": _text, "norm": _text,
    "ngf": _int_in(1, MAX_NGF),
    "input_channels": _int_in(1, 3, 1, 3), "output_channels": _int_in(1, 3, 1, 3),
    "side_multiple": _int_in(1, MAX_SIDE_MULTIPLE),
    "train_size": _int_in(1, MAX_TRAIN_SIZE),
    "input_name": _text, "output_name": _text,
    "layout": _one_of("NCHW"),
    "color_order": _one_of("RGB", "BGR"),
    "value_range": _value_range,
    "dtype": _one_of("float32", "float16"),
    "precision": _one_of("fp32", "fp16", "int8"),
    "preprocess": _text, "postprocess": _text, "cgan_version": _text, "export_date": _text,
    "checkpoint_sha256": _text,
    "format_version": _int_in(1, 1_000_000),
    "norm_stats": _optional(_int_in(0, MAX_NORM_LAYERS)),
}
REQUIRED = {f.name for f in fields(ModelInfo) if f.default is MISSING and f.default_factory is MISSING}
