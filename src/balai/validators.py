"""Field types shared by every domain's schemas: countries, zones, languages, keys, phones."""

from __future__ import annotations

import re
import zoneinfo
from functools import cache
from typing import Annotated

import phonenumbers
import pycountry
from pydantic import AfterValidator, BeforeValidator, EmailStr, StringConstraints


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _country(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-2 country code")
    return code


def time_zones() -> list[str]:
    """Every IANA time zone name, sorted."""
    return sorted(_zones())


def _timezone(value: str) -> str:
    if value not in _zones():
        raise ValueError(f"'{value}' is not an IANA time zone (for example Asia/Bangkok)")
    return value


def _language(value: str) -> str:
    code = value.strip().lower()
    if len(code) != 2 or pycountry.languages.get(alpha_2=code) is None:
        raise ValueError(f"'{value}' is not an ISO 639-1 language code (for example th)")
    return code


_FPR = re.compile(r"^[0-9A-F]{40}$")


def _fingerprint(value: str) -> str:
    compact = re.sub(r"\s+", "", value).upper().removeprefix("0X")
    if not _FPR.match(compact):
        raise ValueError("a PGP fingerprint is 40 hexadecimal digits (spaces allowed)")
    return compact


def _phone(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(
            f"'{value}' is not an international phone number (+ country code): {exc}"
        ) from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"'{value}' is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def country_name(code: str) -> str:
    """The English short name of an ISO country code."""
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return str(getattr(country, "common_name", None) or country.name)


def language_name(code: str) -> str:
    """The English name of an ISO 639-1 language code."""
    language = pycountry.languages.get(alpha_2=code)
    return str(language.name) if language is not None else code


CountryCode = Annotated[str, AfterValidator(_country)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]
LanguageCode = Annotated[str, AfterValidator(_language)]
PgpFingerprint = Annotated[str, AfterValidator(_fingerprint)]
PhoneNumber = Annotated[str, AfterValidator(_phone)]
Email = Annotated[EmailStr, BeforeValidator(_lower)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20000)]
