"""The web pages and JSON API of ``cnbsdk serve`` (docs/web.md): FastAPI on uvicorn in a
thread beside the reconcile loop, reading the store on connections of its own. Imported
only by ``serve``: the rest of cnbsdk never loads the web stack."""
