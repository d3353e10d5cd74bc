"""Helpers to drive the app like a browser (forms with CSRF tokens) and like an API client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection

from balai.app import create_app
from balai.config import Settings
from tests.conftest import session_on
from tests.factories import PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def app_on(connection: Connection, settings: Settings) -> FastAPI:
    """The app, with every request's session inside the test's transaction."""
    app = create_app(settings)
    app.state.sessionmaker = lambda: session_on(connection)
    return app


@contextmanager
def client_for(connection: Connection, settings: Settings) -> Iterator[TestClient]:
    """A test client of the app on the test's transaction."""
    app = app_on(connection, settings)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        yield client
    app.state.engine.dispose()


def csrf_of(html: str) -> str:
    """The CSRF token in a page."""
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def submit(
    client: TestClient, page: str, action: str, data: dict[str, Any], **kwargs: Any
) -> httpx.Response:
    """Load a page for its CSRF token, then post a form as a browser would."""
    token = csrf_of(client.get(page).text)
    response: httpx.Response = client.post(action, data={**data, "csrf_token": token}, **kwargs)
    return response


def login(client: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    """Log in through the form; asserts it worked."""
    response = submit(client, "/login", "/login", {"email": email, "password": password})
    assert response.status_code == 303, response.text
    return response
