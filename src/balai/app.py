"""create_app(settings): the web pages, the REST API and their shared error handling."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from balai import __version__
from balai.config import Settings
from balai.db import make_engine, make_sessionmaker
from balai.errors import BalaiError, ValidationFailed
from balai.taxii.media import error_response as taxii_error
from balai.web.deps import LoginRequired
from balai.web.forms import problems_of
from balai.web.middleware import WebMiddleware
from balai.web.render import render

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "web" / "static"
API_PREFIX = "/api"
TAXII_PREFIX = "/taxii2"


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX + "/")


def _is_taxii(request: Request) -> bool:
    return request.url.path.startswith(TAXII_PREFIX + "/")


def _problem_json(
    status: int, code: str, message: str, details: list[dict[str, str]]
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}}, status_code=status
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BalaiError)
    async def balai_error(request: Request, exc: BalaiError) -> Response:
        if _is_taxii(request):
            if isinstance(exc, ValidationFailed):  # TAXII says 400 for any bad request
                described = "; ".join(f"{p.loc}: {p.msg}" for p in exc.problems)
                return taxii_error(400, "The request is not valid", described)
            return taxii_error(exc.status_code, exc.message, exc.message)
        if isinstance(exc, LoginRequired) and not _wants_json(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
        details = (
            [{"loc": p.loc, "msg": p.msg} for p in exc.problems]
            if isinstance(exc, ValidationFailed)
            else []
        )
        if _wants_json(request):
            response = _problem_json(exc.status_code, exc.code, exc.message, details)
            if exc.status_code == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="balai"'
            return response
        titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 429: "Too many attempts"}
        return render(
            request,
            "web/error.html",
            {
                "title": titles.get(exc.status_code, "Something is wrong with the request"),
                "message": exc.message,
                "error_summary": getattr(exc, "problems", None),
            },
            status_code=exc.status_code,
        )

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = problems_of(exc)  # type: ignore[arg-type]  # same errors() shape as pydantic's
        message = f"{problems[0].loc}: {problems[0].msg}" if problems else "invalid request"
        if _is_taxii(request):
            return taxii_error(400, "invalid request", message)
        if _wants_json(request):
            return _problem_json(
                422, "validation_error", message, [{"loc": p.loc, "msg": p.msg} for p in problems]
            )
        return render(
            request,
            "web/error.html",
            {
                "title": "Something is wrong with the request",
                "message": message,
                "error_summary": problems,
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail)
        if _is_taxii(request):
            return taxii_error(exc.status_code, message, f"{request.method} {request.url.path}")
        if _wants_json(request) or exc.status_code == 405:
            return _problem_json(exc.status_code, "http_error", message, [])
        title = "Not found" if exc.status_code == 404 else "Error"
        return render(
            request,
            "web/error.html",
            {"title": title, "message": message},
            status_code=exc.status_code,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.scope.get("route"))
        message = "an unexpected error occurred; it has been logged"
        if _is_taxii(request):
            return taxii_error(500, "internal error", message)
        if _wants_json(request):
            return _problem_json(500, "internal_error", message, [])
        return HTMLResponse("<h1>Internal error</h1><p>" + message + "</p>", status_code=500)


def create_app(settings: Settings) -> FastAPI:
    """Build the application: pages at /, the REST API under /api/v1, docs at /api/docs."""
    from balai.api.routes import api_router
    from balai.taxii.api import router as taxii_router
    from balai.web.routes import web_router

    logging.basicConfig(level=settings.log_level)
    app = FastAPI(
        title="Balai API",
        version=__version__,
        description="The REST API of Balai. Authenticate with an API key: "
        "`Authorization: Bearer balai_...`.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    engine = make_engine(settings.database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.add_middleware(WebMiddleware, secure_cookies=settings.secure_cookies)
    _install_error_handlers(app)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    docs_static = Path(fastapi_offline.__path__[0]) / "static"
    app.mount(f"{API_PREFIX}/static", StaticFiles(directory=docs_static), name="docs-static")

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json",
            title="Balai API",
            swagger_js_url=f"{API_PREFIX}/static/swagger-ui-bundle.js",
            swagger_css_url=f"{API_PREFIX}/static/swagger-ui.css",
            swagger_favicon_url=f"{API_PREFIX}/static/favicon.png",
        )

    @app.get("/healthz", tags=["health"], include_in_schema=False)
    def healthz() -> JSONResponse:
        try:
            with app.state.sessionmaker() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # any failure means the database is unreachable
            log.warning("health check: database unreachable: %s", exc.__class__.__name__)
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "version": __version__})

    app.include_router(api_router, prefix=f"{API_PREFIX}/v1")
    app.include_router(taxii_router)
    app.include_router(web_router)
    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory balai.app:app_from_env` and `balai serve --workers N`."""
    from balai.config import load_settings

    return create_app(load_settings())
