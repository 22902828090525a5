"""Face embeddings in a child process, so dlib never holds this process's GIL.

dlib computes a descriptor (about 0.1 s per face on a laptop core) without releasing the
GIL. In a capture session that would starve the indicator watchdog (which faults after
100 ms without a read-back, R5) and, in ``protect``, the decode and encode threads.
``ProcessEmbedder`` has ``FaceEmbedder``'s ``embed`` but runs the model in a spawned child:
only a crop around each face crosses the pipe, the descriptors come back and are kept in
memory only. If the child dies or does not answer within ``timeout_s``, ``embed`` raises
``EmbedderError`` (the frame's faces are then all redacted) and the next call starts a new
child.

``send`` and ``receive`` split a request in two, so the caller can go on with its frames while
the child works (``bystander.recognition.background``): one request at a time.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np
import numpy.typing as npt

from bystander.recognition.embedder import (
    CENTERFACE_WIDTH_SCALE,
    EMBEDDING_SIZE,
    EmbedderError,
    FaceEmbedder,
)

#: Context kept around a face box in the crop sent to the child (share of the box side).
CROP_MARGIN = 0.6
#: Start-up (importing dlib and loading the models) may take this long.
START_TIMEOUT_S = 60.0


def crops_for(
    frame: npt.NDArray[np.uint8], boxes: npt.NDArray[np.float64]
) -> list[tuple[npt.NDArray[np.uint8], npt.NDArray[np.float64]]]:
    """Each box's neighbourhood and the box in the crop's coordinates."""
    height, width = frame.shape[:2]
    out = []
    for x1, y1, x2, y2 in boxes[:, :4].tolist():
        mx, my = (x2 - x1) * CROP_MARGIN, (y2 - y1) * CROP_MARGIN
        cx1, cy1 = max(0, int(x1 - mx)), max(0, int(y1 - my))
        cx2, cy2 = min(width, int(np.ceil(x2 + mx))), min(height, int(np.ceil(y2 + my)))
        if cx2 <= cx1 or cy2 <= cy1:
            raise EmbedderError(f"face box {[x1, y1, x2, y2]} lies outside the frame")
        crop = np.ascontiguousarray(frame[cy1:cy2, cx1:cx2])
        out.append((crop, np.array([[x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1]])))
    return out


def _serve(conn: Connection, width_scale: float, jitter: int) -> None:
    """The child: load the model once, then answer (crop, box) lists until told to stop."""
    try:
        embedder = FaceEmbedder(width_scale=width_scale, jitter=jitter)
        conn.send(("ready", None))
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        try:
            samples = [embedder.embed_samples(crop, box) for crop, box in request]
            vectors = np.concatenate([v for v, _ in samples]) if samples else None
            quality = np.concatenate([q for _, q in samples]) if samples else None
            conn.send(("ok", (vectors, quality)))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class ProcessEmbedder:
    """``FaceEmbedder.embed`` served by a child process (see the module docstring)."""

    def __init__(
        self,
        width_scale: float = CENTERFACE_WIDTH_SCALE,
        jitter: int = 0,
        timeout_s: float = 10.0,
    ) -> None:
        self.width_scale = width_scale
        self.jitter = jitter
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._sent_at: float | None = None
        self._sent_count = 0

    def embed(
        self, frame_rgb: npt.NDArray[np.uint8], boxes_xyxy: npt.ArrayLike
    ) -> npt.NDArray[np.float32]:
        """One 128-d descriptor per box, (N, 128) float32. Raises ``EmbedderError``."""
        return self.embed_samples(frame_rgb, boxes_xyxy)[0]

    def embed_samples(
        self, frame_rgb: npt.NDArray[np.uint8], boxes_xyxy: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Descriptors (N, 128) and quality rows (N, 3), waiting for the child."""
        request, count = _request(frame_rgb, boxes_xyxy)
        if count == 0:
            return np.zeros((0, EMBEDDING_SIZE), np.float32), np.zeros((0, 3), np.float32)
        with self._lock:
            if self._sent_at is not None:
                raise EmbedderError("a request sent with send() is still unanswered")
            answer = self._ask(request)
        return _answer(answer, count)

    def send(self, frame_rgb: npt.NDArray[np.uint8], boxes_xyxy: npt.ArrayLike) -> int:
        """Start embedding ``boxes`` without waiting; ``receive`` returns the answer.

        Returns the number of faces sent. Only the crops are copied, so the frame may be
        reused at once. Raises ``EmbedderError`` when a request is already out.
        """
        request, count = _request(frame_rgb, boxes_xyxy)
        with self._lock:
            if self._sent_at is not None:
                raise EmbedderError("the face embedder is busy with an earlier request")
            if count == 0:
                return 0
            conn = self._connection()
            try:
                conn.send(request)
            except (OSError, ValueError) as exc:
                self._stop()
                raise EmbedderError(f"face embedder process died: {exc}") from None
            self._sent_at, self._sent_count = time.monotonic(), count
        return count

    @property
    def busy(self) -> bool:
        """Whether a request from ``send`` is still out."""
        return self._sent_at is not None

    def receive(
        self, wait_s: float = 0.0
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]] | None:
        """The answer to ``send`` if it came within ``wait_s`` seconds, else None.

        Raises ``EmbedderError`` when the child failed, died, or is past ``timeout_s``.
        """
        with self._lock:
            if self._sent_at is None or self._conn is None:
                return None
            conn, sent_at, count = self._conn, self._sent_at, self._sent_count
            try:
                ready = conn.poll(max(0.0, wait_s))
                if not ready:
                    if time.monotonic() - sent_at > self.timeout_s:
                        self._stop()
                        raise EmbedderError(
                            f"face embedder did not answer within {self.timeout_s:g} s"
                        )
                    return None
                status, payload = conn.recv()
            except (EOFError, OSError) as exc:
                self._stop()
                why = str(exc) or type(exc).__name__
                raise EmbedderError(f"face embedder process died: {why}") from None
            self._sent_at = None
        if status != "ok":
            raise EmbedderError(f"face embedder failed: {payload}")
        return _answer(payload, count)

    def start(self) -> None:
        """Start the child and load its model now (it otherwise starts at the first face,
        seconds in which a live stream would drop frames). Raises ``EmbedderError``."""
        with self._lock:
            self._connection()

    def close(self) -> None:
        """Stop the child (it is started again on the next ``embed``)."""
        with self._lock:
            self._stop()

    def __enter__(self) -> ProcessEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self._stop()

    # -- the child ------------------------------------------------------------------------

    def _ask(self, request: Any) -> Any:
        conn = self._connection()
        try:
            conn.send(request)
            if not conn.poll(self.timeout_s):
                raise EmbedderError(f"face embedder did not answer within {self.timeout_s:g} s")
            status, payload = conn.recv()
        except EmbedderError:
            self._stop()
            raise
        except (EOFError, OSError) as exc:
            self._stop()
            why = str(exc) or type(exc).__name__
            raise EmbedderError(f"face embedder process died: {why}") from None
        if status != "ok":
            raise EmbedderError(f"face embedder failed: {payload}")
        return payload

    def _connection(self) -> Connection:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            return self._conn
        self._stop()
        context = mp.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(child, self.width_scale, self.jitter),
            name="bystander-face-embedder",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent
        if not parent.poll(START_TIMEOUT_S):
            self._stop()
            raise EmbedderError("face embedder process did not start")
        try:
            status, payload = parent.recv()
        except (EOFError, OSError):
            self._stop()
            raise EmbedderError("face embedder process died while starting") from None
        if status != "ready":
            self._stop()
            raise EmbedderError(f"face embedder could not start: {payload}")
        return parent

    def _stop(self) -> None:
        conn, process = self._conn, self._process
        self._conn = self._process = None
        self._sent_at = None
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(None)
            conn.close()
        if process is not None:
            process.join(timeout=2.0)
            if process.is_alive():
                process.kill()
                process.join(timeout=2.0)


def _request(
    frame_rgb: npt.NDArray[np.uint8], boxes_xyxy: npt.ArrayLike
) -> tuple[list[tuple[npt.NDArray[np.uint8], npt.NDArray[np.float64]]], int]:
    if not isinstance(frame_rgb, np.ndarray) or frame_rgb.dtype != np.uint8:
        raise EmbedderError("frame must be a uint8 numpy array (H, W, 3) in RGB order")
    if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
        raise EmbedderError(f"frame must be (H, W, 3) RGB, got shape {frame_rgb.shape}")
    boxes = np.asarray(boxes_xyxy, dtype=np.float64)
    if boxes.size == 0:
        return [], 0
    if boxes.ndim != 2 or boxes.shape[1] < 4:
        raise EmbedderError(f"boxes must be (N, 4) xyxy, got shape {boxes.shape}")
    return crops_for(frame_rgb, boxes), len(boxes)


def _answer(
    payload: Any, count: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    try:
        vectors = np.asarray(payload[0], dtype=np.float32).reshape(count, EMBEDDING_SIZE)
        quality = np.asarray(payload[1], dtype=np.float32).reshape(count, 3)
    except (TypeError, ValueError, IndexError):
        raise EmbedderError("the face embedder sent a malformed answer") from None
    if not np.isfinite(vectors).all():
        raise EmbedderError("the face model returned a non-finite descriptor")
    return vectors, quality
