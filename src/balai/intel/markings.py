"""TLP 2.0 and distribution: what a marking allows, and how it is written in STIX.

A marking (TLP) says how recipients may pass information on; a distribution says who the
recipients are. Some pairs make no sense and are refused: RED is for named recipients only
(an organisation or a sharing group), AMBER+STRICT never leaves the recipient organisations
(so never crosses to connected communities), and only CLEAR may be public.
"""

from __future__ import annotations

from enum import StrEnum


class Tlp(StrEnum):
    """Traffic Light Protocol 2.0, from least to most restrictive."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"

    @property
    def label(self) -> str:
        """TLP:AMBER+STRICT and so on."""
        return f"TLP:{self.value.upper()}"

    @property
    def rank(self) -> int:
        """Higher is more restrictive."""
        return list(Tlp).index(self)

    @property
    def marking_id(self) -> str:
        """The STIX 2.1 marking-definition id of this level (OASIS TLP 2.0 extension)."""
        return TLP2_MARKING_IDS[self]


class Distribution(StrEnum):
    """Who receives an object."""

    ORGANISATION = "organisation"
    SHARING_GROUP = "sharing_group"
    COMMUNITY = "community"
    CONNECTED = "connected"
    PUBLIC = "public"

    @property
    def label(self) -> str:
        """Human-readable name."""
        return DISTRIBUTION_LABELS[self]


DISTRIBUTION_LABELS = {
    Distribution.ORGANISATION: "Your organisation only",
    Distribution.SHARING_GROUP: "A sharing group",
    Distribution.COMMUNITY: "This community",
    Distribution.CONNECTED: "Connected communities",
    Distribution.PUBLIC: "Public",
}

ALLOWED: dict[Tlp, frozenset[Distribution]] = {
    Tlp.CLEAR: frozenset(Distribution),
    Tlp.GREEN: frozenset(Distribution) - {Distribution.PUBLIC},
    Tlp.AMBER: frozenset(Distribution) - {Distribution.PUBLIC},
    Tlp.AMBER_STRICT: frozenset(
        {Distribution.ORGANISATION, Distribution.SHARING_GROUP, Distribution.COMMUNITY}
    ),
    Tlp.RED: frozenset({Distribution.ORGANISATION, Distribution.SHARING_GROUP}),
}

REASONS = {
    Tlp.GREEN: "TLP:GREEN is for the community, never public",
    Tlp.AMBER: "TLP:AMBER is for named recipients, never public",
    Tlp.AMBER_STRICT: "TLP:AMBER+STRICT never leaves the recipient organisations",
    Tlp.RED: "TLP:RED is for named recipients only: your organisation or a sharing group",
}


def check_pair(tlp: Tlp, distribution: Distribution) -> str | None:
    """Why a marking cannot go with a distribution, or None when it can."""
    if distribution in ALLOWED[tlp]:
        return None
    return f"{REASONS[tlp]}, not {distribution.label.lower()}"


def stricter(a: Tlp, b: Tlp) -> Tlp:
    """The more restrictive of two levels: markings are never widened."""
    return a if a.rank >= b.rank else b


TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_MARKING_IDS = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
# STIX 2.1's own TLP 1.0 definitions, still the most common in the wild.
TLP1_MARKING_IDS = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": Tlp.CLEAR,  # TLP:WHITE
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": Tlp.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": Tlp.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": Tlp.RED,
}
MARKING_LEVELS: dict[str, Tlp] = {v: k for k, v in TLP2_MARKING_IDS.items()} | TLP1_MARKING_IDS


def tlp_of_refs(refs: list[str]) -> Tlp | None:
    """The most restrictive TLP among a list of marking references, if any is a TLP."""
    levels = [MARKING_LEVELS[ref] for ref in refs if ref in MARKING_LEVELS]
    if not levels:
        return None
    return max(levels, key=lambda level: level.rank)


def marking_definition(tlp: Tlp) -> dict[str, object]:
    """The STIX 2.1 marking-definition object of a TLP 2.0 level."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": tlp.marking_id,
        "created": "2022-10-01T00:00:00.000Z",
        "name": tlp.label,
        "extensions": {
            TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": tlp.value}
        },
    }
