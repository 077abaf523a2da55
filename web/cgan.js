// The page: open an exported .onnx (picker or drop), show what it is from its cgan metadata, and
// translate pictures and the webcam with onnxruntime-web: WebGPU where the browser has it, WASM otherwise.
//
// Automation (tests, benchmarks, screenshots): index.html?model=URL&image=URL opens both; &runs=N
// translates the picture N times; &webcam=N translates N webcam frames instead of a picture;
// &backend=wasm skips WebGPU; &threads=N sets the WASM threads; &test=1 writes the outcome as JSON
// into #result.
import { ProtobufError, readMetadataProps } from "./onnx-metadata.js";
import { modelSpec, toPixels, toTensor } from "./contract.js";

const ORT_DIST = new URL("node_modules/onnxruntime-web/dist/", import.meta.url).href;
const BACKEND_NAMES = { webgpu: "WebGPU", wasm: "WASM" };
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const canvas2d = (canvas) => canvas.getContext("2d", { willReadFrequently: true });

let ort = null; // the onnxruntime-web module
let runtime = null; // [backend, why not WebGPU], chosen once
let model = null; // { session, spec, backend, why, name }
let camera = null; // { stream, running, loop }
let queue = Promise.resolve(); // model loads and translations run one at a time, in order

const ms = (t) => `${t.toFixed(t < 100 ? 1 : 0)} ms`;
const nextPaint = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));

/** A new element holding `text` as text (never as HTML: metadata comes from an untrusted file). */
function element(tag, text) {
  const node = document.createElement(tag);
  node.textContent = text;
  return node;
}

function status(message, isError = false) {
  const line = $("status");
  line.textContent = message;
  line.classList.toggle("error", isError);
}

function firstLine(error) {
  const message = String(error?.message ?? error).split("\n")[0];
  return message.length > 300 ? `${message.slice(0, 300)}...` : message;
}

/** Runs `task` after everything queued before it; a failure becomes the status line and rethrows for the caller. */
function serial(task) {
  const run = queue.then(task);
  queue = run.catch((error) => status(firstLine(error), true));
  return run;
}

/** Loads onnxruntime-web: its WebGPU build (which has WASM too) where WebGPU will run, else the lighter WASM one. */
async function loadRuntime(backend) {
  const build = backend === "webgpu" ? "ort.webgpu.min.mjs" : "ort.wasm.min.mjs";
  try {
    ort = await import(`${ORT_DIST}${build}`);
  } catch {
    throw new Error("onnxruntime-web is missing: run `npm ci` in web/ (`make web` does it and serves this page)");
  }
  ort.env.wasm.wasmPaths = ORT_DIST; // an absolute URL: a relative one resolves against the wrong base
  const threads = Number(params.get("threads"));
  if (threads > 0) ort.env.wasm.numThreads = threads;
}

/** WebGPU where the browser has an adapter, WASM otherwise: [backend, why not WebGPU]. */
async function chooseBackend() {
  if (params.get("backend") === "wasm") return ["wasm", "asked for with ?backend=wasm"];
  if (!navigator.gpu) return ["wasm", "this browser has no WebGPU"];
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  return adapter ? ["webgpu", ""] : ["wasm", "WebGPU has no adapter here"];
}

/** A session on `backend`; when WebGPU fails, one on WASM and why. */
async function createSession(bytes, backend, why) {
  const create = (ep) => ort.InferenceSession.create(bytes, { executionProviders: [ep] });
  if (backend === "wasm") return { session: await create("wasm"), backend, why };
  try {
    return { session: await create("webgpu"), backend, why };
  } catch (error) {
    return { session: await create("wasm"), backend: "wasm", why: `WebGPU failed: ${firstLine(error)}` };
  }
}

function runsOn() {
  const n = ort.env.wasm.numThreads;
  const threads = model.backend === "wasm" ? `, ${n} thread${n === 1 ? "" : "s"}` : "";
  return `${BACKEND_NAMES[model.backend]}${threads}${model.why ? ` (${model.why})` : ""}`;
}

/** What the model is, in a few lines (from its metadata), and every metadata key in #metadata. */
function showModel() {
  const { spec, name } = model;
  const info = spec.info;
  $("model-title").textContent = info
    ? `${name}: ${info.direction}, ${info.source_domain} → ${info.target_domain}`
    : `${name}: ${spec.note}`;
  const channels = (n) => (n === 1 ? "luminance" : spec.colorOrder);
  const [lo, hi] = spec.valueRange;
  const summary = [
    info && ["Generator", `${info.generator}, ngf ${info.ngf}, ${info.norm} norm, ${info.precision ?? "fp32"}`],
    info && ["Trained at", `${info.train_size} x ${info.train_size}`],
    ["Pictures", `${channels(spec.inputChannels)} → ${channels(spec.outputChannels)}, pixel 0..255 as ${lo}..${hi}`],
    ["Sizes", spec.fixedSize ? `resized to ${spec.fixedSize[1]} x ${spec.fixedSize[0]} and back`
      : `padded to a multiple of ${spec.sideMultiple} (reflect), cropped back`],
    ["Tensors", `${spec.inputName} → ${spec.outputName}`],
    info?.export_date && ["Exported", `${info.export_date}, cgan ${info.cgan_version ?? "?"}`],
  ].filter(Boolean);
  $("model-summary").replaceChildren(...summary.flatMap(([term, text]) => [element("dt", term), element("dd", text)]));
  $("model-info").tBodies[0].replaceChildren(...Object.entries(info ?? {}).map(([key, value]) => {
    const row = document.createElement("tr");
    row.append(element("th", key), element("td", typeof value === "string" ? value : JSON.stringify(value)));
    return row;
  }));
  $("model").hidden = false;
  $("metadata").hidden = !info;
}

async function openModel(bytes, name) {
  await stopCamera();
  await model?.session.release();
  model = null;
  for (const id of ["picture-file", "camera-start"]) $(id).disabled = true;
  status(`Reading ${name} (${(bytes.length / 1e6).toFixed(1)} MB)…`);
  let props;
  try {
    props = readMetadataProps(bytes);
  } catch (error) {
    if (error instanceof ProtobufError) throw new Error(`${name} is not an ONNX model (${error.message})`);
    throw error;
  }
  status(`Creating an ONNX Runtime session for ${name}…`);
  await nextPaint();
  const { session, backend, why } = await createSession(bytes, ...runtime);
  let spec;
  try {
    spec = modelSpec(props, session.inputMetadata, session.outputMetadata);
  } catch (error) {
    await session.release();
    throw new Error(`${name}: ${error.message}`);
  }
  model = { session, spec, backend, why, name };
  showModel();
  for (const id of ["picture-file", "camera-start"]) $(id).disabled = false;
  status(`${name} runs on ${runsOn()}.${spec.note ? ` Warning: ${spec.note}.` : ""} Open a picture or start the webcam.`);
}

function fit(canvas, width, height) {
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
}

/** Picture pixels at the size the model runs at: the picture's own, or the graph's fixed size. */
function modelPixels(source, width, height) {
  const [runH, runW] = model.spec.fixedSize ?? [height, width];
  const input = $("input");
  fit(input, width, height);
  canvas2d(input).drawImage(source, 0, 0, width, height);
  if (runW === width && runH === height) return { pixels: canvas2d(input).getImageData(0, 0, width, height).data, runW, runH };
  const work = new OffscreenCanvas(runW, runH);
  canvas2d(work).drawImage(source, 0, 0, runW, runH);
  return { pixels: canvas2d(work).getImageData(0, 0, runW, runH).data, runW, runH };
}

function drawOutput(rgba, runW, runH, width, height) {
  const output = $("output");
  fit(output, width, height);
  const image = new ImageData(rgba, runW, runH);
  if (runW === width && runH === height) {
    canvas2d(output).putImageData(image, 0, 0);
    return;
  }
  const work = new OffscreenCanvas(runW, runH);
  canvas2d(work).putImageData(image, 0, 0);
  canvas2d(output).drawImage(work, 0, 0, width, height);
}

/** One picture or video frame (width x height) through the model; draws input and output, returns the times. */
async function translate(source, width, height) {
  const { session, spec } = model;
  const start = performance.now();
  const { pixels, runW, runH } = modelPixels(source, width, height);
  const { data, dims } = toTensor(pixels, runW, runH, spec);
  const prepared = performance.now();
  const results = await session.run({ [spec.inputName]: new ort.Tensor("float32", data, dims) }, [spec.outputName]);
  const ran = performance.now();
  const output = results[spec.outputName];
  drawOutput(toPixels(await output.getData(), output.dims, runW, runH, spec), runW, runH, width, height);
  output.dispose();
  const end = performance.now();
  return { prepare: prepared - start, run: ran - prepared, finish: end - ran, total: end - start };
}

async function decode(blob, name) {
  try {
    return await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch {
    throw new Error(`${name} is not a picture this browser can decode`);
  }
}

/** Translates a picture `runs` times (the first result is what shows); returns the picture's size and times. */
async function translatePicture(blob, name, runs = 1) {
  if (!model) throw new Error("Open a model (.onnx) first, then the picture");
  await stopCamera();
  const bitmap = await decode(blob, name);
  const { width, height } = bitmap;
  const times = [];
  try {
    for (let i = 0; i < runs; i++) {
      status(`Translating ${name} (${width}x${height}) on ${runsOn()}${runs > 1 ? `: run ${i + 1} of ${runs}` : ""}…`);
      await nextPaint();
      times.push(await translate(bitmap, width, height));
    }
  } finally {
    bitmap.close();
  }
  const last = times[times.length - 1];
  status(`${name}: ${width}x${height} in ${ms(last.total)} (model ${ms(last.run)}) on ${runsOn()}.`);
  const png = await new Promise((resolve) => $("output").toBlob(resolve));
  URL.revokeObjectURL($("save").href);
  Object.assign($("save"), { href: URL.createObjectURL(png), hidden: false });
  return { width, height, times };
}

/** Translates webcam frames until stopped (or `limit` frames); returns the frame size and times. */
async function cameraLoop(current, video, limit) {
  const times = [];
  const began = performance.now();
  while (current.running && times.length < limit) {
    const t = await translate(video, video.videoWidth, video.videoHeight);
    times.push(t);
    const fps = (1000 * times.length) / (performance.now() - began);
    status(`Webcam ${video.videoWidth}x${video.videoHeight}: ${ms(t.total)} per frame (model ${ms(t.run)}), ` +
      `${fps.toFixed(1)} frames/s on ${runsOn()}.`);
    await nextPaint();
  }
  return { width: video.videoWidth, height: video.videoHeight, times };
}

/** Opens the webcam and runs its frames through the model until Stop (or `limit` frames). */
async function startCamera(limit = Infinity) {
  if (!model || camera) return null;
  const video = $("camera");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (error) {
    throw new Error(`The webcam could not be opened: ${firstLine(error)}`);
  }
  video.srcObject = stream;
  await video.play();
  const current = { stream, running: true };
  camera = current;
  $("camera-start").disabled = true;
  $("camera-stop").disabled = false;
  current.loop = cameraLoop(current, video, limit).finally(() => {
    stream.getTracks().forEach((track) => track.stop());
    video.srcObject = null;
    if (camera === current) { // the loop ended by itself (Stop clears `camera` first): the webcam can start again
      camera = null;
      $("camera-stop").disabled = true;
      $("camera-start").disabled = !model;
    }
  });
  return current.loop;
}

/** Stops the webcam loop and waits for its frame in flight. */
async function stopCamera() {
  const current = camera;
  if (!current) return;
  camera = null;
  current.running = false;
  $("camera-stop").disabled = true;
  $("camera-start").disabled = !model;
  await current.loop?.catch(() => {});
  status(`Webcam stopped; ${model ? `${model.name} runs on ${runsOn()}.` : ""}`);
}

async function fetchBytes(url, what) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${what} ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

function base64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

/** A canvas's pixels as RGB bytes in base64. */
function canvasRgb(canvas) {
  const rgba = canvas2d(canvas).getImageData(0, 0, canvas.width, canvas.height).data;
  return base64(rgba.filter((_, i) => i % 4 !== 3));
}

/** What ?test=1 reports: what runs, the model's spec, and the last input and output pictures as RGB bytes. */
function testReport(picture) {
  if (!picture) return { ok: false, error: "?test=1 needs ?model=URL and &image=URL or &webcam=N" };
  const { spec } = model;
  return {
    ok: true, backend: model.backend, why: model.why, threads: ort.env.wasm.numThreads ?? null,
    crossOriginIsolated, inputName: spec.inputName, outputName: spec.outputName, sideMultiple: spec.sideMultiple,
    info: spec.info, note: spec.note, width: picture.width, height: picture.height, times: picture.times,
    input: canvasRgb($("input")), rgb: canvasRgb($("output")), webcamReleased: camera === null && !$("camera").srcObject,
  };
}

async function fromQuery() {
  const modelUrl = params.get("model");
  if (!modelUrl) return null;
  const name = modelUrl.split("/").pop();
  await openModel(await fetchBytes(modelUrl, "model"), name);
  if (params.has("webcam")) return startCamera(Math.max(1, Number(params.get("webcam")) || 1));
  const imageUrl = params.get("image");
  if (!imageUrl) return null;
  const runs = Math.max(1, Math.min(100, Number(params.get("runs")) || 1));
  const blob = new Blob([await fetchBytes(imageUrl, "picture")]);
  return translatePicture(blob, imageUrl.split("/").pop(), runs);
}

function wire() {
  // A new model or picture stops the webcam at once: its loop holds the queue until it stops.
  const pick = (input, open) => input.addEventListener("change", () => {
    const [file] = input.files;
    if (file) {
      stopCamera();
      serial(() => open(file)).catch(() => {});
    }
    input.value = "";
  });
  pick($("model-file"), async (file) => openModel(new Uint8Array(await file.arrayBuffer()), file.name));
  pick($("picture-file"), (file) => translatePicture(file, file.name));
  $("camera-start").addEventListener("click", () => serial(() => startCamera()).catch(() => {}));
  $("camera-stop").addEventListener("click", () => stopCamera());

  const drop = $("drop");
  document.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  document.addEventListener("dragleave", () => drop.classList.remove("over"));
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const files = [...event.dataTransfer.files];
    stopCamera();
    const onnx = files.find((file) => file.name.toLowerCase().endsWith(".onnx"));
    if (onnx) serial(async () => openModel(new Uint8Array(await onnx.arrayBuffer()), onnx.name)).catch(() => {});
    for (const file of files.filter((f) => f !== onnx)) serial(() => translatePicture(file, file.name)).catch(() => {});
  });
}

async function main() {
  wire();
  runtime = await chooseBackend();
  await loadRuntime(runtime[0]);
  $("model-file").disabled = false;
  status("Open an exported model (.onnx): the file picker above, or drop it on this page.");
  return fromQuery();
}

$("model-file").disabled = true;
const outcome = serial(main);
if (params.has("test")) {
  outcome.then(
    (picture) => testReport(picture),
    (error) => ({ ok: false, error: firstLine(error) }),
  ).then((report) => { $("result").textContent = JSON.stringify(report); });
}
