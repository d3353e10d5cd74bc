"""Every import format behind one entry point, so pages, API and CLI offer the same ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sqlalchemy.orm import Session

from balai.access.actor import Actor
from balai.intel import csv_io, misp_io, stix_io, text_io
from balai.intel.models import ImportFormat, IntelImport
from balai.intel.schemas import Marking

Progress = Callable[[int, int], None]


class Importer(Protocol):
    """Reads one format and stores it as the actor's organisation: all of it, or nothing."""

    def __call__(
        self,
        session: Session,
        *,
        actor: Actor,
        data: bytes,
        marking: Marking,
        filename: str | None = None,
        progress: Progress | None = None,
    ) -> IntelImport: ...


IMPORTERS: dict[ImportFormat, Importer] = {
    ImportFormat.STIX: stix_io.import_stix,
    ImportFormat.MISP: misp_io.import_misp,
    ImportFormat.CSV: csv_io.import_csv,
    ImportFormat.TEXT: text_io.import_text,
}

FORMAT_LABELS = {
    ImportFormat.STIX: "STIX 2.1 bundle (JSON)",
    ImportFormat.MISP: "MISP event (JSON)",
    ImportFormat.CSV: "CSV (a value column, optional type column)",
    ImportFormat.TEXT: "Free text (indicators are extracted, defanged forms included)",
}


def available() -> list[tuple[str, str]]:
    """The formats this instance reads, for choices on pages."""
    return [(fmt.value, FORMAT_LABELS[fmt]) for fmt in IMPORTERS]


def import_file(
    session: Session,
    *,
    actor: Actor,
    fmt: ImportFormat,
    data: bytes,
    marking: Marking,
    filename: str | None = None,
    progress: Progress | None = None,
) -> IntelImport:
    """Import data of a format (see IMPORTERS)."""
    importer = IMPORTERS.get(fmt)
    if importer is None:
        from balai.errors import ValidationFailed

        raise ValidationFailed.one("format", f"{fmt.value} files cannot be imported yet")
    return importer(
        session, actor=actor, data=data, marking=marking, filename=filename, progress=progress
    )
