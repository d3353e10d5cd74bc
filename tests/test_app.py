"""The application shell: health, OpenAPI, API docs without a CDN, errors, headers."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Connection

from balai.app import create_app
from balai.config import Settings
from tests.web import client_for


def test_healthz_answers_when_the_database_is_reachable(
    connection: Connection, settings: Settings
) -> None:
    with client_for(connection, settings) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_healthz_reports_an_unreachable_database(settings: Settings) -> None:
    broken = settings.model_copy(update={"database_url": "sqlite:////nonexistent/dir/x.sqlite3"})
    with TestClient(create_app(broken)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_openapi_lists_the_api(connection: Connection, settings: Settings) -> None:
    with client_for(connection, settings) as client:
        spec = client.get("/api/openapi.json").json()
    assert "/api/v1/contacts" in spec["paths"]
    assert "/api/v1/checks" in spec["paths"]
    assert not any(path.startswith("/directory") for path in spec["paths"])


def test_api_docs_load_their_assets_from_this_server(
    connection: Connection, settings: Settings
) -> None:
    with client_for(connection, settings) as client:
        page = client.get("/api/docs")
        assert page.status_code == 200
        assert "cdn" not in page.text.lower()
        assert "/api/static/swagger-ui-bundle.js" in page.text
        assert client.get("/api/static/swagger-ui-bundle.js").status_code == 200


def test_unknown_api_path_is_json_and_unknown_page_is_html(
    connection: Connection, settings: Settings
) -> None:
    with client_for(connection, settings) as client:
        api = client.get("/api/v1/nothing-here")
        page = client.get("/nothing-here")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "http_error"
    assert page.status_code == 404
    assert "<h1>Not found</h1>" in page.text


def test_pages_carry_security_headers(connection: Connection, settings: Settings) -> None:
    with client_for(connection, settings) as client:
        response = client.get("/login")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_anonymous_visitor_is_sent_to_log_in(connection: Connection, settings: Settings) -> None:
    with client_for(connection, settings) as client:
        response = client.get("/directory?country=TH")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/directory%3Fcountry%3DTH"


def test_pages_are_not_cached_but_static_files_may_be(
    connection: Connection, settings: Settings
) -> None:
    with client_for(connection, settings) as client:
        page = client.get("/login")
        css = client.get("/static/balai.css")
    assert page.headers["cache-control"] == "no-store"
    assert "cache-control" not in css.headers
