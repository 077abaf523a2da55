"""The one streaming loop: decode -> model -> encode, overlapped in threads with bounded queues.

A decode thread reads frames and prepares tensors (batched while sizes agree), the calling thread
runs the model, and an encode thread post-processes and writes. Frames flow through and are never
all held in memory. Ctrl-C sets a flag that the calling thread checks between model calls
(stopping.py); every wait between the threads has a timeout, so a stop ends the run within one
model call, one frame read and the writing of what the model has done.
"""
from __future__ import annotations

import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from . import stopping
from .errors import InferError
from .processing import Prepared, side_by_side
from .runtime import ModelRunError
from .sinks import Sink
from .sources import Frame, Source
from .temporal import Motion, MotionTracker, TemporalBlender, TemporalSettings
from .tiling import TiledFrame

QUEUE_BATCHES = 4  # batches waiting between two stages
POLL_S = 0.05  # how often a waiting thread looks again (for a stop, or for the end of the input)
_DONE = object()


@dataclass
class RunReport:
    """What one run did; `summary()` is the final line of cgan-infer."""

    unit: str  # "frames" or "images"
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    wall_s: float = 0.0
    model_s: float = 0.0
    output: Path | None = None
    interrupted: bool = False  # stopped by Ctrl-C or the preview window
    partial: bool = False  # the output video holds only the frames done before the stop

    @property
    def fps(self) -> float:
        return self.done / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self) -> str:
        where = f" -> {self.output}" if self.output else " (nothing written)"
        stop = " [partial: stopped early]" if self.partial else " [stopped]" if self.interrupted else ""
        unit = self.unit[:-1] if self.done == 1 else self.unit
        return (f"done: {self.done} {unit}, {len(self.failed)} failed, wall {self.wall_s:.2f} s, "
                f"model {self.model_s:.2f} s, {self.fps:.1f} {self.unit}/s{where}{stop}")


@dataclass
class _Item:
    frame: Frame
    prepared: Prepared | None = None
    error: str = ""
    motion: Motion | None = None  # with --temporal: how this frame moved from the previous one


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Put, unless `stop` is set while the queue stays full."""
    while not stop.is_set():
        try:
            q.put(item, timeout=POLL_S)
            return True
        except queue.Full:
            pass
    return False


class _Stages:
    """The threads of one run and what they share."""

    def __init__(self, translator, source: Source, sink: Sink, report: RunReport, *, batch: int,
                 compare: bool, preview, bar: tqdm, log: Callable[[str], None],
                 temporal: TemporalSettings | None = None):
        self.translator, self.source, self.sink, self.report = translator, source, sink, report
        self.batch, self.compare, self.preview, self.bar, self.log = batch, compare, preview, bar, log
        # --temporal: optical flow on the decode thread, blending on the encode thread (each owns its state)
        self.tracker = MotionTracker(temporal, log=log) if temporal else None
        self.blender = TemporalBlender(temporal) if temporal else None
        self.to_model: queue.Queue = queue.Queue(QUEUE_BATCHES)
        self.to_encoder: queue.Queue = queue.Queue(QUEUE_BATCHES)
        self.stop = threading.Event()  # no more frames: Ctrl-C, preview closed, or a stage failed
        self.model_done = threading.Event()  # the model hands the encoder nothing more
        self.errors: list[BaseException] = []

    def decode(self) -> None:
        pending: list[_Item] = []

        def flush() -> None:
            if pending:
                _put(self.to_model, list(pending), self.stop)
                pending.clear()

        try:
            for frame in self.source:
                if self.stop.is_set():
                    break
                item = _Item(frame, error=frame.error)
                if not item.error:
                    try:
                        item.prepared = self.translator.prepare(frame.image)
                    except InferError as e:
                        item.error = str(e)
                    except MemoryError:
                        item.error = "not enough memory to prepare it for the model; size=... can shrink it"
                if self.tracker is not None:
                    item.motion = self.tracker(None if item.error else frame.image)
                alone = item.error or isinstance(item.prepared, TiledFrame)  # tiled frames run one by one
                if alone or (pending and pending[0].prepared.tensor.shape != item.prepared.tensor.shape):
                    flush()
                pending.append(item)
                per_call = 1 if alone else min(self.batch, self.translator.frames_per_call(item.prepared.tensor.shape))
                if len(pending) >= per_call:
                    flush()
            flush()
        except BaseException as e:  # handed to the calling thread, which raises it
            self.errors.append(e)
        finally:
            _put(self.to_model, _DONE, self.stop)

    def infer(self, items: list[_Item]) -> np.ndarray | None:
        decoded = [i for i in items if not i.error]
        if not decoded:
            return None
        try:
            if isinstance(decoded[0].prepared, TiledFrame):
                return [self.translator.run_tiled(decoded[0].prepared)]
            return self.translator.infer(np.stack([i.prepared.tensor for i in decoded]))
        except ModelRunError as e:
            for i in decoded:
                i.error = str(e)
            return None

    def _next_for_encoder(self):
        """The next (items, outputs) for the encoder, or None once the model is done and all is written."""
        while True:
            try:
                return self.to_encoder.get(timeout=POLL_S)
            except queue.Empty:
                if self.model_done.is_set() and self.to_encoder.empty():  # in this order: no put after the flag
                    return None

    def encode(self) -> None:
        try:
            while (message := self._next_for_encoder()) is not None:
                items, outputs = message
                translated = iter(outputs if outputs is not None else ())  # one per item without an error
                for item in items:
                    if item.error:
                        self.report.failed.append((item.frame.name, item.error))
                        self.log(f"failed: {item.frame.name}: {item.error}")
                        if self.blender is not None:
                            self.blender.reset()
                    else:
                        self.write(item, next(translated))
                    self.bar.update(1)
        except BaseException as e:
            self.errors.append(e)
            self.stop.set()
        finally:
            if self.preview is not None:
                self.preview.close()  # on the thread that opened the window

    def write(self, item: _Item, y: np.ndarray) -> None:
        result = self.translator.finish(y, item.prepared)
        if self.blender is not None:
            result = self.blender(result, item.motion)
        if self.compare:
            result = side_by_side(item.frame.image, result)
        self.sink.write(item.frame.name, result)
        self.report.done += 1
        if self.preview is not None and not self.preview.show(result):
            self.report.interrupted = True
            self.stop.set()


def run_pipeline(translator, source: Source, sink: Sink, *, batch: int = 1, compare: bool = False,
                 preview=None, progress: bool = True, temporal: TemporalSettings | None = None,
                 log: Callable[[str], None] | None = None) -> RunReport:
    """Translate every frame of `source` into `sink`; Ctrl-C stops cleanly and returns a partial report.

    `compare` writes input and output side by side; `preview` (optional) shows each result and
    returns False to stop. Live sources run unbatched, to keep latency low. `temporal` (videos,
    cameras and streams only) blends each result with the previous one along the input's motion.
    `log` receives the one-line notes of the run (a frame that failed), by default above the progress bar.
    """
    if batch < 1:
        raise InferError(f"batch={batch}: use 1 or more")
    if temporal is not None and not source.is_video:
        raise InferError("temporal=...: only for video, camera and stream sources (images are not a sequence)")
    report = RunReport("frames" if source.is_video else "images")
    bar = tqdm(total=source.total, unit=report.unit[:-1], disable=not progress, file=sys.stderr,
               dynamic_ncols=True, smoothing=0.1 if source.live else 0.3)
    stages = _Stages(translator, source, sink, report, batch=1 if source.live else batch, compare=compare,
                     preview=preview, bar=bar, log=log or (lambda line: tqdm.write(line, file=sys.stderr)),
                     temporal=temporal)
    decoder = threading.Thread(target=stages.decode, name="cgan-decode", daemon=True)
    encoder = threading.Thread(target=stages.encode, name="cgan-encode", daemon=True)
    model_before, start = translator.model_seconds, time.perf_counter()
    with stopping.polled():
        try:
            decoder.start()
            encoder.start()
            while not stages.stop.is_set() and not stopping.requested():
                try:
                    items = stages.to_model.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if items is _DONE:
                    break
                if not _put(stages.to_encoder, (items, stages.infer(items)), stages.stop):
                    break
            report.interrupted = report.interrupted or stopping.requested()
        except KeyboardInterrupt:  # raised by an app's own Ctrl-C handler, which polled() leaves in place
            report.interrupted = True
        finally:
            stages.stop.set()  # the decoder ends after the frame it is reading
            stages.model_done.set()  # the encoder writes what the model has done, then ends
            for thread in (decoder, encoder):
                if thread.ident is not None:
                    thread.join()
            bar.close()
    if stages.errors:
        raise stages.errors[0]
    report.wall_s = time.perf_counter() - start
    report.model_s = translator.model_seconds - model_before
    finished = report.done + len(report.failed)
    report.partial = report.interrupted and source.total is not None and finished < source.total
    report.output = sink.finish(partial=report.partial)
    return report
