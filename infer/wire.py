"""The protobuf wire format, read and written without the `onnx` package (the base install has none).

ONNX files are protobuf messages. `fields` walks one message's fields without decoding them, so a
caller copies the fields it leaves alone byte for byte; the encoders write the few it adds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5
MAX_VARINT_SHIFT = 63


class Malformed(ValueError):
    """Bytes that are not a well-formed protobuf message."""


def read_varint(data, pos: int, end: int) -> tuple[int, int]:
    """The varint at data[pos:end] and the position after it."""
    value = shift = 0
    while True:
        if pos >= end or shift > MAX_VARINT_SHIFT:
            raise Malformed("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


@dataclass(frozen=True)
class Field:
    """One field of a message: data[start:end] is the whole field, data[payload:end] its value's bytes."""

    number: int
    wire: int
    start: int
    payload: int
    end: int
    value: int  # a varint's value; for other wire types the payload's length

    def bytes(self, data) -> bytes:
        return bytes(data[self.payload:self.end])

    def text(self, data) -> str:
        return bytes(data[self.payload:self.end]).decode("utf-8", "replace")


_FIXED_SIZES = {FIXED64: 8, FIXED32: 4}


def fields(data, start: int, end: int) -> Iterator[Field]:
    """The fields of the message in data[start:end], in order. Raises Malformed."""
    pos = start
    while pos < end:
        key, payload = read_varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise Malformed("field number 0")
        if wire == VARINT:
            value, after = read_varint(data, payload, end)
        elif wire in _FIXED_SIZES:
            value, after = _FIXED_SIZES[wire], payload + _FIXED_SIZES[wire]
        elif wire == LENGTH_DELIMITED:
            value, payload = read_varint(data, payload, end)
            after = payload + value
        else:  # groups (3, 4) are not used by ONNX; anything else is not protobuf
            raise Malformed(f"wire type {wire}")
        if after > end:
            raise Malformed("a field runs past the end of its message")
        yield Field(number, wire, pos, payload, after, value)
        pos = after


def varint(value: int) -> bytes:
    """A non-negative integer as a varint (int64 fields take negatives as their two's complement)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def varint_field(number: int, value: int) -> bytes:
    return varint(number << 3 | VARINT) + varint(value)


def message_field(number: int, payload: bytes) -> bytes:
    """A length-delimited field: a nested message, a string or bytes."""
    return varint(number << 3 | LENGTH_DELIMITED) + varint(len(payload)) + payload


def text_field(number: int, text: str) -> bytes:
    return message_field(number, text.encode("utf-8"))
