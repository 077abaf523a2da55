// The cgan ONNX contract in JavaScript (README, "The ONNX contract"): what a model takes, read from its
// metadata, and 8-bit RGBA pixels <-> the model's float NCHW tensors (reflect padding up to the side
// multiple, value range, channel order; cropped back after). The same steps as cgan.infer.processing;
// no DOM and no onnxruntime here, so Node can run it too.

export const METADATA_KEY = "cgan";

export class ContractError extends Error {}

// What cgan-infer assumes for an image-to-image file without cgan metadata.
const ASSUMED = { colorOrder: "RGB", valueRange: [-1, 1], sideMultiple: 4 };

const MAX_TEXT = 1000; // characters in any text value (as infer/metadata.py)
const MAX_SIDE_MULTIPLE = 1024;
const MAX_RANGE = 1e6;

function bad(key, value, expected) {
  const shown = JSON.stringify(value) ?? String(value);
  return new ContractError(`metadata '${key}' is ${shown.slice(0, 40)}${shown.length > 40 ? "..." : ""}; expected ${expected}`);
}

const isInt = (v) => Number.isInteger(v);
// Not printable as Python's str.isprintable() has it: controls, format, unassigned, separators but the space.
const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}]|(?! )\p{Zs}/u;
const text = (key, v) => {
  if (typeof v !== "string" || [...v].length > MAX_TEXT || UNPRINTABLE.test(v)) {
    throw bad(key, v, `printable text of at most ${MAX_TEXT} characters`);
  }
};
const oneOf = (...allowed) => (key, v) => {
  if (!allowed.includes(v)) throw bad(key, v, allowed.join(" or "));
};
const intIn = (lo, hi, ...allowed) => (key, v) => {
  if (!isInt(v) || v < lo || v > hi || (allowed.length && !allowed.includes(v))) {
    throw bad(key, v, allowed.length ? allowed.join(" or ") : `an integer in ${lo}..${hi}`);
  }
};
const valueRange = (key, v) => {
  const ok = Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === "number" && Math.abs(x) <= MAX_RANGE);
  if (!ok || v[0] === v[1]) throw bad(key, v, `two different finite numbers within +-${MAX_RANGE}`);
};

// The keys this page reads or shows, each with its check (the bounds of infer/metadata.py's CHECKS);
// other keys, which newer writers may add, are shown as they are.
const CHECKS = {
  direction: oneOf("G", "F"),
  source_domain: text, target_domain: text, generator: text, norm: text,
  ngf: intIn(1, 4096),
  input_channels: intIn(1, 3, 1, 3), output_channels: intIn(1, 3, 1, 3),
  side_multiple: intIn(1, MAX_SIDE_MULTIPLE),
  train_size: intIn(1, 16384),
  input_name: text, output_name: text,
  layout: oneOf("NCHW"),
  color_order: oneOf("RGB", "BGR"),
  value_range: valueRange,
  dtype: oneOf("float32"), // float16 files are valid cgan files, but this page feeds float32 only
  precision: oneOf("fp32", "fp16", "int8"),
};
const REQUIRED = ["direction", "source_domain", "target_domain", "generator", "ngf", "norm",
  "input_channels", "output_channels", "side_multiple", "train_size"];

/** The checked cgan metadata object from metadata_props pairs; null when the file has none. */
export function cganMetadata(props) {
  const raw = props.filter(([key]) => key === METADATA_KEY);
  if (raw.length === 0) return null;
  if (raw.length > 1) throw new ContractError(`the '${METADATA_KEY}' metadata key appears ${raw.length} times`);
  let data;
  try {
    data = JSON.parse(raw[0][1]);
  } catch (e) {
    throw new ContractError(`the '${METADATA_KEY}' metadata is not valid JSON (${e.message.slice(0, 80)})`);
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new ContractError(`the '${METADATA_KEY}' metadata is not a JSON object`);
  }
  const missing = REQUIRED.filter((key) => !(key in data));
  if (missing.length) throw new ContractError(`the '${METADATA_KEY}' metadata is incomplete (missing ${missing.join(", ")})`);
  for (const [key, check] of Object.entries(CHECKS)) {
    if (key in data) check(key, data[key]);
  }
  return data;
}

function tensorInfo(values, kind) {
  const tensors = values.filter((v) => v.isTensor !== false);
  if (tensors.length === 0) throw new ContractError(`the model has no tensor ${kind}`);
  return tensors;
}

function channelsOf(value) {
  const shape = value.shape ?? [];
  return shape.length === 4 && isInt(shape[1]) ? shape[1] : null;
}

function fixedSizeOf(value) {
  const shape = value.shape ?? [];
  return shape.length === 4 && isInt(shape[2]) && isInt(shape[3]) ? [shape[2], shape[3]] : null;
}

/**
 * How to feed a model: tensor names, channels, colour order, value range, side multiple, fixed size.
 * `inputs`/`outputs`: onnxruntime-web's session.inputMetadata / outputMetadata ({name, isTensor, type, shape}).
 * The names come from the cgan metadata, else the graph's first input and output.
 */
export function modelSpec(props, inputs, outputs) {
  const info = cganMetadata(props);
  const input = tensorInfo(inputs, "inputs")[0];
  const output = tensorInfo(outputs, "outputs")[0];
  const inputName = info?.input_name ?? input.name;
  const outputName = info?.output_name ?? output.name;
  const fed = inputs.find((v) => v.name === inputName);
  if (!fed || !outputs.some((v) => v.name === outputName)) {
    throw new ContractError(`its cgan metadata names tensors '${inputName}'/'${outputName}' that the graph does not have`);
  }
  if (fed.type !== undefined && fed.type !== "float32") {
    throw new ContractError(`input '${inputName}' is ${fed.type}; this page feeds float32 N x C x H x W`);
  }
  const graphChannels = channelsOf(fed);
  const fixedSize = fixedSizeOf(fed);
  if (info) {
    if (graphChannels !== null && graphChannels !== info.input_channels) {
      throw new ContractError(`its metadata says ${info.input_channels} input channels, its graph ${graphChannels}`);
    }
    return {
      inputName, outputName, info, fixedSize, note: "",
      inputChannels: info.input_channels, outputChannels: info.output_channels,
      colorOrder: info.color_order ?? ASSUMED.colorOrder,
      valueRange: info.value_range ?? ASSUMED.valueRange,
      sideMultiple: info.side_multiple,
    };
  }
  if (graphChannels !== 1 && graphChannels !== 3) {
    throw new ContractError("it has no cgan metadata and its input does not say it takes 1 or 3 channels");
  }
  const outChannels = [1, 3].includes(channelsOf(output)) ? channelsOf(output) : graphChannels;
  const sideMultiple = fixedSize ? 1 : ASSUMED.sideMultiple;
  return {
    inputName, outputName, info: null, fixedSize,
    inputChannels: graphChannels, outputChannels: outChannels,
    colorOrder: ASSUMED.colorOrder, valueRange: ASSUMED.valueRange, sideMultiple,
    note: `no cgan metadata: assuming ${graphChannels === 3 ? "RGB" : "grayscale"} in [-1, 1], ` +
      (fixedSize ? `pictures resized to ${fixedSize[1]}x${fixedSize[0]}` : `padded to a multiple of ${sideMultiple}`),
  };
}

/** Rows and columns to add (bottom, right) so both sides become multiples of `multiple`. */
export function padding(height, width, multiple) {
  const padH = (multiple - (height % multiple)) % multiple;
  const padW = (multiple - (width % multiple)) % multiple;
  if (padH >= height || padW >= width) {
    throw new ContractError(`${width}x${height} is too small for this model: reflect padding up to a multiple of ` +
      `${multiple} can add at most side-1 pixels`);
  }
  return [padH, padW];
}

// Mirror without repeating the edge (OpenCV's BORDER_REFLECT_101, numpy's "reflect"); i < 2n - 1.
const reflect = (i, n) => (i < n ? i : 2 * (n - 1) - i);

// OpenCV's 8-bit RGB -> luminance, in its fixed-point form (0.299 R + 0.587 G + 0.114 B, 15 bits).
const luminance = (r, g, b) => (r * 9798 + g * 19235 + b * 3735 + 16384) >> 15;

/**
 * RGBA pixels (ImageData.data, width x height) -> {data: Float32Array, dims: [1, C, H, W]}, padded.
 */
export function toTensor(rgba, width, height, spec) {
  const [padH, padW] = padding(height, width, spec.sideMultiple);
  const H = height + padH;
  const W = width + padW;
  const C = spec.inputChannels;
  const [lo, hi] = spec.valueRange;
  const scale = (hi - lo) / 255;
  const order = spec.colorOrder === "BGR" ? [2, 1, 0] : [0, 1, 2];
  const data = new Float32Array(C * H * W);
  const plane = H * W;
  for (let y = 0; y < H; y++) {
    const row = reflect(y, height) * width;
    for (let x = 0; x < W; x++) {
      const p = (row + reflect(x, width)) * 4;
      const at = y * W + x;
      if (C === 1) {
        data[at] = luminance(rgba[p], rgba[p + 1], rgba[p + 2]) * scale + lo;
      } else {
        for (let c = 0; c < 3; c++) data[c * plane + at] = rgba[p + order[c]] * scale + lo;
      }
    }
  }
  return { data, dims: [1, C, H, W] };
}

/**
 * The model's output (Float32Array of dims [1, C, H, W]) -> RGBA pixels of width x height (the padding cropped
 * off). Storing into a Uint8ClampedArray clips to 0..255 and rounds half to even, as numpy's round does.
 */
export function toPixels(data, dims, width, height, spec) {
  const [, C, H, W] = dims;
  if (dims.length !== 4 || C !== spec.outputChannels || H < height || W < width) {
    throw new ContractError(`the model gave an output of shape ${JSON.stringify(dims)} for a ${width}x${height} picture`);
  }
  const [lo, hi] = spec.valueRange;
  const scale = 255 / (hi - lo);
  const order = spec.colorOrder === "BGR" ? [2, 1, 0] : [0, 1, 2];
  const rgba = new Uint8ClampedArray(width * height * 4);
  const plane = H * W;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = y * W + x;
      const p = (y * width + x) * 4;
      for (let c = 0; c < 3; c++) {
        const channel = C === 1 ? 0 : order[c];
        rgba[p + c] = (data[channel * plane + at] - lo) * scale;
      }
      rgba[p + 3] = 255;
    }
  }
  return rgba;
}
