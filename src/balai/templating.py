"""The Jinja environment for pages and e-mails, with the filters every template uses."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from balai.validators import country_name, language_name

PACKAGE = Path(__file__).parent
DOMAINS = (
    "web",
    "accounts",
    "audit",
    "directory",
    "checks",
    "intel",
    "incidents",
    "alerts",
    "taxii",
    "scan",
    "federation",
    "outbox",
    "demo",
)


def utc_text(value: datetime) -> str:
    """A timestamp as 2026-11-23 10:24 UTC."""
    return value.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M UTC")


def local_text(value: datetime, zone: str) -> str:
    """A timestamp in a zone, as 17:24 Asia/Bangkok (with the date when it differs)."""
    local = value.astimezone(ZoneInfo(zone))
    utc = value.astimezone(ZoneInfo("UTC"))
    fmt = "%H:%M" if local.date() == utc.date() else "%Y-%m-%d %H:%M"
    return f"{local.strftime(fmt)} {zone}"


def time_html(value: datetime | None, zone: str | None = None) -> Markup:
    """A <time> element in UTC, followed by the viewer's zone when it is not UTC."""
    if value is None:
        return Markup('<span class="muted">never</span>')
    iso = value.astimezone(ZoneInfo("UTC")).isoformat(timespec="seconds")
    html = f'<time datetime="{iso}">{escape(utc_text(value))}</time>'
    if zone and zone != "UTC":
        html += f' <span class="local-time">({escape(local_text(value, zone))})</span>'
    return Markup(html)  # noqa: S704  # every interpolated part is escaped above


def duration_text(seconds: float | None) -> str:
    """A response time as 4 min 12 s, 2 h 5 min or 3 d 4 h."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return "under 1 s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {(s % 3600) // 60} min"
    return f"{s // 86400} d {(s % 86400) // 3600} h"


def date_text(value: date | None) -> str:
    """A date as 2026-11-23."""
    return value.isoformat() if value else "—"


@cache
def make_env() -> Environment:
    """One environment for every template: pages (.html, escaped) and mails (.txt)."""
    dirs = [str(PACKAGE / d / "templates") for d in DOMAINS if (PACKAGE / d / "templates").is_dir()]
    env = Environment(
        loader=FileSystemLoader(dirs),
        autoescape=select_autoescape(["html", "xml", "svg"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        time=time_html,
        utc=utc_text,
        duration=duration_text,
        day=date_text,
        country=country_name,
        language=language_name,
    )
    return env
