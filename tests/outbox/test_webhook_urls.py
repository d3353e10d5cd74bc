"""Which webhook URLs Balai refuses to call, and why (the guard against server-side requests)."""

from __future__ import annotations

import ipaddress

import pytest

from balai.config import Settings, load_settings
from balai.outbox.webhooks import address_problem, check_webhook_url
from tests.conftest import SECRET


def _settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"secret_key": SECRET, "database_url": "sqlite:///:memory:"}
    return load_settings(**{**values, **overrides})


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://receiver.example/hook", "must start with https://"),
        ("http://93.184.215.14/hook", "must start with https://"),
        ("https://user:password@93.184.215.14/hook", "must not contain a user name or password"),
        ("https:///hook", "has no host name"),
        ("https://exa mple.org/hook", "contains spaces or control characters"),
        ("https://93.184.215.14:0/hook", "has an invalid port"),
        ("https://93.184.215.14:99999/hook", "is not a valid URL"),
        ("https://[::1/hook", "is not a valid URL"),
        ("https://93.184.215.14/" + "x" * 2000, "is longer than 2000 characters"),
        ("https://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
        ("https://10.1.2.3/hook", "10.1.2.3 is a private address"),
        ("https://192.168.0.10:8443/hook", "192.168.0.10 is a private address"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        ("https://224.0.0.1/hook", "224.0.0.1 is a multicast address"),
        ("https://0.0.0.0/hook", "0.0.0.0 is an unspecified address"),
        ("https://240.0.0.1/hook", "240.0.0.1 is a reserved address"),
        ("https://100.64.0.1/hook", "100.64.0.1 is not a public address"),
        ("https://[::1]/hook", "::1 is a loopback address"),
        ("https://[::]/hook", "an unspecified address"),
        ("https://[fe80::1]/hook", "fe80::1 is a link-local address"),
        ("https://[fd00::1]/hook", "fd00::1 is a private address"),
        ("https://[ff02::1]/hook", "ff02::1 is a multicast address"),
        ("https://[::ffff:127.0.0.1]/hook", "a loopback address inside an IPv6 address"),
        ("https://[::ffff:10.0.0.1]/hook", "a private address inside an IPv6 address"),
        ("https://[2002:a9fe:a9fe::1]/hook", "a link-local address inside an IPv6 address"),
        ("https://[64:ff9b::a00:1]/hook", "a private address inside an IPv6 address"),
        ("https://localhost/hook", "localhost resolves to "),
    ],
)
def test_a_refused_url_says_why(url: str, reason: str) -> None:
    assert reason in (check_webhook_url(url, _settings()) or "")


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.215.14/hook",
        "https://93.184.215.14:8443/hook?token=abc",
        "https://[2606:4700:4700::1111]/hook",
    ],
)
def test_a_public_https_url_is_accepted(url: str) -> None:
    assert check_webhook_url(url, _settings()) is None


def test_http_and_private_addresses_need_their_setting_or_the_demo() -> None:
    url = "http://127.0.0.1:8080/hook"
    assert check_webhook_url(url, _settings()) == "must start with https://"
    assert check_webhook_url(url, _settings(webhook_allow_http=True)) == (
        "127.0.0.1 is a loopback address"
    )
    both = _settings(webhook_allow_http=True, webhook_allow_private=True)
    assert check_webhook_url(url, both) is None
    assert check_webhook_url(url, _settings(demo=True)) is None
    assert check_webhook_url("ftp://127.0.0.1/", both) == "must start with http:// or https://"


def test_every_address_class_of_the_guard() -> None:
    public = ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"]
    for text in public:
        assert address_problem(ipaddress.ip_address(text)) is None, text
    for text in ["127.0.0.2", "172.16.5.4", "198.18.0.1", "192.0.2.1", "::", "fc00::1"]:
        assert address_problem(ipaddress.ip_address(text)) is not None, text
