"""Render e-mails from templates whose first line is the subject."""

from __future__ import annotations

from typing import Any

from balai.templating import make_env


def render_mail(template: str, **context: Any) -> tuple[str, str]:
    """Render a .txt mail template into (subject, body)."""
    text = make_env().get_template(template).render(**context)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"{template} must start with a 'Subject: ' line")
    return first.removeprefix("Subject: ").strip(), body.lstrip("\n")
