"""Named groups of states, for filters and communication checks."""

from __future__ import annotations

ASEAN_MEMBER_STATES = ("BN", "KH", "ID", "LA", "MY", "MM", "PH", "SG", "TH", "VN")
# ASEAN's dialogue partners that are states (the EU is a partner but not a country code).
ASEAN_DIALOGUE_PARTNERS = ("AU", "CA", "CN", "IN", "JP", "KR", "NZ", "RU", "GB", "US")

COUNTRY_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "asean": ("ASEAN member states", ASEAN_MEMBER_STATES),
    "dialogue_partners": ("ASEAN dialogue partners", ASEAN_DIALOGUE_PARTNERS),
}
