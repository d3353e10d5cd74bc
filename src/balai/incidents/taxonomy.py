"""The ENISA/TF-CSIRT reference incident classification taxonomy (RSIT), read from the
copy that the pytaxonomies package ships: classes and types are never typed by hand."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pytaxonomies.api import Taxonomy

RSIT_PATH = "data/misp-taxonomies/rsit/machinetag.json"


@dataclass(frozen=True)
class RsitType:
    """One incident type (a taxonomy entry) within a class."""

    value: str
    label: str
    description: str


@dataclass(frozen=True)
class RsitClass:
    """One incident class (a taxonomy predicate) and its types."""

    value: str
    label: str
    description: str
    types: tuple[RsitType, ...]

    def type_label(self, value: str) -> str:
        """The label of one of the class's types."""
        return next((t.label for t in self.types if t.value == value), value)


@cache
def taxonomy() -> Taxonomy:
    """The RSIT taxonomy as pytaxonomies loads it."""
    text = resources.files("pytaxonomies").joinpath(RSIT_PATH).read_text(encoding="utf-8")
    return Taxonomy(json.loads(text))


@cache
def classes() -> tuple[RsitClass, ...]:
    """Every class with its types, in the taxonomy's order."""
    out = []
    for predicate in taxonomy().predicates.values():
        types = tuple(
            RsitType(e.value, e.expanded or e.value, e.description or "")
            for e in predicate.entries.values()
        )
        out.append(
            RsitClass(
                predicate.predicate,
                predicate.expanded or predicate.predicate,
                predicate.description or "",
                types,
            )
        )
    return tuple(out)


def find_class(value: str) -> RsitClass | None:
    """A class by its value."""
    return next((c for c in classes() if c.value == value), None)


def version() -> int:
    """The taxonomy's version, recorded with each classification."""
    return int(str(taxonomy().version))


def problem(class_value: str, type_value: str) -> str | None:
    """Why a class and type are not an RSIT classification, or None when they are."""
    found = find_class(class_value)
    if found is None:
        known = ", ".join(c.value for c in classes())
        return f"'{class_value}' is not an RSIT incident class (one of {known})"
    if not any(t.value == type_value for t in found.types):
        known = ", ".join(t.value for t in found.types)
        return f"'{type_value}' is not a type of the class {found.value} (one of {known})"
    return None


def machinetag(class_value: str, type_value: str) -> str:
    """The MISP machine tag, as rsit:intrusions="system-compromise"."""
    return taxonomy().make_machinetag(class_value, taxonomy()[class_value][type_value])


def label(class_value: str, type_value: str) -> str:
    """Intrusions / System Compromise."""
    found = find_class(class_value)
    if found is None:
        return f"{class_value} / {type_value}"
    return f"{found.label} / {found.type_label(type_value)}"
