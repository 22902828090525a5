"""Live preview of the protected frames on localhost, as MJPEG over HTTP.

The preview is a live-stream consumer of the capture session: it only ever sees frames the
guard released (bystanders already blurred), and arming a session with it needs the
wearer's ``live-stream`` consent. It binds to 127.0.0.1 only.

- ``/``            a page showing the stream
- ``/stream.mjpg`` ``multipart/x-mixed-replace`` JPEG stream
- ``/frame.jpg``   the latest frame
"""

from __future__ import annotations

import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

from bystander.guard.consumers import ConsumerKind, ReleasedSample, SampleKind

_BOUNDARY = "bystanderframe"
_PAGE = b"""<!doctype html><html><head><title>Bystander live preview</title></head>
<body style="margin:0;background:#111"><img src="/stream.mjpg" style="max-width:100%"></body>
</html>"""


class LivePreview:
    """Serves the latest released frame; ``close`` stops the server."""

    name = "live-preview"
    kind = ConsumerKind.LIVE_STREAM

    def __init__(self, port: int = 0, quality: int = 80) -> None:
        self._quality = quality
        self._jpeg: bytes | None = None
        self._seq = 0
        self._changed = threading.Condition()
        self._closed = False
        preview = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                preview._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def receive(self, sample: ReleasedSample) -> None:
        if sample.kind is not SampleKind.VIDEO:
            return
        bgr = cv2.cvtColor(np.ascontiguousarray(sample.payload), cv2.COLOR_RGB2BGR)
        ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if ok:
            with self._changed:
                self._jpeg, self._seq = encoded.tobytes(), self._seq + 1
                self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        if request.path == "/":
            self._send(request, "text/html", _PAGE)
        elif request.path == "/frame.jpg":
            with self._changed:
                jpeg = self._jpeg
            if jpeg is None:
                request.send_error(HTTPStatus.SERVICE_UNAVAILABLE, "no frame released yet")
            else:
                self._send(request, "image/jpeg", jpeg)
        elif request.path == "/stream.mjpg":
            self._stream(request)
        else:
            request.send_error(HTTPStatus.NOT_FOUND)

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, content_type: str, body: bytes) -> None:
        request.send_response(HTTPStatus.OK)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Cache-Control", "no-store")
        request.end_headers()
        request.wfile.write(body)

    def _stream(self, request: BaseHTTPRequestHandler) -> None:
        request.send_response(HTTPStatus.OK)
        request.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
        request.send_header("Cache-Control", "no-store")
        request.end_headers()
        seen = -1
        try:
            while True:
                with self._changed:
                    last = seen
                    self._changed.wait_for(
                        lambda last=last: self._closed or self._seq != last,  # type: ignore[misc]
                        timeout=1.0,
                    )
                    if self._closed:
                        return
                    if self._seq == seen or self._jpeg is None:
                        continue
                    jpeg, seen = self._jpeg, self._seq
                header = (
                    f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n"
                ).encode()
                request.wfile.write(header + jpeg + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return
