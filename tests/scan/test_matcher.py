"""What the scanner's matcher finds in log text: each rule of the issue, positive and negative.

The indicators go through ``load_file`` (a plain list, warninglists off) so that each case also
holds the normalisation an indicator gets on its way into the matcher.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from balai.intel.models import ValueKind
from balai.scan.indicators import load_file
from balai.scan.matcher import Hit, Matcher

MD5 = "0749bae92ca336a02c83d126e04ec628"  # from the CIRCL event in the shared data
SHA1 = "77b0c41b7d340b8a3d903f21347bbf06aa766b5b"
SHA256 = "b3c4ae251f8094fa15b510051835c657eaef2a6cea46075d3aec964b14a99f68"


def scan(tmp_path: Path, indicators: list[str], text: str) -> list[Hit]:
    """The hits of ``text`` against a plain indicator list holding ``indicators``."""
    listing = tmp_path / "indicators.txt"
    listing.write_text("\n".join(indicators) + "\n", encoding="utf-8")
    loaded = load_file(listing, include_warninglisted=True)
    assert loaded.skipped == 0, loaded.skipped_examples
    return Matcher(loaded.indicators).scan(text.encode())


def found(tmp_path: Path, indicators: list[str], text: str) -> list[tuple[str, str]]:
    """(indicator, matched text) of every hit, sorted."""
    return sorted((hit.indicator, hit.text) for hit in scan(tmp_path, indicators, text))


IPV4_CASES = [
    ("accepted from 1.2.3.4 port 22", [("1.2.3.4", "1.2.3.4")]),
    ("connect to 1.2.3.4:443 ok", [("1.2.3.4", "1.2.3.4")]),
    ("rhost=1.2.3.4, user=root", [("1.2.3.4", "1.2.3.4")]),
    ("[1.2.3.4] failed", [("1.2.3.4", "1.2.3.4")]),
    ("from 11.2.3.45 port 22", []),
    ("from 1.2.3.45 port 22", []),
    ("from 11.2.3.4 port 22", []),
    ("from 1.2.3.40 port 22", []),
    ("version 1.2.3.4.5 released", []),
]


@pytest.mark.parametrize(("text", "expected"), IPV4_CASES)
def test_ipv4_is_a_whole_address_token(
    tmp_path: Path, text: str, expected: list[tuple[str, str]]
) -> None:
    assert found(tmp_path, ["1.2.3.4"], text) == expected


@pytest.mark.parametrize(
    ("network", "address", "inside"),
    [
        ("45.33.32.0/24", "45.33.32.0", True),
        ("45.33.32.0/24", "45.33.32.255", True),
        ("45.33.32.0/24", "45.33.32.77", True),
        ("45.33.32.0/24", "45.33.33.0", False),
        ("45.33.32.0/24", "45.33.31.255", False),
        # a /15 from the APT1 report spans two /16s: the first and the last address of each
        ("223.166.0.0/15", "223.166.0.0", True),
        ("223.166.0.0/15", "223.167.255.255", True),
        ("223.166.0.0/15", "223.168.0.0", False),
        ("223.166.0.0/15", "223.165.255.255", False),
        ("2001:db8:1::/48", "2001:db8:1::", True),
        ("2001:db8:1::/48", "2001:db8:1:ffff:ffff:ffff:ffff:ffff", True),
        ("2001:db8:1::/48", "2001:DB8:0001:0000::5", True),
        ("2001:db8:1::/48", "2001:db8:2::", False),
        ("2001:db8:1::/48", "2001:db8:0:ffff:ffff:ffff:ffff:ffff", False),
    ],
)
def test_an_address_inside_a_network_matches_up_to_its_edges(
    tmp_path: Path, network: str, address: str, inside: bool
) -> None:
    hits = scan(tmp_path, [network], f"conn from {address} port 80")
    expected = [(ValueKind.CIDR, network, address)] if inside else []
    assert [(hit.kind, hit.indicator, hit.text) for hit in hits] == expected


def test_an_address_with_a_port_inside_a_network_matches(tmp_path: Path) -> None:
    assert found(tmp_path, ["45.33.32.0/24"], "dst=45.33.32.9:8443") == [
        ("45.33.32.0/24", "45.33.32.9")
    ]


@pytest.mark.parametrize(
    "written",
    [
        "2001:db8::1",
        "2001:DB8::1",
        "2001:0db8:0000:0000:0000:0000:0000:0001",
        "2001:0DB8:0:0:0:0:0:1",
        "2001:db8:0::0:1",
        "[2001:db8::1]:443",
    ],
)
def test_ipv6_written_any_way_matches_the_canonical_indicator(tmp_path: Path, written: str) -> None:
    hits = scan(tmp_path, ["2001:DB8:0::1"], f"client {written} said hello")
    assert [(hit.kind, hit.indicator) for hit in hits] == [(ValueKind.IPV6, "2001:db8::1")]
    assert hits[0].text == written.removeprefix("[").removesuffix("]:443")


@pytest.mark.parametrize(
    ("indicator", "written"),
    [
        ("1.2.3.4", "::ffff:1.2.3.4"),
        ("1.2.3.4", "::FFFF:1.2.3.4"),
        ("1.2.3.4", "::ffff:102:304"),
        ("45.33.32.0/24", "::ffff:45.33.32.7"),
    ],
)
def test_ipv4_mapped_address_is_one_hit_of_the_ipv4_indicator(
    tmp_path: Path, indicator: str, written: str
) -> None:
    """One address written once is one hit: counts (and sightings sent) must not double."""
    hits = scan(tmp_path, [indicator], f"accepted from {written} port 22")
    assert [(hit.line, hit.indicator) for hit in hits] == [(1, indicator)]


@pytest.mark.parametrize(
    "other", ["2001:db8::10", "2001:db8::1:1", "2001:db8::11", "12001:db8::1", "2001:db8::"]
)
def test_ipv6_other_addresses_do_not_match(tmp_path: Path, other: str) -> None:
    assert found(tmp_path, ["2001:db8::1"], f"client {other} said hello") == []


DOMAIN_HITS = [
    ("lookup evil.com ok", "evil.com"),
    ("lookup a.b.evil.com ok", "a.b.evil.com"),
    ("lookup EVIL.Com ok", "EVIL.Com"),
    ("lookup WWW.Evil.COM ok", "WWW.Evil.COM"),
    ("query evil.com. IN A", "evil.com"),
    ("query a.evil.com. IN A", "a.evil.com"),
    ("from user@mail.evil.com", "mail.evil.com"),
    ("from <user@evil.com>", "evil.com"),
    ("GET http://evil.com/x HTTP/1.1", "evil.com"),
    ("GET https://cdn.evil.com:8443/x", "cdn.evil.com"),
    ("CONNECT evil.com:443", "evil.com"),
]


@pytest.mark.parametrize(("text", "matched"), DOMAIN_HITS)
def test_domain_matches_itself_and_its_subdomains(tmp_path: Path, text: str, matched: str) -> None:
    hits = scan(tmp_path, ["evil.com"], text)
    assert [(hit.kind, hit.indicator, hit.text) for hit in hits] == [
        (ValueKind.DOMAIN, "evil.com", matched)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "lookup notevil.com ok",
        "lookup evil.com.au ok",
        "lookup www.evil.com.au ok",
        "lookup evil.co ok",
        "lookup evil-com.org ok",
        "lookup evil.community ok",
        "from user@notevil.com",
        "GET http://notevil.com/evil.com.html",
    ],
)
def test_domain_does_not_match_lookalikes(tmp_path: Path, text: str) -> None:
    assert found(tmp_path, ["evil.com"], text) == []


def test_domain_indicator_is_compared_case_insensitively(tmp_path: Path) -> None:
    assert found(tmp_path, ["Evil.COM."], "lookup sub.evil.com") == [("evil.com", "sub.evil.com")]


URL = "http://evil.com/x"


@pytest.mark.parametrize(
    ("indicator", "text", "matches"),
    [
        (URL, "GET http://evil.com/x HTTP/1.1", True),
        (URL, "GET HTTP://EVIL.COM/x HTTP/1.1", True),
        (URL, "GET http://evil.com:80/x HTTP/1.1", True),
        (URL, "seen hxxp://evil[.]com/x in a report", True),
        (URL, "seen hXXp://evil[.]com/x in a report", True),
        (URL, 'href="http://evil.com/x".', True),
        (URL, "GET http://evil.com/y HTTP/1.1", False),
        (URL, "GET http://evil.com/X HTTP/1.1", False),
        (URL, "GET http://evil.com/x/y HTTP/1.1", False),
        (URL, "GET http://evil.com/xy HTTP/1.1", False),
        (URL, "GET http://evil.com:8080/x HTTP/1.1", False),
        (URL, "GET http://notevil.com/x HTTP/1.1", False),
        (URL, "GET https://evil.com/x HTTP/1.1", False),
        ("https://evil.com/x", "GET https://evil.com:443/x", True),
        ("https://evil.com/x", "GET HTTPS://Evil.Com/x", True),
        ("hxxp://evil[.]com/x", "GET http://evil.com/x HTTP/1.1", True),
        ("HTTP://EVIL.com:80/x", "GET http://evil.com/x HTTP/1.1", True),
        ("http://evil.com:8080/x", "GET http://evil.com:8080/x", True),
        ("http://evil.com:8080/x", "GET http://evil.com/x", False),
        ("http://45.33.32.9/x", "GET http://45.33.32.9/x", True),
        ("http://45.33.32.9/x", "GET http://45.33.32.9/y", False),
        ("http://[2001:db8::1]/x", "GET http://[2001:db8::1]/x", True),
        ("http://[2001:db8::1]/x", "GET http://[2001:DB8::1]/x", True),
    ],
)
def test_urls_are_compared_normalised(
    tmp_path: Path, indicator: str, text: str, matches: bool
) -> None:
    hits = scan(tmp_path, [indicator], text)
    assert [hit.kind for hit in hits] == ([ValueKind.URL] if matches else [])


def test_url_with_an_ipv6_host_written_another_way_matches(tmp_path: Path) -> None:
    """The host of a URL is compared normalised; for an IPv6 literal that is its compressed form."""
    hits = scan(tmp_path, ["http://[2001:db8::1]/x"], "GET http://[2001:0db8:0:0::1]/x")
    assert [(hit.kind, hit.indicator) for hit in hits] == [
        (ValueKind.URL, "http://[2001:db8::1]/x")
    ]


def test_url_hit_names_the_normalised_indicator(tmp_path: Path) -> None:
    hits = scan(tmp_path, ["HXXP://Evil[.]com:80/x"], "GET HTTP://EVIL.COM:80/x HTTP/1.1")
    assert [(hit.indicator, hit.text) for hit in hits] == [
        ("http://evil.com/x", "HTTP://EVIL.COM:80/x")
    ]


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("GET http://evil.com/gate.php?id=1", True),
        ("GET https://evil.com/gate.php?id=1", True),
        ("GET HTTPS://EVIL.COM:443/gate.php?id=1", True),
        ("GET https://evil.com/gate.php?id=2", False),
        ("GET https://evil.com/other.php?id=1", False),
    ],
)
def test_url_listed_without_scheme_matches_http_and_https(
    tmp_path: Path, text: str, matches: bool
) -> None:
    hits = scan(tmp_path, ["evil.com/gate.php?id=1"], text)
    assert [(hit.kind, hit.indicator) for hit in hits] == (
        [(ValueKind.URL, "evil.com/gate.php?id=1")] if matches else []
    )


@pytest.mark.parametrize(
    ("indicator", "text", "matches"),
    [
        (MD5, f"md5={MD5}", True),
        (MD5, f"md5 {MD5.upper()} ok", True),
        (MD5.upper(), f"hash:{MD5}", True),
        (MD5, f"x a{MD5} y", False),
        (MD5, f"x {MD5}0 y", False),
        (MD5, f"x {MD5[:-1]} y", False),
        (SHA1, f"sha1={SHA1}", True),
        (SHA1, f"sha256={SHA1}{'0' * 24}", False),
        (SHA1, f"sha256={'f' * 24}{SHA1}", False),
        (SHA256, f"sha256={SHA256.upper()}", True),
        (SHA256, f"x {SHA256}ab y", False),
    ],
)
def test_hashes_are_whole_hex_tokens(
    tmp_path: Path, indicator: str, text: str, matches: bool
) -> None:
    hits = scan(tmp_path, [indicator], text)
    assert [hit.indicator for hit in hits] == ([indicator.lower()] if matches else [])


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("from=<bob@evil.com> to=<alice@example.org>", "bob@evil.com"),
        ("From: BOB@Evil.COM", "BOB@Evil.COM"),
        ("mailto:bob@evil.com", "bob@evil.com"),
    ],
)
def test_email_matches_the_whole_address_in_any_case(
    tmp_path: Path, text: str, matched: str
) -> None:
    hits = scan(tmp_path, ["Bob@Evil.com"], text)
    assert [(hit.kind, hit.indicator, hit.text) for hit in hits] == [
        (ValueKind.EMAIL, "bob@evil.com", matched)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "from=<xbob@evil.com>",
        "from=<user.bob@evil.com>",
        "from=<bob@evil.com.au>",
        "from=<bob@mail.evil.com>",
        "from=<alice@evil.com>",
        "lookup evil.com",
    ],
)
def test_email_does_not_match_other_addresses(tmp_path: Path, text: str) -> None:
    assert found(tmp_path, ["bob@evil.com"], text) == []


def test_email_is_not_matched_inside_a_plus_address(tmp_path: Path) -> None:
    """alice+bob@evil.com is alice's mailbox, not bob@evil.com (RFC 5322 allows + there)."""
    assert found(tmp_path, ["bob@evil.com"], "from=<alice+bob@evil.com>") == []


def test_email_with_a_plus_in_its_local_part_matches(tmp_path: Path) -> None:
    assert found(tmp_path, ["bob+invoice@evil.com"], "from=<bob+invoice@evil.com>") == [
        ("bob+invoice@evil.com", "bob+invoice@evil.com")
    ]


def test_hits_carry_line_number_and_line_text(tmp_path: Path) -> None:
    text = "first 1.2.3.4\nsecond clean\r\nthird evil.com and 1.2.3.4\nlast evil.com"
    hits = scan(tmp_path, ["1.2.3.4", "evil.com"], text)
    assert [(hit.line, hit.indicator, hit.line_text) for hit in hits] == [
        (1, "1.2.3.4", "first 1.2.3.4"),
        (3, "evil.com", "third evil.com and 1.2.3.4"),
        (3, "1.2.3.4", "third evil.com and 1.2.3.4"),
        (4, "evil.com", "last evil.com"),
    ]


def test_first_line_offsets_the_line_numbers(tmp_path: Path) -> None:
    listing = tmp_path / "i.txt"
    listing.write_text("1.2.3.4\n")
    matcher = Matcher(load_file(listing, include_warninglisted=True).indicators)
    assert [hit.line for hit in matcher.scan(b"a\n1.2.3.4\n", first_line=41)] == [42]


def test_many_indicators_on_many_lines_are_each_placed(tmp_path: Path) -> None:
    """More distinct tokens found than the one-by-one search handles: the line-by-line path."""
    values = [f"45.33.{n}.1" for n in range(12)]
    lines = [f"row {n} {value} and {value}" for n, value in enumerate(values, start=1)]
    hits = scan(tmp_path, values, "\n".join(lines) + "\n")
    expected = [(n, value) for n, value in enumerate(values, start=1) for _ in range(2)]
    assert [(hit.line, hit.indicator) for hit in hits] == expected


def test_a_matcher_keeps_finding_a_token_it_has_seen(tmp_path: Path) -> None:
    """Its caches of clean and known tokens must not change what a later chunk gives."""
    listing = tmp_path / "i.txt"
    listing.write_text("evil.com\n")
    matcher = Matcher(load_file(listing, include_warninglisted=True).indicators)
    for _ in range(3):
        assert [hit.text for hit in matcher.scan(b"clean.org www.evil.com\n")] == ["www.evil.com"]
        assert matcher.scan(b"clean.org notevil.com\n") == []


@pytest.mark.parametrize("text", [". - .", "-", "@ . _", "x . -"])
def test_lines_of_lone_punctuation_scan_without_error(tmp_path: Path, text: str) -> None:
    assert found(tmp_path, ["evil.com", "1.2.3.4"], text) == []


def test_a_dotted_token_after_lone_punctuation_still_matches(tmp_path: Path) -> None:
    assert found(tmp_path, ["evil.com"], "- . www.evil.com") == [("evil.com", "www.evil.com")]
