"""Observable values: refanging, classifying, normalising, and reading them out of STIX."""

from __future__ import annotations

from typing import Any

import pytest

from balai.intel.models import ValueKind
from balai.intel.observables import (
    Value,
    classify,
    from_pattern,
    from_stix,
    ip_value,
    normalise,
    parents,
    refang,
)

K = ValueKind


@pytest.mark.parametrize(
    ("defanged", "plain"),
    [
        ("hxxp://evil[.]example/payload", "http://evil.example/payload"),
        ("hXXps://evil[.]example/", "https://evil.example/"),
        ("HXXP://evil[.]example", "http://evil.example"),
        ("hxxps[://]evil.example", "https://evil.example"),
        ("http[:]//evil.example", "http://evil.example"),
        ("evil[.]example", "evil.example"),
        ("evil(.)example", "evil.example"),
        ("evil{.}example", "evil.example"),
        ("evil(dot)example", "evil.example"),
        ("evil[dot]example", "evil.example"),
        ("evil[DOT]example", "evil.example"),
        ("198.51.100[.]7", "198.51.100.7"),
        ("2001:db8[:]1", "2001:db8:1"),
        ("phish[at]evil.example", "phish@evil.example"),
        ("phish[@]evil.example", "phish@evil.example"),
        ("phish(at)evil.example", "phish@evil.example"),
        ("evil.example[/]login", "evil.example/login"),
        # Plain values are left alone, including words that merely contain "dot" or "at".
        ("https://dotat.example/chat", "https://dotat.example/chat"),
        ("hxxpd.example", "hxxpd.example"),
    ],
)
def test_refang_undoes_the_usual_defanging(defanged: str, plain: str) -> None:
    assert refang(defanged) == plain


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        # IPv4, IPv6 and networks; a single-address network is an address.
        ("198.51.100.7", K.IPV4, "198.51.100.7"),
        (" 198.51.100.7 ", K.IPV4, "198.51.100.7"),
        ("198.51.100[.]7", K.IPV4, "198.51.100.7"),
        ("<198.51.100.7>,", K.IPV4, "198.51.100.7"),
        ("2001:DB8::1", K.IPV6, "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", K.IPV6, "2001:db8::1"),
        ("203.0.113.0/24", K.CIDR, "203.0.113.0/24"),
        ("203.0.113.77/24", K.CIDR, "203.0.113.0/24"),
        ("203.0.113.77/32", K.IPV4, "203.0.113.77"),
        ("2001:db8::/32", K.CIDR, "2001:db8::/32"),
        ("2001:db8::5/128", K.IPV6, "2001:db8::5"),
        # Domains: lower case, no trailing dot, internationalised names in IDNA form.
        ("Evil.EXAMPLE.", K.DOMAIN, "evil.example"),
        ("login.evil(dot)example", K.DOMAIN, "login.evil.example"),
        ("bücher.example", K.DOMAIN, "xn--bcher-kva.example"),
        ("BÜCHER.example", K.DOMAIN, "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", K.DOMAIN, "xn--bcher-kva.example"),
        ("пример.рф", K.DOMAIN, "xn--e1afmkfd.xn--p1ai"),
        ("_dmarc.evil.example", K.DOMAIN, "_dmarc.evil.example"),
        # URLs: scheme and host lower case, default port and fragment dropped, userinfo kept.
        ("HTTP://Evil.EXAMPLE/Path?Q=1#top", K.URL, "http://evil.example/Path?Q=1"),
        ("http://evil.example:80/a", K.URL, "http://evil.example/a"),
        ("https://evil.example:443", K.URL, "https://evil.example/"),
        ("ftp://evil.example:21/f", K.URL, "ftp://evil.example/f"),
        ("https://evil.example:8443/a", K.URL, "https://evil.example:8443/a"),
        ("http://evil.example:443/a", K.URL, "http://evil.example:443/a"),
        ("http://admin@evil.example/a", K.URL, "http://admin@evil.example/a"),
        ("http://admin:s3cret@evil.example/a", K.URL, "http://admin:s3cret@evil.example/a"),
        ("http://[2001:DB8::1]:80/x", K.URL, "http://[2001:db8::1]/x"),
        ("http://198.51.100.7:8080", K.URL, "http://198.51.100.7:8080/"),
        ("hxxps://bücher[.]example/x", K.URL, "https://xn--bcher-kva.example/x"),
        # E-mail addresses, lower case.
        ("Phish@Evil.EXAMPLE", K.EMAIL, "phish@evil.example"),
        ("phish[at]evil[.]example", K.EMAIL, "phish@evil.example"),
        # Hashes by their length, lower case.
        ("D41D8CD98F00B204E9800998ECF8427E", K.MD5, "d41d8cd98f00b204e9800998ecf8427e"),
        (
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            K.SHA1,
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        ),
        (
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            K.SHA256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        # Autonomous systems.
        ("AS15169", K.ASN, "AS15169"),
        ("as4200000000", K.ASN, "AS4200000000"),
        ("AS0064512", K.ASN, "AS64512"),
    ],
)
def test_classify_recognises_and_normalises(raw: str, kind: ValueKind, value: str) -> None:
    found = classify(raw)
    assert found is not None, raw
    assert (found.kind, found.value) == (kind, value)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "1.2.3",
        "foo.123",
        "notadomain",
        "999.1.1.1",
        "1.2.3.4.5",
        "10.0.0.0/33",
        "-evil.example",
        "evil-.example",
        "evil..example",
        "evil.example-",
        "a" * 64 + ".example",
        "deadbeef",
        "d41d8cd98f00b204e9800998ecf8427",  # 31 hex digits
        "12345",
        "AS",
        "AS4294967296",  # above the 32-bit range
        "x@y",
        "two words@evil.example",
        "http://",
        "http://not_a_host/x",
        "mailto:phish",
        "https://evil.example:99999/",
    ],
)
def test_values_that_are_no_observable_do_not_classify(raw: str) -> None:
    assert classify(raw) is None


def _bounds(raw: str) -> tuple[str, str]:
    found = ip_value(raw)
    assert found is not None
    assert found.ip_first is not None
    assert found.ip_last is not None
    return found.ip_first, found.ip_last


def test_ip_bounds_make_containment_a_range_test() -> None:
    first, last = _bounds("203.0.113.0/24")
    inside, inside_last = _bounds("203.0.113.200")
    assert inside == inside_last
    assert first <= inside <= last
    assert not first <= _bounds("203.0.114.1")[0] <= last
    assert not first <= _bounds("203.0.112.255")[0] <= last
    # IPv4 is stored IPv4-mapped, so the two families never overlap.
    assert inside == "00000000000000000000ffffcb0071c8"
    v6_first, v6_last = _bounds("2001:db8::/32")
    assert v6_first <= _bounds("2001:db8:ffff::1")[0] <= v6_last
    assert not v6_first <= inside <= v6_last


def test_normalise_checks_the_kind_it_is_told() -> None:
    assert normalise(K.MD5, "d41d8cd98f00b204e9800998ecf8427e") == Value(
        K.MD5, "d41d8cd98f00b204e9800998ecf8427e"
    )
    assert normalise(K.SHA1, "d41d8cd98f00b204e9800998ecf8427e") is None
    assert normalise(K.URL, "hxxp://evil[.]example") == Value(K.URL, "http://evil.example/")
    assert normalise(K.DOMAIN, "198.51.100.7") is None
    assert normalise(K.ASN, "64512") == Value(K.ASN, "AS64512")


def _pairs(values: list[Value]) -> list[tuple[ValueKind, str]]:
    return [(v.kind, v.value) for v in values]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[ipv4-addr:value = '198.51.100.7']", [(K.IPV4, "198.51.100.7")]),
        ("[ipv4-addr:value='198.51.100.7']", [(K.IPV4, "198.51.100.7")]),
        ("[ipv6-addr:value = '2001:DB8::1']", [(K.IPV6, "2001:db8::1")]),
        ("[ipv4-addr:value = '10.0.0.0/8']", [(K.CIDR, "10.0.0.0/8")]),
        (
            "[ipv4-addr:value = '198.51.100.7' OR ipv4-addr:value = '203.0.113.9']",
            [(K.IPV4, "198.51.100.7"), (K.IPV4, "203.0.113.9")],
        ),
        (
            "[domain-name:value = 'Evil.EXAMPLE'] AND [url:value = 'HTTP://Evil.example:80/x#f']",
            [(K.DOMAIN, "evil.example"), (K.URL, "http://evil.example/x")],
        ),
        ("[ipv4-addr:value ISSUBSET '198.51.100.0/24']", [(K.CIDR, "198.51.100.0/24")]),
        ("[ipv6-addr:value ISSUBSET '2001:db8::/32']", [(K.CIDR, "2001:db8::/32")]),
        (
            "[file:hashes.'SHA-256' = "
            "'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855']",
            [(K.SHA256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")],
        ),
        (
            "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']",
            [(K.SHA1, "da39a3ee5e6b4b0d3255bfef95601890afd80709")],
        ),
        (
            "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
            [(K.MD5, "d41d8cd98f00b204e9800998ecf8427e")],
        ),
        (
            "[file:hashes.md5 = 'd41d8cd98f00b204e9800998ecf8427e']",
            [(K.MD5, "d41d8cd98f00b204e9800998ecf8427e")],
        ),
        # A hash whose length does not fit its name is no value.
        ("[file:hashes.'SHA-1' = 'd41d8cd98f00b204e9800998ecf8427e']", []),
        ("[email-addr:value = 'o\\'brien@evil.example']", [(K.EMAIL, "o'brien@evil.example")]),
        ("[autonomous-system:number = 15169]", [(K.ASN, "AS15169")]),
        # Negated comparisons say what a value is not: never index them.
        ("[domain-name:value NOT = 'good.example']", []),
        ("[domain-name:value != 'good.example']", []),
        ("[ipv4-addr:value NOT ISSUBSET '10.0.0.0/8']", []),
        ("[file:hashes.MD5 NOT = 'd41d8cd98f00b204e9800998ecf8427e']", []),
        ("[autonomous-system:number != 15169]", []),
        (
            "[domain-name:value NOT = 'good.example' AND domain-name:value = 'evil.example']",
            [(K.DOMAIN, "evil.example")],
        ),
        # Comparisons that are not equality, and properties that carry no value.
        ("[url:value LIKE 'http://%.evil.example/%']", []),
        ("[domain-name:value MATCHES '^evil']", []),
        ("[file:name = 'invoice.exe']", []),
        ("[email-message:subject = 'evil.example']", []),
        ("[x509-certificate:issuer = 'CN=WEBMAIL']", []),
    ],
)
def test_from_pattern_reads_equality_comparisons(
    pattern: str, expected: list[tuple[ValueKind, str]]
) -> None:
    assert _pairs(from_pattern(pattern)) == expected


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"type": "ipv4-addr", "value": "198.51.100.7"}, [(K.IPV4, "198.51.100.7")]),
        ({"type": "ipv4-addr", "value": "10.0.0.0/8"}, [(K.CIDR, "10.0.0.0/8")]),
        ({"type": "ipv6-addr", "value": "2001:DB8::1"}, [(K.IPV6, "2001:db8::1")]),
        ({"type": "domain-name", "value": "Evil.Example"}, [(K.DOMAIN, "evil.example")]),
        ({"type": "url", "value": "HTTP://Evil.example"}, [(K.URL, "http://evil.example/")]),
        ({"type": "email-addr", "value": "A@Evil.Example"}, [(K.EMAIL, "a@evil.example")]),
        ({"type": "autonomous-system", "number": 15169}, [(K.ASN, "AS15169")]),
        (
            {
                "type": "file",
                "hashes": {
                    "MD5": "D41D8CD98F00B204E9800998ECF8427E",
                    "SHA-256": "not a hash",
                    "SSDEEP": "3:a+JraNvsgzsVqSwHq9:tJuOgzsko",
                },
            },
            [(K.MD5, "d41d8cd98f00b204e9800998ecf8427e")],
        ),
        ({"type": "domain-name", "value": "not a domain"}, []),
        ({"type": "mutex", "name": "Global\\evil"}, []),
        ({"type": "malware", "name": "evil.example", "is_family": True}, []),
        # An indicator's values come from its pattern, each once.
        (
            {
                "type": "indicator",
                "pattern_type": "stix",
                "pattern": "[domain-name:value = 'evil.example'] OR "
                "[domain-name:value = 'EVIL.example']",
            },
            [(K.DOMAIN, "evil.example")],
        ),
        # A pattern in another language is not read as STIX.
        (
            {
                "type": "indicator",
                "pattern_type": "snort",
                "pattern": "[ipv4-addr:value = '198.51.100.7']",
            },
            [],
        ),
    ],
)
def test_from_stix_reads_observables_and_indicators(
    obj: dict[str, Any], expected: list[tuple[ValueKind, str]]
) -> None:
    assert _pairs(from_stix(obj)) == expected


def test_parents_are_the_registrable_ancestors() -> None:
    assert list(parents("a.b.evil.example")) == ["b.evil.example", "evil.example"]
    assert list(parents("login.evil.example")) == ["evil.example"]
    assert list(parents("evil.example")) == []
    assert list(parents("example")) == []
