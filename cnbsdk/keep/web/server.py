"""The web server beside the reconcile loop: uvicorn on a socket bound before it starts, in
a background thread (uvicorn leaves the signals to the main thread there, where ``Service``
handles them), stopped with the service."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from cnbsdk.keep.model import KeepError
from cnbsdk.keep.web.listen import bind, is_loopback, url_of

STARTUP_SECONDS = 30.0
GRACE_SECONDS = 2  # then open log streams are cut


class WebServer:
    """``start()`` binds and serves; ``stop()`` ends the streams, the server and the thread,
    and releases the port."""

    def __init__(self, store_path: Path, host: str, port: int, token: str) -> None:
        self.store_path = store_path
        self.host = host
        self.port = port
        self.token = token
        self.stopping = threading.Event()
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._server: object | None = None

    @property
    def url(self) -> str:
        assert self._socket is not None
        return url_of(self._socket)

    @property
    def loopback(self) -> bool:
        assert self._socket is not None
        return is_loopback(self._socket)

    def start(self) -> None:
        import uvicorn

        from cnbsdk.keep.web.app import create_app

        self._socket = bind(self.host, self.port)
        app = create_app(self.store_path, self.token, self.stopping)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",  # the app's worker-thread limit is set there
            timeout_graceful_shutdown=GRACE_SECONDS,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._app = app
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, name="cnbsdk-web", daemon=True
        )
        self._thread.start()
        waited = 0.0
        while not server.started and self._thread.is_alive() and waited < STARTUP_SECONDS:
            self._thread.join(0.02)
            waited += 0.02
        if not server.started:
            self.stop()
            raise KeepError("the web server did not start", field="--listen")

    def stop(self) -> None:
        import uvicorn

        self.stopping.set()
        if isinstance(self._server, uvicorn.Server):
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=GRACE_SECONDS + 10)
        if self._socket is not None:
            self._socket.close()
        if hasattr(self, "_app"):
            self._app.state.stores.close()
