"""The FastAPI app of ``cnbsdk serve``: the JSON API under ``/api/v1`` (the same shapes as
the CLI's ``--json``), the two pages and their static files. Every route reads the store on
read-only connections of its own (a pool) except the trigger, which needs
the token and makes the same one write as ``cnbsdk image trigger``."""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from cnbsdk import __version__
from cnbsdk.keep.model import BuildRecord, KeepError
from cnbsdk.keep.runner import build_log
from cnbsdk.keep.status import STATUSES, image_status
from cnbsdk.keep.store import Store
from cnbsdk.keep.trigger import request_trigger
from cnbsdk.keep.web import log_stream
from cnbsdk.keep.web.images_query import SORT_KEYS, QueryError, select
from cnbsdk.keep.web.token import token_matches

STATIC = Path(__file__).parent / "static"
API = "/api/v1"
# The pages load only what this server serves (no CDN, no inline script).
WORKER_THREADS = 8  # reads are short: a few threads serve many streams, with fewer connections
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:",
    "Cache-Control": "no-cache",
}
ImageName = Annotated[str, PathParam(description="The image record's name.")]
BuildNumber = Annotated[
    int, PathParam(gt=0, le=2**63 - 1, description="The build's number (1, 2, ...).")
]
BEARER = HTTPBearer(auto_error=False, description="The token `cnbsdk serve` printed.")


class ApiError(HTTPException):
    """An answer ``{"error": message}`` with this status."""


class ReadOnlyStores:
    """A pool of read-only store connections, one lent to each request while it reads (WAL
    lets them read beside the service's writes). The pool grows to the most requests ever
    reading at once (the worker threads' limit) and no further."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._free: list[Store] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def borrow(self) -> Iterator[Store]:
        with self._lock:
            store = self._free.pop() if self._free else None
        if store is None:
            store = Store(self.path, read_only=True)
        try:
            yield store
        finally:
            with self._lock:
                if self._closed:
                    store.close()
                else:
                    self._free.append(store)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for store in self._free:
                store.close()
            self._free.clear()


def create_app(store_path: Path, token: str, stopping: threading.Event | None = None) -> FastAPI:
    """The app over the store at ``store_path``; ``stopping`` set ends the log streams."""
    stores = ReadOnlyStores(store_path)
    stopping = stopping or threading.Event()
    app = FastAPI(
        title="cnbsdk serve",
        version=__version__,
        description="The images cnbsdk keeps current: their status, builds and logs "
        "(docs/web.md). Read-only except the trigger, which needs the token `serve` prints.",
        docs_url=None,  # Swagger UI and ReDoc load their assets from a CDN
        redoc_url=None,
        openapi_url=f"{API}/openapi.json",
        lifespan=_lifespan,
    )
    app.state.stores = stores
    _error_handlers(app)

    def known_image(store: Store, name: str) -> Store:
        try:
            store.image_row(name)
        except KeepError:
            raise ApiError(404, f"no image record {name!r}") from None
        return store

    def build_of(store: Store, name: str, number: int) -> BuildRecord:
        known_image(store, name)
        try:
            return store.build(name, number)
        except KeepError:
            raise ApiError(404, f"image {name!r} has no build {number}") from None

    @app.get(f"{API}/images", summary="Every image record's status (= image list --json)")
    def list_images(
        status: Annotated[
            list[str],
            Query(description=f"Only these: {', '.join(STATUSES)} (repeat or comma-separate)."),
        ] = [],  # noqa: B006 (FastAPI's way to declare a repeatable query value)
        sort: Annotated[
            str, Query(description=f"One of {', '.join(SORT_KEYS)}; a leading '-' reverses.")
        ] = "name",
    ) -> JSONResponse:
        with stores.borrow() as store:
            statuses = [image_status(store, row["name"]) for row in store.image_rows()]
        try:
            return JSONResponse(select(statuses, status, sort))
        except QueryError as error:
            raise ApiError(400, str(error)) from None

    @app.get(f"{API}/images/{{name}}", summary="One image record's status (= image status --json)")
    def get_image(name: ImageName) -> JSONResponse:
        with stores.borrow() as store:
            return JSONResponse(image_status(known_image(store, name), name))

    @app.get(f"{API}/images/{{name}}/builds", summary="The image's builds (= build list --json)")
    def list_builds(name: ImageName) -> JSONResponse:
        with stores.borrow() as store:
            return JSONResponse([b.to_json() for b in known_image(store, name).builds(name)])

    @app.get(
        f"{API}/images/{{name}}/builds/{{number}}", summary="One build (= build status --json)"
    )
    def get_build(name: ImageName, number: BuildNumber) -> JSONResponse:
        with stores.borrow() as store:
            return JSONResponse(build_of(store, name, number).to_json())

    @app.get(
        f"{API}/images/{{name}}/builds/{{number}}/log",
        summary="The build's log so far (= build logs)",
        response_class=PlainTextResponse,
    )
    def get_log(name: ImageName, number: BuildNumber) -> PlainTextResponse:
        with stores.borrow() as store:
            text = build_log(store, build_of(store, name, number))
        return PlainTextResponse(
            text.decode(errors="replace"), media_type="text/plain; charset=utf-8"
        )

    @app.get(
        f"{API}/images/{{name}}/builds/{{number}}/log/stream",
        summary="The build's log as Server-Sent Events while it runs",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def stream_log(request: Request, name: ImageName, number: BuildNumber) -> Any:
        offset = _last_event_id(request.headers.get("last-event-id"))

        def find() -> BuildRecord:
            with stores.borrow() as store:
                return build_of(store, name, number)

        def read_part(at: int) -> tuple[BuildRecord | None, bytes]:
            with stores.borrow() as store:
                return log_stream.read_part(store, record.id, at)

        record = await run_in_threadpool(find)

        async def read(at: int) -> tuple[BuildRecord | None, bytes]:
            return await run_in_threadpool(read_part, at)

        async def stop() -> bool:
            return stopping.is_set() or await request.is_disconnected()

        return StreamingResponse(
            log_stream.stream(read, number, offset, stop),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.post(
        f"{API}/images/{{name}}/trigger",
        status_code=202,
        summary="Ask for a TRIGGER build (needs the token)",
    )
    def trigger(
        name: ImageName,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    ) -> JSONResponse:
        if not token_matches(credentials.credentials if credentials else None, token):
            raise ApiError(
                401,
                "refused: the trigger needs 'Authorization: Bearer TOKEN' with the token "
                "cnbsdk serve printed",
            )
        with stores.borrow() as reader:
            known_image(reader, name)
        with Store(store_path) as store:
            try:
                _number, when = request_trigger(store, name)
            except KeepError:
                raise ApiError(404, f"no image record {name!r}") from None
        return JSONResponse({"image": name, "triggerRequested": when}, status_code=202)

    @app.get("/", include_in_schema=False)
    def images_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    @app.get("/images/{name}", include_in_schema=False)
    def image_page(name: str) -> FileResponse:
        with stores.borrow() as store:
            known_image(store, name)
        return FileResponse(STATIC / "image.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


_NUMBER = re.compile(r"^[0-9]{1,15}$")


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    import anyio.to_thread

    anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
    yield


def _last_event_id(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not _NUMBER.match(value.strip()):
        raise ApiError(400, f"Last-Event-ID: {value!r} is not a byte offset (0, 1, ...)")
    return int(value)


def _error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        message = str(error.detail)
        if not isinstance(error, ApiError) and error.status_code == 404:
            message = f"no page or API route {request.url.path!r}"
        elif not isinstance(error, ApiError) and error.status_code == 405:
            allowed = (error.headers or {}).get("allow", "GET")
            message = f"{request.method} is not allowed on {request.url.path!r} (only {allowed})"
        return JSONResponse(
            {"error": message}, status_code=error.status_code, headers=error.headers
        )

    async def invalid(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        parts = []
        for problem in error.errors():
            where, *names = [str(p) for p in problem.get("loc", ())] or ["request"]
            what = f"{where} parameter {'.'.join(names)!r}" if names else where
            parts.append(f"{what}: {problem.get('msg', 'invalid')}")
        return JSONResponse({"error": "; ".join(parts)}, status_code=400)

    async def failed(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error: {error}"}, status_code=500)

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, failed)
    app.add_exception_handler(RequestValidationError, invalid)
