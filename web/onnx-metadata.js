// The metadata_props of an ONNX file, read straight from its bytes (onnxruntime-web does not expose
// them). A model file is untrusted: every length is checked against the bytes left, and a file that is
// not a well-formed ModelProto fails with one ProtobufError instead of reading past its end.
//
// Wire format: each field is a varint key (field number << 3 | wire type), then its value. ModelProto
// field 14 is metadata_props, each a StringStringEntryProto with key = field 1 and value = field 2.

const METADATA_PROPS = 14;
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;
const WIRE = { VARINT: 0, FIXED64: 1, LENGTH: 2, FIXED32: 5 };
const MAX_VARINT_BYTES = 10;

export class ProtobufError extends Error {}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A cursor over a byte range [pos, end) that never reads outside it. */
class Reader {
  constructor(bytes, pos = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
  }

  get done() {
    return this.pos >= this.end;
  }

  /** An unsigned varint as a Number; values beyond 2^53 are refused (no length or key is that large). */
  varint() {
    let value = 0;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.pos >= this.end) throw new ProtobufError(`truncated varint at byte ${this.pos}`);
      const byte = this.bytes[this.pos++];
      value += (byte & 0x7f) * 2 ** (7 * i);
      if (byte < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER) throw new ProtobufError(`varint too large at byte ${this.pos}`);
        return value;
      }
    }
    throw new ProtobufError(`varint longer than ${MAX_VARINT_BYTES} bytes at byte ${this.pos}`);
  }

  /** `n` bytes from here, after checking that they are there. */
  take(n) {
    if (n > this.end - this.pos) {
      throw new ProtobufError(`a field of ${n} bytes at byte ${this.pos} runs past the end (${this.end - this.pos} left)`);
    }
    const start = this.pos;
    this.pos += n;
    return this.bytes.subarray(start, this.pos);
  }

  /** The next field's number, wire type and (for length-delimited fields) its bytes; other values are skipped. */
  field() {
    const key = this.varint();
    const number = Math.floor(key / 8);
    const wire = key % 8;
    if (number === 0) throw new ProtobufError(`field number 0 at byte ${this.pos}`);
    switch (wire) {
      case WIRE.VARINT: this.varint(); return { number, wire };
      case WIRE.FIXED64: this.take(8); return { number, wire };
      case WIRE.FIXED32: this.take(4); return { number, wire };
      case WIRE.LENGTH: return { number, wire, bytes: this.take(this.varint()) };
      default: throw new ProtobufError(`unsupported wire type ${wire} (field ${number}) at byte ${this.pos}`);
    }
  }
}

function text(bytes, what) {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ProtobufError(`${what} is not valid UTF-8`);
  }
}

function entry(bytes) {
  const reader = new Reader(bytes);
  let key = "";
  let value = "";
  while (!reader.done) {
    const field = reader.field();
    if (field.number === ENTRY_KEY && field.bytes) key = text(field.bytes, "a metadata key");
    if (field.number === ENTRY_VALUE && field.bytes) value = text(field.bytes, `metadata value of '${key}'`);
  }
  return [key, value];
}

/**
 * The model's metadata_props as [key, value] pairs in file order (duplicates kept, as the file has them).
 * @param {Uint8Array} bytes the whole .onnx file
 */
export function readMetadataProps(bytes) {
  if (!(bytes instanceof Uint8Array)) throw new TypeError("readMetadataProps takes a Uint8Array");
  const reader = new Reader(bytes);
  const props = [];
  while (!reader.done) {
    const field = reader.field();
    if (field.number === METADATA_PROPS) {
      if (!field.bytes) throw new ProtobufError(`metadata_props with wire type ${field.wire}`);
      props.push(entry(field.bytes));
    }
  }
  return props;
}
