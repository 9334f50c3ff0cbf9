"""nginx configurations the review of 2026-12-07 found read otherwise than nginx 1.22.1 reads them (each held to the
real nginx in tests/integration/test_lb_nginx_review_2026_12_07.py):

- proxy_ssl_name: $proxy_host is static wherever it appears, as ${proxy_host} or inside a longer name;
- proxy_ssl_verify_depth: ngx_atoi (digits only, at most 2^63-1, else nginx refuses the file), then the int that
  SSL_CTX_set_verify_depth takes (low 32 bits, signed; -1 is OpenSSL's default depth, 100);
- files nginx refuses: proxy_ssl_* in `if`, a flag that is not on/off, a duplicate location, a depth like 0x2;
- proxy_pass: host[:port] ends at "?" as at "/";
- proxy_ssl_trusted_certificate and proxy_ssl_crl take no variables: a "$" is part of the name;
- proxy_pass https://unix:/path:/ is a unix-domain socket: UNSUPPORTED_ADDRESS, not a host named "unix".
"""

from __future__ import annotations

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import _lbview, _lbview_nginx


def _items(tmp_path, http_body):
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n%s\n}\n" % http_body)
    return _lbview.lb_backends("nginx", str(conf))


def _one(tmp_path, location, outside=""):
    (item,) = _items(tmp_path, "%s\nserver { listen 8080; location /x/ { %s } }" % (outside, location))
    return item


@pytest.mark.parametrize("url, name, checked", [
    ("https://pool/", "${proxy_host}", "pool"),
    ("https://pool/", "$proxy_host:1", "pool"),
    ("https://pool/", "${proxy_host}:1", "pool"),
    ("https://pool/", "$PROXY_HOST", "pool"),
    ("https://pool/", "x${proxy_host}.test", "xpool.test"),
    ("https://pool/", "$proxy_host.test", "pool.test"),
    ("https://10.0.0.1:8443/", "${proxy_host}", "10.0.0.1"),
    ("https://10.0.0.1:8443/", "a${proxy_host}b", "a10.0.0.1"),  # $proxy_host is 10.0.0.1:8443: cut at its port
    ("https://10.0.0.1:443/", "a${proxy_host}b", "a10.0.0.1b"),  # the scheme's port is not in $proxy_host
    ("https://[::1]:8443/", "${proxy_host}", "[::1]"),
])
def test_proxy_host_is_static_wherever_proxy_ssl_name_names_it(tmp_path, url, name, checked):
    item = _one(tmp_path, "proxy_pass %s; proxy_ssl_verify on; proxy_ssl_trusted_certificate /ca.pem; "
                "proxy_ssl_name %s;" % (url, name), "upstream pool { server 10.0.0.2:443; }")
    assert item["verify_name"] == checked, item
    assert item["error"] is None, item


@pytest.mark.parametrize("name", ["$proxy_hostx", "${proxy_host_x}", "$host", "${host}:1", "$proxy_host$host"])
def test_other_variables_in_proxy_ssl_name_stay_dynamic(tmp_path, name):
    item = _one(tmp_path, "proxy_pass https://10.0.0.1/; proxy_ssl_verify on; proxy_ssl_trusted_certificate /ca.pem; "
                "proxy_ssl_name %s;" % name)
    assert item["verify_name"] == {"dynamic": name}, item


@pytest.mark.parametrize("text, depth", [
    ("0", 0), ("1", 1), ("0002", 2), ("2147483647", 2147483647),
    ("2147483648", -1),  # int -2147483648: no chain passes
    ("4294967294", -1),  # int -2
    ("4294967295", 100),  # int -1: OpenSSL's unset depth, its default 100
    ("4294967296", 0), ("4294967297", 1),
    ("9223372036854775807", 100),  # NGX_MAX_INT_T_VALUE: low 32 bits are -1
])
def test_verify_depth_is_the_int_nginx_hands_openssl(text, depth):
    assert _lbview_nginx._ngx_depth(text) == (depth, None)


@pytest.mark.parametrize("text", ["9223372036854775808", "9999999999999999999999", "0x2", "-1", "+1", "1.5", "",
                                  "\u0663", pytest.param("9" * 5000, id="5000-nines")])
def test_verify_depth_nginx_cannot_read_is_a_file_it_refuses(text):
    depth, problem = _lbview_nginx._ngx_depth(text)
    assert depth is None and "invalid number" in problem and "nginx refuses" in problem


def test_an_invalid_depth_is_invalid_config_even_without_verify(tmp_path):
    item = _one(tmp_path, "proxy_pass https://10.0.0.1/; proxy_ssl_verify_depth 0x2;")
    assert item["error"]["code"] == "INVALID_CONFIG" and "invalid number" in item["error"]["message"], item


@pytest.mark.parametrize("location, outside, message", [
    ("if ($arg_a) { proxy_ssl_verify on; } proxy_pass https://10.0.0.1/;", "", "is not allowed here"),
    ("if ($arg_a) { proxy_ssl_name a.test; proxy_pass https://10.0.0.1/; }", "", "is not allowed here"),
    ("limit_except GET { proxy_ssl_verify off; } proxy_pass https://10.0.0.1/;", "", "is not allowed here"),
    ("proxy_pass https://10.0.0.1/; proxy_ssl_verify yes;", "", 'invalid value "yes"'),
    ("proxy_pass https://10.0.0.1/; proxy_ssl_server_name 1;", "", 'invalid value "1"'),
])
def test_settings_nginx_refuses_are_invalid_config(tmp_path, location, outside, message):
    item = _one(tmp_path, location, outside)
    assert item["error"]["code"] == "INVALID_CONFIG" and message in item["error"]["message"], item
    assert "nginx refuses" in item["error"]["message"]


def test_flags_ignore_case(tmp_path):
    item = _one(tmp_path, "proxy_pass https://backend.test/; proxy_ssl_verify OFF; proxy_ssl_server_name On;")
    assert (item["error"], item["verify"], item["sni"]) == (None, False, "backend.test"), item


@pytest.mark.parametrize("first, second, duplicate", [
    ("/x/", "/x/", True),
    ("/x/", "^~ /x/", True),  # both prefix locations
    ("= /x/", "=/x/", True),
    ("= /x/", "/x/", False),  # one exact, one prefix: two locations
    ("~ /x/", "~ /x/", False),  # regex locations are never duplicates
    ("/x/", "/X/", False),
    ("@x", "@x", False),
])
def test_duplicate_locations_are_those_nginx_refuses(tmp_path, first, second, duplicate):
    items = _items(tmp_path, "server { listen 8080; location %s { proxy_pass https://10.0.0.1/; } "
                   "location %s { return 200; } }" % (first, second))
    (item,) = items
    if duplicate:
        assert item["error"]["code"] == "INVALID_CONFIG" and "duplicate location" in item["error"]["message"], item
    else:
        assert item["error"] is None, item


def test_nested_duplicate_locations_are_refused_too(tmp_path):
    (item,) = _items(tmp_path, "server { listen 8080; location /a/ { location /a/b/ { proxy_pass https://10.0.0.1/; }"
                     " location /a/b/ { return 200; } } }")
    assert item["error"]["code"] == "INVALID_CONFIG" and "duplicate location" in item["error"]["message"], item


@pytest.mark.parametrize("url, address, port", [
    ("https://10.0.0.1:8443?a=b", "10.0.0.1", 8443),
    ("https://10.0.0.1?a=b/c", "10.0.0.1", 443),
    ("https://[::1]:8443?a", "::1", 8443),
])
def test_a_query_ends_the_host_and_port(tmp_path, url, address, port):
    item = _one(tmp_path, "proxy_pass %s;" % url)
    assert (item["error"], item["address"], item["port"]) == (None, address, port), item


def test_a_query_after_an_upstream_name_names_the_upstream(tmp_path):
    (item,) = _items(tmp_path, "upstream pool { server 10.0.0.2:8443; }\n"
                     "server { listen 8080; location /x/ { proxy_pass https://pool?x=1; } }")
    assert (item["error"], item["pool"], item["address"], item["port"]) == (None, "pool", "10.0.0.2", 8443), item


def test_a_dollar_in_the_ca_and_crl_paths_is_part_of_the_name(tmp_path):
    item = _one(tmp_path, "proxy_pass https://10.0.0.1/; proxy_ssl_verify on; "
                "proxy_ssl_trusted_certificate /c/ca$x.pem; proxy_ssl_crl /c/crl${y}.pem;")
    assert (item["ca_file"], item["crl_file"]) == ("/c/ca$x.pem", "/c/crl${y}.pem"), item
    assert item["error"] is None or item["error"]["code"] != "DYNAMIC_PATH", item


@pytest.mark.parametrize("url", ["https://unix:/run/be.sock:/", "https://unix:/run/be.sock",
                                 "HTTPS://UNIX:/run/be.sock:/"])
def test_a_unix_socket_is_an_unsupported_address(tmp_path, url):
    item = _one(tmp_path, "proxy_pass %s; proxy_ssl_verify on; proxy_ssl_trusted_certificate /ca.pem;" % url)
    assert item["error"]["code"] == "UNSUPPORTED_ADDRESS", item
    assert (item["address"], item["port"]) == (None, None), item
    assert item["verify_name"] == "localhost", item  # $proxy_host of a unix socket


def test_a_unix_socket_still_reports_a_file_nginx_refuses(tmp_path):
    item = _one(tmp_path, "proxy_pass https://unix:/run/be.sock:/; proxy_ssl_verify on;")
    assert item["error"]["code"] == "INVALID_CONFIG", item


def test_plain_http_to_a_unix_socket_is_no_tls_backend(tmp_path):
    assert _items(tmp_path, "server { listen 8080; location /x/ { proxy_pass http://unix:/run/be.sock:/; } }") == []
