"""Domain errors that entry points turn into clear responses: what went wrong and where."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where (a location path) and what."""

    loc: str
    msg: str


class BalaiError(Exception):
    """Base of all domain errors."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(BalaiError):
    """The object does not exist, or the actor may not see it (the two look the same)."""

    status_code = 404
    code = "not_found"


class Forbidden(BalaiError):
    """The actor sees the object but may not do this to it."""

    status_code = 403
    code = "forbidden"


class Unauthenticated(BalaiError):
    """No valid credentials."""

    status_code = 401
    code = "unauthenticated"


class Conflict(BalaiError):
    """The change clashes with existing state (a duplicate, a closed check)."""

    status_code = 409
    code = "conflict"


class TooManyAttempts(BalaiError):
    """Throttled after repeated failures."""

    status_code = 429
    code = "too_many_attempts"


class ValidationFailed(BalaiError):
    """The input is invalid; each problem names its location."""

    status_code = 422
    code = "validation_error"

    def __init__(self, problems: list[Problem], message: str | None = None) -> None:
        self.problems = problems
        first = problems[0] if problems else Problem("", "invalid input")
        summary = message or (
            f"{first.loc}: {first.msg}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )
        super().__init__(summary)

    @classmethod
    def one(cls, loc: str, msg: str) -> ValidationFailed:
        """A single problem."""
        return cls([Problem(loc, msg)])
