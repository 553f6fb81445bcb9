"""The FastAPI application: routers under ``/api/v1``, the page at ``/``, OpenAPI docs at ``/docs``."""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from gpuplan import __version__
from gpuplan.api.errors import install_handlers
from gpuplan.api.jobs import JobRunner
from gpuplan.api.routes import catalog, compute, plans
from gpuplan.api.schemas import ErrorResponse
from gpuplan.api.security import GuardMiddleware
from gpuplan.api.settings import ApiSettings

API_PREFIX = "/api/v1"
# The page loads only its own files: no CDN, no inline script (it must work on an offline intranet).
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
ERROR_RESPONSES = {code: {"model": ErrorResponse} for code in (400, 401, 404, 413, 422, 429, 503)}


def static_dir() -> Path:
    """The page's files, shipped inside the package (``gpuplan/web/static``)."""
    return Path(str(files("gpuplan.web") / "static"))


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """A new app; each has its own job runner (limits) and token."""
    settings = settings or ApiSettings()
    runner = JobRunner(settings.max_parallel_jobs, settings.request_time_limit_s, settings.queue_wait_s)
    light_runner = JobRunner(settings.light_jobs, settings.request_time_limit_s, max(settings.queue_wait_s, 5.0))

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        runner.shutdown()
        light_runner.shutdown()

    offline_docs = _swagger_assets()
    from gpuplan.importers.entry import install

    # the model field takes local directories, .gguf files and (cached) Hub ids as 'gpuplan inspect' reads them;
    # the server never fetches from the Hub on a client's behalf
    install(hub_offline=True)
    app = FastAPI(
        lifespan=lifespan,
        docs_url=None if offline_docs else "/docs",
        redoc_url=None,
        title="gpuplan", version=__version__,
        description="Plan GPU deployments of DeepSeek models and other open LLMs: memory, speed, cost, launch "
                    "artifacts. Same schemas as the CLI's --json. Errors: 4xx with {\"detail\": sentence}; "
                    "?lang=zh or Accept-Language for Simplified Chinese.",
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.runner = runner
    app.state.light_runner = light_runner
    install_handlers(app, settings.request_time_limit_s, settings.max_parallel_jobs)
    for module in (catalog, compute, plans):
        app.include_router(module.router, prefix=API_PREFIX)
    if offline_docs:
        _mount_offline_docs(app, offline_docs)
    if settings.serve_page:
        _mount_page(app)
    app.add_middleware(GuardMiddleware, token=settings.token, max_body_bytes=settings.max_body_bytes,
                       max_in_flight=settings.max_in_flight, allowed_hosts=settings.allowed_hosts,
                       body_timeout_s=settings.body_timeout_s)

    return app


def _swagger_assets() -> Path | None:
    """Swagger UI's files from the ``swagger-ui-bundle`` package, so /docs works offline; None when not installed
    (then FastAPI's default /docs, which loads Swagger UI from a CDN)."""
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    path = Path(swagger_ui_bundle.swagger_ui_path)
    return path if (path / "swagger-ui-bundle.js").is_file() else None


def _mount_offline_docs(app: FastAPI, assets: Path) -> None:
    from fastapi.openapi.docs import get_swagger_ui_html

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title="gpuplan API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")


@lru_cache(maxsize=1)
def _page_html(path: Path) -> str:
    """index.html with its English texts filled in, so the page reads even when ``/messages`` cannot be fetched
    (the script swaps them for the chosen language)."""
    import html
    import json
    import re

    from gpuplan.api.routes.catalog import PAGE_AREAS
    from gpuplan.i18n import catalog as message_catalog
    from gpuplan.i18n import t

    text = path.read_text(encoding="utf-8")
    english = {k: v for k, v in message_catalog("en").items() if k.startswith(PAGE_AREAS)}
    data = json.dumps(english, ensure_ascii=False).replace("</", "<\\/")
    # Data, not code (the CSP allows no inline script): the page's English texts when /messages cannot be reached.
    text = text.replace("</head>", f'<script type="application/json" id="messages-en">{data}</script>\n</head>', 1)
    text = re.sub(r'(data-t="([a-z0-9_.]+)"[^>]*>)(</)',
                  lambda m: m.group(1) + html.escape(t(m.group(2), lang="en")) + m.group(3), text)
    return re.sub(r'data-t-placeholder="([a-z0-9_.]+)"',
                  lambda m: f'{m.group(0)} placeholder="{html.escape(t(m.group(1), lang="en"), quote=True)}"', text)


def _mount_page(app: FastAPI) -> None:
    root = static_dir()

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> Response:
        response = Response(content=_page_html(root / "index.html"), media_type="text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = PAGE_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-cache"
        return response

    app.mount("/static", StaticFiles(directory=root), name="static")
