"""Indicator exports for detection engines: each test holds one rule of the target format."""

from __future__ import annotations

import base64
import ipaddress
import re

import dns.name
import dns.rdatatype
import dns.zone
import pytest

from balai.intel.models import ValueKind
from balai.scan.exports import (
    EXPORT_FORMATS,
    IPREP_CATEGORY,
    ExportItem,
    iprep_score,
    rpz_ip_owner,
    rpz_zone,
    suricata_files,
    text_lists,
    zeek_intel,
)

K = ValueKind
HOSTILE = 'Evil\tcorp\nC2, "quoted" \\x41 \r\nnaïve € 日本'
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ORIGIN = "rpz.balai.example"


def item(
    kind: ValueKind,
    value: str,
    name: str | None = "Test indicator",
    tlp: str = "amber",
    score: float | None = 50.0,
    stix_id: str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
) -> ExportItem:
    """An export item with plausible defaults."""
    return ExportItem(kind=kind, value=value, stix_id=stix_id, name=name, tlp=tlp, score=score)


def sample() -> list[ExportItem]:
    """One item of every kind, a duplicate, and values that differ only in kind or case."""
    return [
        item(K.IPV4, "198.51.100.7", score=90.0),
        item(K.IPV4, "198.51.100.7", score=20.0),
        item(K.IPV6, "2001:db8::1"),
        item(K.CIDR, "203.0.113.0/24", score=None),
        item(K.DOMAIN, "evil.example"),
        item(K.DOMAIN, "c2.bad.example"),
        item(K.URL, "http://evil.example/payload?id=1"),
        item(K.EMAIL, "phish@evil.example"),
        item(K.MD5, MD5),
        item(K.SHA1, SHA1),
        item(K.SHA256, SHA256),
        item(K.ASN, "AS64496"),
    ]


def test_the_formats_are_named() -> None:
    assert EXPORT_FORMATS == ("zeek", "suricata", "rpz", "text")


# Zeek


def zeek_read(lines: list[str]) -> list[dict[str, str | None]]:
    """Read an intel file as Zeek's ASCII input reader does: tabs, "-" unset, \\xNN escapes."""
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    names = lines[0].rstrip("\n").split("\t")
    assert names[0] == "#fields"
    rows = []
    for line in lines[1:]:
        fields = line.rstrip("\n").split("\t")
        assert len(fields) == len(names) - 1
        rows.append(
            {
                name: None
                if field == "-"
                else re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), field)
                for name, field in zip(names[1:], fields, strict=True)
            }
        )
    return rows


def test_zeek_header_line_is_exact() -> None:
    lines = list(zeek_intel(sample(), "balai"))
    assert lines[0] == "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\n"


def test_zeek_empty_export_is_the_header_alone() -> None:
    assert list(zeek_intel([], "balai")) == [
        "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\n"
    ]


@pytest.mark.parametrize(
    ("kind", "value", "indicator", "zeek_type"),
    [
        (K.IPV4, "198.51.100.7", "198.51.100.7", "Intel::ADDR"),
        (K.IPV6, "2001:db8::1", "2001:db8::1", "Intel::ADDR"),
        (K.CIDR, "203.0.113.0/24", "203.0.113.0/24", "Intel::SUBNET"),
        (K.DOMAIN, "evil.example", "evil.example", "Intel::DOMAIN"),
        (K.URL, "http://evil.example/p?id=1", "evil.example/p?id=1", "Intel::URL"),
        (K.URL, "https://evil.example:8443/p", "evil.example:8443/p", "Intel::URL"),
        (K.EMAIL, "phish@evil.example", "phish@evil.example", "Intel::EMAIL"),
        (K.MD5, MD5, MD5, "Intel::FILE_HASH"),
        (K.SHA1, SHA1, SHA1, "Intel::FILE_HASH"),
        (K.SHA256, SHA256, SHA256, "Intel::FILE_HASH"),
    ],
)
def test_zeek_fields_in_order_with_the_type_and_urls_without_scheme(
    kind: ValueKind, value: str, indicator: str, zeek_type: str
) -> None:
    lines = list(zeek_intel([item(kind, value, name="Emotet C2", tlp="amber")], "CERT-X"))
    assert len(lines) == 2
    [row] = zeek_read(lines)
    assert row == {
        "indicator": indicator,
        "indicator_type": zeek_type,
        "meta.source": "CERT-X",
        "meta.desc": "Emotet C2 (TLP:AMBER, indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f)",
        "meta.url": None,
    }
    assert "://" not in lines[1]


def test_zeek_leaves_out_asns_and_dedupes_indicator_and_type() -> None:
    rows = zeek_read(list(zeek_intel(sample(), "balai")))
    pairs = [(row["indicator"], row["indicator_type"]) for row in rows]
    assert len(pairs) == len(set(pairs)) == 10  # 12 items: one duplicate, one ASN
    assert not any("AS64496" in str(row["indicator"]) for row in rows)
    # http:// and https:// forms of one URL are one Zeek indicator.
    urls = [item(K.URL, "http://evil.example/a"), item(K.URL, "https://evil.example/a")]
    assert len(list(zeek_intel(urls, "balai"))) == 2


def test_zeek_keeps_the_first_description_of_a_duplicate() -> None:
    items = [item(K.DOMAIN, "evil.example", name="first"), item(K.DOMAIN, "evil.example", "2nd")]
    [row] = zeek_read(list(zeek_intel(items, "balai")))
    assert str(row["meta.desc"]).startswith("first (")


def test_zeek_hostile_name_and_source_stay_in_their_fields() -> None:
    lines = list(zeek_intel([item(K.DOMAIN, "evil.example", name=HOSTILE)], "CERT\tX\nY"))
    assert len(lines) == 2
    [row] = zeek_read(lines)
    assert row["meta.source"] == "CERT X Y"
    # Tab, newline and CR become spaces; commas, quotes, backslashes and non-ASCII survive.
    assert row["meta.desc"] == (
        'Evil corp C2, "quoted" \\x41   naïve € 日本 '
        "(TLP:AMBER, indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f)"
    )


def test_zeek_lone_hyphen_is_not_read_as_unset() -> None:
    [row] = zeek_read(list(zeek_intel([item(K.DOMAIN, "evil.example")], "-")))
    assert row["meta.source"] == "-"


def test_zeek_refuses_an_empty_source() -> None:
    with pytest.raises(ValueError, match="source"):
        list(zeek_intel([], " \t"))


# Suricata


def rules_of(files: dict[str, bytes]) -> list[str]:
    """The rule lines of balai.rules, comments and blank lines left out."""
    text = files["balai.rules"].decode()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_suricata_domains_are_base64_lines_that_decode_to_the_domains() -> None:
    files = suricata_files(sample(), "balai")
    lines = files["domains.lst"].decode().splitlines()
    assert [base64.b64decode(line, validate=True).decode() for line in lines] == [
        "c2.bad.example",
        "evil.example",
    ]


@pytest.mark.parametrize(
    ("name", "digits", "value"),
    [("md5.lst", 32, MD5), ("sha1.lst", 40, SHA1), ("sha256.lst", 64, SHA256)],
)
def test_suricata_hash_lists_are_lower_case_hex_one_a_line(
    name: str, digits: int, value: str
) -> None:
    kind = {32: K.MD5, 40: K.SHA1, 64: K.SHA256}[digits]
    other = "0" * digits
    files = suricata_files([item(kind, value), item(kind, other), item(kind, value)], "balai")
    lines = files[name].decode().splitlines()
    assert lines == [other, value]
    assert all(re.fullmatch(rf"[0-9a-f]{{{digits}}}", line) for line in lines)


def test_suricata_iprep_lines_are_address_category_score() -> None:
    files = suricata_files(sample(), "balai")
    lines = files["iprep/balai.list"].decode().splitlines()
    assert lines == sorted(lines)
    parsed = {}
    for line in lines:
        address, category, score = line.split(",")
        ipaddress.ip_network(address)  # an address or a CIDR network
        assert category == "1"
        assert 1 <= int(score) <= 127
        parsed[address] = int(score)
    # The duplicate keeps its highest score; no score at all gets the middle of the range.
    assert parsed == {"198.51.100.7": 114, "2001:db8::1": 64, "203.0.113.0/24": 64}


@pytest.mark.parametrize(
    ("score", "reputation"), [(0.0, 1), (0.1, 1), (50.0, 64), (99.9, 127), (100.0, 127), (None, 64)]
)
def test_iprep_score_stays_within_1_to_127(score: float | None, reputation: int) -> None:
    assert iprep_score(score) == reputation


def test_suricata_categories_file_is_id_short_name_description() -> None:
    files = suricata_files(sample(), 'CERT, of "the" north\nregion')
    [line] = files["iprep/categories.txt"].decode().splitlines()
    category_id, short_name, description = line.split(",")
    assert 0 <= int(category_id) <= 59
    assert short_name == IPREP_CATEGORY
    assert "CERT" in description
    assert f"iprep:dst,{short_name},>,0;" in files["balai.rules"].decode()


def test_suricata_rules_have_unique_sids_and_load_the_files_produced() -> None:
    files = suricata_files(sample(), "balai")
    rules = rules_of(files)
    sids = []
    for rule in rules:
        match = re.fullmatch(r"alert (\w+) (\S+) (\S+) -> (\S+) (\S+) \((.*)\)", rule)
        assert match, rule
        options = match.group(6)
        assert options.endswith(";")
        assert re.search(r'(^|; )msg:"[^";\\]+";', options)
        assert re.search(r"; rev:\d+;$", options)
        sids.append(int(re.findall(r"; sid:(\d+);", options)[0]))
    assert len(sids) == len(set(sids))
    assert all(9_700_000 <= sid < 9_700_100 for sid in sids)
    text = "\n".join(rules)
    assert text.count("dataset:isset,balai-domains, type string, load domains.lst;") == 3
    for keyword, name in [("filemd5", "md5.lst"), ("filesha1", "sha1.lst")]:
        assert f"{keyword}:{name};" in text
    assert "filesha256:sha256.lst;" in text
    referenced = re.findall(r"load ([^;,]+)[;,]|file(?:md5|sha1|sha256):([^;]+);", text)
    assert {a or b for a, b in referenced} <= set(files)


def test_suricata_rules_only_for_lists_present() -> None:
    files = suricata_files([item(K.MD5, MD5)], "balai")
    assert set(files) == {"balai.rules", "md5.lst"}
    [rule] = rules_of(files)
    assert "filemd5:md5.lst;" in rule


def test_suricata_files_end_in_newline_in_sorted_order_and_leave_urls_out() -> None:
    files = suricata_files(sample(), "balai")
    assert list(files) == sorted(files)
    assert all(content.endswith(b"\n") for content in files.values())
    assert not any(b"payload" in content for content in files.values())
    assert "urls.lst" not in files


def test_suricata_hostile_name_and_source_add_no_line() -> None:
    items = [item(K.DOMAIN, "evil.example", name=HOSTILE), item(K.IPV4, "198.51.100.7")]
    files = suricata_files(items, HOSTILE)
    assert files["balai.rules"].decode().count("\n# Balai") == 0
    for line in files["balai.rules"].decode().splitlines():
        assert line.startswith(("#", "alert "))
    assert len(files["iprep/categories.txt"].decode().splitlines()) == 1
    assert not any(HOSTILE.encode() in content for content in files.values())


# RPZ


def zone_text(items: list[ExportItem], serial: int = 2024010101) -> str:
    """The zone as one string."""
    return "".join(rpz_zone(items, ORIGIN, serial))


def test_rpz_starts_with_ttl_origin_soa_and_ns() -> None:
    lines = zone_text(sample()).splitlines()
    assert lines[0] == "$TTL 300"
    assert lines[1] == f"$ORIGIN {ORIGIN}."
    assert re.fullmatch(r"@ IN SOA \S+\. \S+\. 2024010101 \d+ \d+ \d+ \d+", lines[2])
    assert lines[3] == "@ IN NS localhost."


def test_rpz_has_the_name_and_the_wildcard_for_each_domain() -> None:
    lines = zone_text(sample()).splitlines()
    for domain in ("evil.example", "c2.bad.example"):
        assert f"{domain} CNAME ." in lines
        assert f"*.{domain} CNAME ." in lines
    # URLs, e-mail addresses, hashes and ASNs have no RPZ trigger.
    assert not any("phish" in line or MD5 in line or "payload" in line for line in lines)


@pytest.mark.parametrize(
    ("value", "owner"),
    [
        ("1.2.3.4", "32.4.3.2.1.rpz-ip"),
        ("10.0.0.0/8", "8.0.0.0.10.rpz-ip"),
        ("2001:db8::1", "128.1.zz.db8.2001.rpz-ip"),
        ("2001:db8::/32", "32.zz.db8.2001.rpz-ip"),
        ("::1", "128.1.zz.rpz-ip"),
        # One zero word is written out; of two equal runs the first is "zz" (RFC 5952).
        ("2001:db8:0:1:1:1:1:1", "128.1.1.1.1.1.0.db8.2001.rpz-ip"),
        ("2001:db8:0:0:1:0:0:1", "128.1.0.0.1.zz.db8.2001.rpz-ip"),
        ("2001:0:0:1:0:0:0:1", "128.1.zz.1.0.0.2001.rpz-ip"),
        # An IPv4-mapped address is the IPv4 trigger, as BIND writes it.
        ("::ffff:1.2.3.4", "32.4.3.2.1.rpz-ip"),
    ],
)
def test_rpz_ip_owner_names(value: str, owner: str) -> None:
    assert rpz_ip_owner(value) == owner


@pytest.mark.parametrize("value", ["0.0.0.0/0", "::/0", "not-an-address"])
def test_rpz_ip_owner_refuses_what_has_no_trigger(value: str) -> None:
    assert rpz_ip_owner(value) is None


def test_rpz_ip_triggers_are_in_the_zone() -> None:
    items = [item(K.IPV4, "1.2.3.4"), item(K.CIDR, "10.0.0.0/8"), item(K.IPV6, "2001:db8::1")]
    lines = zone_text(items).splitlines()
    for owner in ("32.4.3.2.1.rpz-ip", "8.0.0.0.10.rpz-ip", "128.1.zz.db8.2001.rpz-ip"):
        assert f"{owner} CNAME ." in lines


def test_rpz_zone_parses_with_dnspython() -> None:
    items = [*sample(), item(K.DOMAIN, "hostile.example", name=HOSTILE, stix_id="x\ny")]
    zone = dns.zone.from_text(zone_text(items), relativize=False)
    origin = dns.name.from_text(ORIGIN)
    assert zone.origin == origin
    soa = zone.get_rdataset(origin, dns.rdatatype.SOA)
    assert soa is not None
    assert soa[0].serial == 2024010101
    assert zone.get_rdataset(origin, dns.rdatatype.NS) is not None
    owners = [
        "evil.example",
        "*.evil.example",
        "c2.bad.example",
        "*.c2.bad.example",
        "hostile.example",
        "*.hostile.example",
        "32.7.100.51.198.rpz-ip",
        "24.0.113.0.203.rpz-ip",
        "128.1.zz.db8.2001.rpz-ip",
    ]
    for owner in owners:
        cname = zone.get_rdataset(f"{owner}.{ORIGIN}.", dns.rdatatype.CNAME)
        assert cname is not None, owner
        assert cname[0].target == dns.name.root  # "CNAME ." is the NXDOMAIN action
    names = {name.relativize(origin).to_text() for name in zone.nodes}
    assert names == {"@", *owners}


def test_rpz_skips_names_that_are_not_host_names_and_says_so() -> None:
    long_name = ".".join(["a" * 63] * 3 + ["b" * 40, "example"])  # 240 characters
    with pytest.raises(dns.name.NameTooLong):  # as a wildcard under the origin
        dns.name.from_text(f"*.{long_name}.{ORIGIN}.")
    items = [
        item(K.DOMAIN, "bad;name.example", stix_id="indicator--semicolon"),
        item(K.DOMAIN, "sp ace.example", stix_id="indicator--space"),
        item(K.DOMAIN, "x.rpz-ip", stix_id="indicator--trigger"),
        item(K.DOMAIN, long_name, stix_id="indicator--long"),
        item(K.DOMAIN, "ok.example"),
    ]
    text = zone_text(items)
    records = [line for line in text.splitlines() if "CNAME" in line and not line.startswith(";")]
    assert records == ["ok.example CNAME .", "*.ok.example CNAME ."]
    for stix_id in ("semicolon", "space", "trigger", "long"):
        assert f"; skipped indicator--{stix_id}: not a valid trigger name" in text
    dns.zone.from_text(text, relativize=False)


def test_rpz_comments_carry_stix_id_and_tlp_on_one_line() -> None:
    text = zone_text([item(K.DOMAIN, "evil.example", tlp="amber+strict", stix_id="a\nb")])
    assert "; a b TLP:AMBER+STRICT\nevil.example CNAME .\n" in text


def test_rpz_refuses_a_bad_origin_or_serial() -> None:
    with pytest.raises(ValueError, match="origin"):
        list(rpz_zone([], "bad origin", 1))
    with pytest.raises(ValueError, match="serial"):
        list(rpz_zone([], ORIGIN, 2**32))


# Plain lists


def test_text_lists_sorted_deduplicated_only_kinds_present() -> None:
    files = text_lists(sample())
    assert set(files) == {
        "ipv4.txt",
        "ipv6.txt",
        "cidr.txt",
        "domain.txt",
        "url.txt",
        "email.txt",
        "md5.txt",
        "sha1.txt",
        "sha256.txt",
    }
    assert files["ipv4.txt"] == b"198.51.100.7\n"
    assert files["domain.txt"] == b"c2.bad.example\nevil.example\n"
    assert text_lists([item(K.MD5, MD5), item(K.ASN, "AS64496")]) == {
        "md5.txt": f"{MD5}\n".encode()
    }
    assert text_lists([]) == {}


def test_values_with_whitespace_are_left_out_of_every_format() -> None:
    bad = [item(K.DOMAIN, "evil.example\n8.8.8.8"), item(K.IPV4, "1.2.3.4\t")]
    assert text_lists(bad) == {}
    assert len(list(zeek_intel(bad, "balai"))) == 1
    assert set(suricata_files(bad, "balai")) == {"balai.rules"}
    assert "CNAME" not in "".join(
        line for line in rpz_zone(bad, ORIGIN, 1) if not line.startswith(";")
    )


def test_text_lists_hostile_name_changes_nothing() -> None:
    plain = text_lists([item(K.DOMAIN, "evil.example")])
    assert text_lists([item(K.DOMAIN, "evil.example", name=HOSTILE)]) == plain
