"""The FastAPI app of ``cnbsdk serve``: the JSON API under ``/api/v1`` (the same shapes as
the CLI's ``--json``), the two pages and their static files. Every route reads the store on
read-only connections of its own (one per worker thread) except the trigger, which needs
the token and makes the same one write as ``cnbsdk image trigger``."""

from __future__ import annotations

import re
import threading
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
from cnbsdk.keep.status import STATUSES, image_status
from cnbsdk.keep.store import Store
from cnbsdk.keep.trigger import request_trigger
from cnbsdk.keep.web import log_stream
from cnbsdk.keep.web.images_query import SORT_KEYS, QueryError, select
from cnbsdk.keep.web.token import token_matches

STATIC = Path(__file__).parent / "static"
API = "/api/v1"
# The pages load only what this server serves (no CDN, no inline script).
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
    """One read-only store connection per thread (SQLite connections stay in their thread;
    WAL lets them read beside the service's writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[Store] = []
        self._lock = threading.Lock()

    def get(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = Store(self.path, read_only=True)
            self._local.store = store
            with self._lock:
                self._all.append(store)
        return store

    def close(self) -> None:
        with self._lock:
            for store in self._all:
                store.close()
            self._all.clear()


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
    )
    app.state.stores = stores
    _error_handlers(app)

    def known_image(name: str) -> Store:
        store = stores.get()
        try:
            store.image_row(name)
        except KeepError:
            raise ApiError(404, f"no image record {name!r}") from None
        return store

    def build_of(name: str, number: int) -> tuple[Store, BuildRecord]:
        store = known_image(name)
        try:
            return store, store.build(name, number)
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
        store = stores.get()
        statuses = [image_status(store, row["name"]) for row in store.image_rows()]
        try:
            return JSONResponse(select(statuses, status, sort))
        except QueryError as error:
            raise ApiError(400, str(error)) from None

    @app.get(f"{API}/images/{{name}}", summary="One image record's status (= image status --json)")
    def get_image(name: ImageName) -> JSONResponse:
        return JSONResponse(image_status(known_image(name), name))

    @app.get(f"{API}/images/{{name}}/builds", summary="The image's builds (= build list --json)")
    def list_builds(name: ImageName) -> JSONResponse:
        return JSONResponse([b.to_json() for b in known_image(name).builds(name)])

    @app.get(
        f"{API}/images/{{name}}/builds/{{number}}", summary="One build (= build status --json)"
    )
    def get_build(name: ImageName, number: BuildNumber) -> JSONResponse:
        return JSONResponse(build_of(name, number)[1].to_json())

    @app.get(
        f"{API}/images/{{name}}/builds/{{number}}/log",
        summary="The build's log so far (= build logs)",
        response_class=PlainTextResponse,
    )
    def get_log(name: ImageName, number: BuildNumber) -> PlainTextResponse:
        store, record = build_of(name, number)
        text = log_stream.whole_log(store, record).decode(errors="replace")
        return PlainTextResponse(text, media_type="text/plain; charset=utf-8")

    @app.get(
        f"{API}/images/{{name}}/builds/{{number}}/log/stream",
        summary="The build's log as Server-Sent Events while it runs",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def stream_log(request: Request, name: ImageName, number: BuildNumber) -> Any:
        _store, record = await run_in_threadpool(build_of, name, number)
        offset = _last_event_id(request.headers.get("last-event-id"))

        async def read(at: int) -> tuple[BuildRecord | None, bytes]:
            return await run_in_threadpool(
                lambda: log_stream.read_part(stores.get(), record.id, at)
            )

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
        known_image(name)
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
        known_image(name)
        return FileResponse(STATIC / "image.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


_NUMBER = re.compile(r"^[0-9]{1,15}$")


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
