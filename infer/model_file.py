"""Checks on an ONNX file before ONNX Runtime opens it: cgan runs self-contained models only.

An ONNX tensor may keep its values in another file (`external_data`), named by a path inside the
model. A crafted model can point that path at any file the user can read (`../../.ssh/id_rsa`, an
absolute path, a symlink or hard link beside the model), and the file's bytes then become weights
that shape the output. Only recent ONNX Runtime versions check such paths, and no path check can
tell a hard link beside the model from a plain file. cgan-export writes every weight into the one
.onnx file, so cgan refuses any model that refers to external data, whatever ONNX Runtime version
is installed.

The scan reads the protobuf wire format directly (the base install has no `onnx` package). It
visits every place a TensorProto can sit: initializers, sparse initializers, node attributes
(`t`, `tensors`, `sparse_tensor(s)`), subgraphs of control-flow nodes, training graphs and
model-local functions. Field numbers are those of onnx/onnx.proto3 (tests check them against the
`onnx` package's descriptors).
"""
from __future__ import annotations

import mmap
import os
from pathlib import Path

from .errors import InferError
from .wire import LENGTH_DELIMITED, VARINT, Malformed, fields

# Message -> {field number: message type of that (length-delimited) field}; other fields are skipped.
MESSAGES: dict[str, dict[int, str]] = {
    "ModelProto": {7: "GraphProto", 20: "TrainingInfoProto", 25: "FunctionProto"},
    "TrainingInfoProto": {1: "GraphProto", 2: "GraphProto"},
    "GraphProto": {1: "NodeProto", 5: "TensorProto", 15: "SparseTensorProto"},
    "FunctionProto": {7: "NodeProto", 11: "AttributeProto"},
    "NodeProto": {5: "AttributeProto"},
    "AttributeProto": {5: "TensorProto", 6: "GraphProto", 10: "TensorProto", 11: "GraphProto",
                       22: "SparseTensorProto", 23: "SparseTensorProto"},
    "SparseTensorProto": {1: "TensorProto", 2: "TensorProto"},
    "TensorProto": {},
}
TENSOR_EXTERNAL_DATA = 13  # TensorProto.external_data: repeated key/value entries (location, offset, ...)
TENSOR_DATA_LOCATION = 14  # TensorProto.data_location: 1 = EXTERNAL
EXTERNAL = 1
MAX_DEPTH = 64  # nested subgraphs deeper than this are not a generator


def _uses_external_data(data, pos: int, end: int, message: str, depth: int) -> bool:
    """Whether the `message` in data[pos:end], or anything inside it, refers to external data."""
    if depth > MAX_DEPTH:
        raise Malformed("messages nested too deep")
    nested = MESSAGES[message]
    for field in fields(data, pos, end):
        if message == "TensorProto" and (
                (field.number == TENSOR_DATA_LOCATION and field.wire == VARINT and field.value == EXTERNAL)
                or (field.number == TENSOR_EXTERNAL_DATA and field.wire == LENGTH_DELIMITED)):
            return True
        if (field.wire == LENGTH_DELIMITED and field.number in nested
                and _uses_external_data(data, field.payload, field.end, nested[field.number], depth + 1)):
            return True
    return False


def refers_to_external_data(data) -> bool:
    """Whether a serialized ModelProto (bytes-like) keeps any tensor in external files.

    Raises ValueError when the bytes are not a well-formed protobuf message.
    """
    return _uses_external_data(data, 0, len(data), "ModelProto", 0)


def _check_self_contained(path: Path, data) -> None:
    try:
        external = refers_to_external_data(data)
    except ValueError as e:
        raise InferError(f"{path}: not an ONNX model (its protobuf is malformed: {e})") from None
    if external:
        raise InferError(f"{path}: the model keeps weights in external data files; cgan runs self-contained "
                         "models only (save it with the weights inside, as cgan-export does)")


def check_model_file(path: Path) -> None:
    """Refuse, in one line, a model file that keeps weights outside itself or is not protobuf at all."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                raise InferError(f"{path}: the file is empty, not an ONNX model")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                _check_self_contained(path, data)
    except OSError as e:
        raise InferError(f"{path}: cannot read the model ({e.strerror or e})") from None


def read_model_file(path: Path) -> bytes:
    """The bytes of a model file, refused as check_model_file refuses it (for a graph derived in memory)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InferError(f"{path}: cannot read the model ({e.strerror or e})") from None
    if not data:
        raise InferError(f"{path}: the file is empty, not an ONNX model")
    _check_self_contained(path, data)
    return data
