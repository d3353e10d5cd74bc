"""Turn submitted forms into schema objects, and validation errors into per-field messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from balai.errors import Problem, ValidationFailed

M = TypeVar("M", bound=BaseModel)


def lines(value: str | None) -> list[str]:
    """The non-empty lines of a textarea."""
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def text(form: FormData, name: str) -> str | None:
    """A text field, stripped; None when empty or absent."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def many(form: FormData, name: str) -> list[str]:
    """All values of a repeated field (checkboxes, multi-selects), empties dropped."""
    return [v for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def _loc(parts: tuple[int | str, ...]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "form"


def problems_of(exc: ValidationError) -> list[Problem]:
    """Pydantic's errors as located problems."""
    return [
        Problem(_loc(tuple(e["loc"])), str(e["msg"]).removeprefix("Value error, "))
        for e in exc.errors()
    ]


def build(model: type[M], data: Mapping[str, Any]) -> M:
    """Validate form data into a schema, raising ValidationFailed with located problems."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise ValidationFailed(problems_of(exc)) from None


def field_errors(exc: ValidationFailed) -> dict[str, list[str]]:
    """Problems keyed by their top-level field, for showing beside each input."""
    out: dict[str, list[str]] = {}
    for problem in exc.problems:
        field = problem.loc.split(".")[0].split("[")[0]
        out.setdefault(field, []).append(
            problem.msg if problem.loc == field else f"{problem.loc}: {problem.msg}"
        )
    return out
