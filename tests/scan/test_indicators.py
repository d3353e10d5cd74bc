"""Indicator files a scan reads: plain and typed lists, STIX bundles, MISP events and feeds,
and the MISP warninglists that keep benign values from alerting."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from balai.intel.models import ValueKind
from balai.scan.indicators import IndicatorError, Info, Loaded, load_file
from balai.scan.matcher import Matcher
from tests.shared_data import shared

SHA256 = "b3c4ae251f8094fa15b510051835c657eaef2a6cea46075d3aec964b14a99f68"
TLP_AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"


def hits(loaded: Loaded, text: str) -> list[tuple[ValueKind, str]]:
    """(kind, indicator) of every hit of the loaded indicators in ``text``."""
    return [(hit.kind, hit.indicator) for hit in Matcher(loaded.indicators).scan(text.encode())]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


PLAIN = """\
# maltrail-style trail list
173.234.31.186          # trailing comment

45.33.32.156:8080
evil.com/x/gate.php
hxxp://bad[.]example/dl
EVIL.ORG
/only/a/path
not-an-indicator
"""


def test_plain_list_guesses_types_and_counts_what_it_skips(tmp_path: Path) -> None:
    loaded = load_file(write(tmp_path / "trails.txt", PLAIN), include_warninglisted=True)
    assert loaded.values == 5
    assert loaded.skipped == 2
    assert loaded.skipped_examples == ["line 8: /only/a/path", "line 9: not-an-indicator"]
    assert hits(loaded, "from 173.234.31.186 to 45.33.32.156:22 via www.evil.org") == [
        (ValueKind.IPV4, "173.234.31.186"),
        (ValueKind.IPV4, "45.33.32.156"),
        (ValueKind.DOMAIN, "evil.org"),
    ]
    assert hits(loaded, "GET https://evil.com/x/gate.php") == [
        (ValueKind.URL, "evil.com/x/gate.php")
    ]
    assert hits(loaded, "GET http://bad.example/dl") == [(ValueKind.URL, "http://bad.example/dl")]
    assert hits(loaded, "GET http://evil.com/x/other.php and http://bad.example/other") == []


def test_plain_list_keeps_each_value_once(tmp_path: Path) -> None:
    listing = write(tmp_path / "dup.txt", "evil.org\nEVIL.ORG\nevil.org.\n1.2.3.4\n1.2.3.4:80\n")
    loaded = load_file(listing, include_warninglisted=True)
    assert loaded.values == 2
    assert hits(loaded, "evil.org 1.2.3.4") == [
        (ValueKind.DOMAIN, "evil.org"),
        (ValueKind.IPV4, "1.2.3.4"),
    ]


TYPED = f"""\
# type<TAB>value, with Balai's, STIX's and MISP's type names
ipv4\t1.2.3.4
domain-name\tevil.com\tsome comment
sha-256\t{SHA256.upper()}
url\thxxp://evil[.]com/x
email-addr\tBob@Evil.com
ip-dst\t45.33.32.156
cidr\t45.33.40.0/24
"""


def test_typed_list_reads_every_known_type_name(tmp_path: Path) -> None:
    loaded = load_file(write(tmp_path / "typed.tsv", TYPED), include_warninglisted=True)
    assert loaded.values == 7
    assert loaded.skipped == 0
    text = (
        f"1.2.3.4 a.evil.com {SHA256} bob@evil.com 45.33.32.156 45.33.40.9\nGET http://evil.com/x\n"
    )
    assert sorted(hits(loaded, text)) == sorted(
        [
            (ValueKind.IPV4, "1.2.3.4"),
            (ValueKind.DOMAIN, "evil.com"),
            (ValueKind.SHA256, SHA256),
            (ValueKind.EMAIL, "bob@evil.com"),
            (ValueKind.DOMAIN, "evil.com"),  # the host of the e-mail address
            (ValueKind.IPV4, "45.33.32.156"),
            (ValueKind.CIDR, "45.33.40.0/24"),
            (ValueKind.DOMAIN, "evil.com"),  # the host of the URL
            (ValueKind.URL, "http://evil.com/x"),
        ]
    )


def test_typed_list_refuses_an_unknown_type_naming_its_line(tmp_path: Path) -> None:
    listing = write(tmp_path / "typed.tsv", "# header\nipv4\t1.2.3.4\n\nbogus\tx\nipv4\t5.6.7.8\n")
    with pytest.raises(IndicatorError, match=r"typed\.tsv, line 4: unknown type 'bogus'"):
        load_file(listing, include_warninglisted=True)


def test_typed_list_refuses_a_value_not_of_its_type(tmp_path: Path) -> None:
    listing = write(tmp_path / "typed.tsv", "ipv4\t1.2.3.4\nmd5\tnot-a-hash\n")
    with pytest.raises(IndicatorError, match=r"line 2: 'not-a-hash' is not a valid"):
        load_file(listing, include_warninglisted=True)


def test_a_list_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    listing = tmp_path / "latin1.txt"
    listing.write_bytes("évil.com\n".encode("latin-1"))
    with pytest.raises(IndicatorError, match="not UTF-8"):
        load_file(listing, include_warninglisted=True)


def test_a_missing_indicator_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IndicatorError, match="no such file or folder"):
        load_file(tmp_path / "absent.txt")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"type": "report"}', "neither a STIX 2.1 bundle nor a MISP event"),
        ('{"type": "bundle", "objects": "x"}', "no objects list"),
        ('{"type": "bundle", "objects": [{"type": "indicator"}]}', "has no pattern"),
    ],
)
def test_a_bad_json_file_is_refused(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(IndicatorError, match=message):
        load_file(write(tmp_path / "bad.json", content), include_warninglisted=True)


def stix_indicator(ident: str, name: str, pattern: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{ident}",
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-01T00:00:00.000Z",
        "name": name,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z",
        **extra,
    }


IP_ID = "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
DOMAIN_ID = "1a6e2a4c-9f3b-4d3e-8c55-2f0b8a3c7d10"
BUNDLE = {
    "type": "bundle",
    "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
    "objects": [
        {"type": "identity", "id": "identity--1", "name": "CERT", "spec_version": "2.1"},
        stix_indicator(
            IP_ID,
            "C2 server",
            "[ipv4-addr:value = '198.51.100.7']",
            object_marking_refs=[TLP_AMBER],
        ),
        stix_indicator(DOMAIN_ID, "Phishing domain", "[domain-name:value = 'evil.example']"),
        stix_indicator(
            "0c1d4b2e-7a3f-4e58-9b1d-6f2e8c4a9d01",
            "Withdrawn",
            "[domain-name:value = 'revoked.example']",
            revoked=True,
        ),
    ],
}


def test_stix_bundle_gives_pattern_values_with_id_and_name(tmp_path: Path) -> None:
    path = write(tmp_path / "bundle.json", json.dumps(BUNDLE))
    loaded = load_file(path, include_warninglisted=True)
    assert loaded.values == 2
    assert loaded.describe(ValueKind.IPV4, "198.51.100.7") == [
        Info(f"indicator--{IP_ID}", "C2 server", "amber")
    ]
    assert loaded.describe(ValueKind.DOMAIN, "evil.example") == [
        Info(f"indicator--{DOMAIN_ID}", "Phishing domain", None)
    ]
    assert hits(loaded, "198.51.100.7 asked www.evil.example and revoked.example") == [
        (ValueKind.IPV4, "198.51.100.7"),
        (ValueKind.DOMAIN, "evil.example"),
    ]


def test_stix_bundle_values_on_warninglists_are_left_out_by_default(tmp_path: Path) -> None:
    """198.51.100.0/24 is TEST-NET-2, on MISP's RFC 5735 list."""
    loaded = load_file(write(tmp_path / "bundle.json", json.dumps(BUNDLE)))
    assert loaded.values == 1
    assert loaded.warninglisted == 1
    assert loaded.warninglisted_examples[0].startswith("198.51.100.7 (")
    assert hits(loaded, "198.51.100.7 asked evil.example") == [(ValueKind.DOMAIN, "evil.example")]


def test_the_apt1_stix_bundle_gives_its_networks_domains_and_hashes() -> None:
    loaded = load_file(shared("stix/apt1.json"))
    assert loaded.describe(ValueKind.DOMAIN, "hugesoft.org") == [
        Info("indicator--3f3ff9f1-bb4e-4392-89e5-1991179042ba", "FQDN hugesoft.org", None)
    ]
    text = (
        "a 223.167.255.255 b 223.168.0.0 c mail.arrowservice.net d msnhome.org.uk\n"
        "e 001dd76872d80801692ff942308c64e6 f 4c:0b:1d:19:74:86:a7:66\n"
    )
    assert hits(loaded, text) == [
        (ValueKind.CIDR, "223.166.0.0/15"),
        (ValueKind.DOMAIN, "arrowservice.net"),
        (ValueKind.MD5, "001dd76872d80801692ff942308c64e6"),
    ]


def test_a_real_misp_event_gives_its_to_ids_attributes_only() -> None:
    """The CIRCL Xorist event: three hashes for detection, two links and notes that are not."""
    loaded = load_file(shared("misp/circl-57c4445b.json"))
    assert loaded.values == 3
    md5 = "0749bae92ca336a02c83d126e04ec628"
    assert loaded.describe(ValueKind.MD5, md5) == [Info(None, "Ransomware - Xorist", "white")]
    text = (
        f"dropped {md5.upper()} sha1=77b0c41b7d340b8a3d903f21347bbf06aa766b5b\n"
        "GET http://www.xylibox.com/2011/06/have-fun-with-trojan-ransomwin32xorist.html\n"
    )
    assert hits(loaded, text) == [
        (ValueKind.MD5, md5),
        (ValueKind.SHA1, "77b0c41b7d340b8a3d903f21347bbf06aa766b5b"),
    ]


def misp_event(uuid: str, info: str, attributes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Event": {
            "uuid": uuid,
            "info": info,
            "Tag": [{"name": "tlp:green"}],
            "Attribute": attributes[1:],
            "Object": [{"name": "file", "Attribute": attributes[:1]}],
        }
    }


def attribute(kind: str, value: str, to_ids: bool | str = True) -> dict[str, Any]:
    return {"type": kind, "value": value, "to_ids": to_ids, "category": "Network activity"}


EVENT = misp_event(
    "5f1c3b0e-7c2a-4f1e-9d7b-3a6c2e1f0a11",
    "Phishing wave",
    [
        attribute("filename|md5", "invoice.exe|0749bae92ca336a02c83d126e04ec628"),
        attribute("domain|ip", "evil.example|45.33.32.156"),
        attribute("ip-dst|port", "45.33.32.157|443", "1"),
        attribute("url", "http://evil.example/login"),
        attribute("email-src", "ceo@phish.example"),
        attribute("domain", "left-out.example", False),
        attribute("ip-src", "45.33.32.200", "0"),
        attribute("text", "not an indicator"),
    ],
)


def test_misp_event_reads_to_ids_attributes_in_the_event_and_its_objects(
    tmp_path: Path,
) -> None:
    loaded = load_file(write(tmp_path / "event.json", json.dumps(EVENT)))
    assert loaded.values == 6
    assert loaded.describe(ValueKind.EMAIL, "ceo@phish.example") == [
        Info(None, "Phishing wave", "green")
    ]
    text = (
        "0749bae92ca336a02c83d126e04ec628 45.33.32.156 45.33.32.157:443 ceo@phish.example\n"
        "left-out.example 45.33.32.200\n"
    )
    assert hits(loaded, text) == [
        (ValueKind.MD5, "0749bae92ca336a02c83d126e04ec628"),
        (ValueKind.IPV4, "45.33.32.156"),
        (ValueKind.IPV4, "45.33.32.157"),
        (ValueKind.EMAIL, "ceo@phish.example"),
    ]
    assert (ValueKind.URL, "http://evil.example/login") in hits(
        loaded, "GET http://evil.example/login"
    )


def misp_feed(folder: Path, events: dict[str, dict[str, Any]]) -> Path:
    folder.mkdir()
    manifest = {uuid: {"info": event["Event"]["info"]} for uuid, event in events.items()}
    write(folder / "manifest.json", json.dumps(manifest))
    for uuid, event in events.items():
        write(folder / f"{uuid}.json", json.dumps(event))
    return folder


def test_misp_feed_folder_reads_every_event_its_manifest_names(tmp_path: Path) -> None:
    second = misp_event(
        "9b3f0d6a-2e4c-4b8a-8f1d-0c5e7a9b2d44",
        "Second event",
        [attribute("sha256", SHA256), attribute("hostname", "c2.other.example")],
    )
    events = {"5f1c3b0e-7c2a-4f1e-9d7b-3a6c2e1f0a11": EVENT, "9b3f0d6a": second}
    loaded = load_file(misp_feed(tmp_path / "feed", events))
    assert loaded.values == 8
    assert hits(loaded, f"{SHA256} c2.other.example 45.33.32.156") == [
        (ValueKind.SHA256, SHA256),
        (ValueKind.DOMAIN, "c2.other.example"),
        (ValueKind.IPV4, "45.33.32.156"),
    ]


def test_misp_feed_with_a_real_event(tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    uuid = "57c4445b-c548-4654-af0b-4be3950d210f"
    shutil.copyfile(shared("misp/circl-57c4445b.json"), feed / f"{uuid}.json")
    write(feed / "manifest.json", json.dumps({uuid: {"info": "Ransomware - Xorist"}}))
    assert load_file(feed).values == 3


def test_misp_feed_naming_a_missing_event_is_refused(tmp_path: Path) -> None:
    feed = misp_feed(tmp_path / "feed", {"5f1c3b0e-7c2a-4f1e-9d7b-3a6c2e1f0a11": EVENT})
    manifest = json.loads((feed / "manifest.json").read_text())
    manifest["0d6e1c4b-3a2f-4e1d-9c8b-7a6f5e4d3c2b"] = {"info": "gone"}
    write(feed / "manifest.json", json.dumps(manifest))
    with pytest.raises(
        IndicatorError, match=r"0d6e1c4b-3a2f-4e1d-9c8b-7a6f5e4d3c2b\.json is missing"
    ):
        load_file(feed)


def test_a_folder_without_a_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notafeed").mkdir()
    with pytest.raises(IndicatorError, match=r"no manifest\.json"):
        load_file(tmp_path / "notafeed")


WARNINGLISTED = """\
8.8.8.8
10.0.0.0/8
2001:4860:4860::8888
google.com
d41d8cd98f00b204e9800998ecf8427e
173.234.31.186
"""
LOG_LINE = (
    "8.8.8.8 10.1.2.3 2001:4860:4860::8888 google.com d41d8cd98f00b204e9800998ecf8427e"
    " 173.234.31.186"
)


def test_warninglisted_values_never_alert_by_default(tmp_path: Path) -> None:
    loaded = load_file(write(tmp_path / "list.txt", WARNINGLISTED))
    assert loaded.values == 1
    assert loaded.warninglisted == 5
    assert hits(loaded, LOG_LINE) == [(ValueKind.IPV4, "173.234.31.186")]


def test_warninglisted_values_alert_when_asked_for(tmp_path: Path) -> None:
    loaded = load_file(write(tmp_path / "list.txt", WARNINGLISTED), include_warninglisted=True)
    assert loaded.values == 6
    assert loaded.warninglisted == 0
    assert hits(loaded, LOG_LINE) == [
        (ValueKind.IPV4, "8.8.8.8"),
        (ValueKind.CIDR, "10.0.0.0/8"),
        (ValueKind.IPV6, "2001:4860:4860::8888"),
        (ValueKind.DOMAIN, "google.com"),
        (ValueKind.MD5, "d41d8cd98f00b204e9800998ecf8427e"),
        (ValueKind.IPV4, "173.234.31.186"),
    ]
