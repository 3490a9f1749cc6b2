"""Spec table: the facts of Google's robots_test.cc (github.com/google/robotstxt, Apache-2.0)
and of shared/notes/robots-rfc9309.md, each with its exact expected verdict."""

from __future__ import annotations

import pytest

from botguard.robots import RobotsTxt
from botguard.robots._lexer import escape_pattern, split_lines
from botguard.robots._matcher import path_params_query

FOO = "user-agent: FooBot\ndisallow: /\n"

GROUPS = (
    "allow: /foo/bar/\n\nuser-agent: FooBot\ndisallow: /\nallow: /x/\nuser-agent: BarBot\n"
    "disallow: /\nallow: /y/\n\n\nallow: /w/\nuser-agent: BazBot\n\nuser-agent: FooBot\n"
    "allow: /z/\ndisallow: /\n"
)
UPPER, LOWER, CAMEL = (
    "USER-AGENT: FooBot\nALLOW: /x/\nDISALLOW: /\n",
    "user-agent: FooBot\nallow: /x/\ndisallow: /\n",
    "uSeR-aGeNt: FooBot\nAlLoW: /x/\ndIsAlLoW: /\n",
)
UA_CASES = (
    "User-Agent: FOO BAR\nAllow: /x/\nDisallow: /\n",
    "User-Agent: foo bar\nAllow: /x/\nDisallow: /\n",
    "User-Agent: FoO bAr\nAllow: /x/\nDisallow: /\n",
)
GLOBAL = "user-agent: *\nallow: /\nuser-agent: FooBot\ndisallow: /\n"
ONLY_SPECIFIC = (
    "user-agent: FooBot\nallow: /\nuser-agent: BarBot\ndisallow: /\nuser-agent: BazBot\ndisallow: /\n"
)
FISH = "user-agent: FooBot\ndisallow: /\nallow: /fish\n"
FISH_STAR = "user-agent: FooBot\ndisallow: /\nallow: /fish*\n"
FISH_SLASH = "user-agent: FooBot\ndisallow: /\nallow: /fish/\n"
PHP = "user-agent: FooBot\ndisallow: /\nallow: /*.php\n"
PHP_END = "user-agent: FooBot\ndisallow: /\nallow: /*.php$\n"
FISH_PHP = "user-agent: FooBot\ndisallow: /\nallow: /fish*.php\n"
INDEX = "User-Agent: *\nAllow: /allowed-slash/index.html\nDisallow: /\n"
U = "http://foo.bar"

CASES: list[tuple[str, str, str, bool]] = [
    # GoogleOnly_SystemTest
    ("", "FooBot", "", True),
    (FOO, "", "", True),
    (FOO, "FooBot", "", False),
    ("", "", "", True),
    # ID_LineSyntax_Line
    (FOO, "FooBot", U + "/x/y", False),
    ("foo: FooBot\nbar: /\n", "FooBot", U + "/x/y", True),
    ("user-agent FooBot\ndisallow /\n", "FooBot", U + "/x/y", False),
    # ID_LineSyntax_Groups
    (GROUPS, "FooBot", U + "/x/b", True),
    (GROUPS, "FooBot", U + "/z/d", True),
    (GROUPS, "FooBot", U + "/y/c", False),
    (GROUPS, "BarBot", U + "/y/c", True),
    (GROUPS, "BarBot", U + "/w/a", True),
    (GROUPS, "BarBot", U + "/z/d", False),
    (GROUPS, "BazBot", U + "/z/d", True),
    (GROUPS, "FooBot", U + "/foo/bar/", False),
    (GROUPS, "BarBot", U + "/foo/bar/", False),
    (GROUPS, "BazBot", U + "/foo/bar/", False),
    # ID_REPLineNamesCaseInsensitive
    *[(body, "FooBot", U + "/x/y", True) for body in (UPPER, LOWER, CAMEL)],
    *[(body, "FooBot", U + "/a/b", False) for body in (UPPER, LOWER, CAMEL)],
    # ID_UserAgentValueCaseInsensitive
    *[(body, agent, U + "/x/y", True) for body in UA_CASES for agent in ("Foo", "foo")],
    *[(body, agent, U + "/a/b", False) for body in UA_CASES for agent in ("Foo", "foo")],
    # GoogleOnly_AcceptUserAgentUpToFirstSpace
    ("User-Agent: *\nDisallow: /\nUser-Agent: Foo Bar\nAllow: /x/\nDisallow: /\n", "Foo", U + "/x/y", True),
    (
        "User-Agent: *\nDisallow: /\nUser-Agent: Foo Bar\nAllow: /x/\nDisallow: /\n",
        "Foo Bar",
        U + "/x/y",
        False,
    ),
    # ID_GlobalGroups_Secondary
    ("", "FooBot", U + "/x/y", True),
    (GLOBAL, "FooBot", U + "/x/y", False),
    (GLOBAL, "BarBot", U + "/x/y", True),
    (ONLY_SPECIFIC, "QuxBot", U + "/x/y", True),
    # ID_AllowDisallow_Value_CaseSensitive
    ("user-agent: FooBot\ndisallow: /x/\n", "FooBot", U + "/x/y", False),
    ("user-agent: FooBot\ndisallow: /X/\n", "FooBot", U + "/x/y", True),
    # ID_LongestMatch
    ("user-agent: FooBot\ndisallow: /x/page.html\nallow: /x/\n", "FooBot", U + "/x/page.html", False),
    ("user-agent: FooBot\nallow: /x/page.html\ndisallow: /x/\n", "FooBot", U + "/x/page.html", True),
    ("user-agent: FooBot\nallow: /x/page.html\ndisallow: /x/\n", "FooBot", U + "/x/", False),
    ("user-agent: FooBot\ndisallow: \nallow: \n", "FooBot", U + "/x/page.html", True),
    ("user-agent: FooBot\ndisallow: /\nallow: /\n", "FooBot", U + "/x/page.html", True),
    ("user-agent: FooBot\ndisallow: /x\nallow: /x/\n", "FooBot", U + "/x", False),
    ("user-agent: FooBot\ndisallow: /x\nallow: /x/\n", "FooBot", U + "/x/", True),
    ("user-agent: FooBot\ndisallow: /x/page.html\nallow: /x/page.html\n", "FooBot", U + "/x/page.html", True),
    ("user-agent: FooBot\nallow: /page\ndisallow: /*.html\n", "FooBot", U + "/page.html", False),
    ("user-agent: FooBot\nallow: /page\ndisallow: /*.html\n", "FooBot", U + "/page", True),
    ("user-agent: FooBot\nallow: /x/page.\ndisallow: /*.html\n", "FooBot", U + "/x/page.html", True),
    ("user-agent: FooBot\nallow: /x/page.\ndisallow: /*.html\n", "FooBot", U + "/x/y.html", False),
    ("User-agent: *\nDisallow: /x/\nUser-agent: FooBot\nDisallow: /y/\n", "FooBot", U + "/x/page", True),
    ("User-agent: *\nDisallow: /x/\nUser-agent: FooBot\nDisallow: /y/\n", "FooBot", U + "/y/page", False),
    # ID_Encoding
    (
        "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar?qux=taz&baz=http://foo.bar?tar&par\n",
        "FooBot",
        U + "/foo/bar?qux=taz&baz=http://foo.bar?tar&par",
        True,
    ),
    ("User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/\u30c4\n", "FooBot", U + "/foo/bar/%E3%83%84", True),
    ("User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/\u30c4\n", "FooBot", U + "/foo/bar/\u30c4", False),
    (
        "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%E3%83%84\n",
        "FooBot",
        U + "/foo/bar/%E3%83%84",
        True,
    ),
    ("User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%E3%83%84\n", "FooBot", U + "/foo/bar/\u30c4", False),
    ("User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%62%61%7A\n", "FooBot", U + "/foo/bar/baz", False),
    (
        "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%62%61%7A\n",
        "FooBot",
        U + "/foo/bar/%62%61%7A",
        True,
    ),
    # ID_SpecialCharacters
    ("User-agent: FooBot\nDisallow: /foo/bar/quz\nAllow: /foo/*/qux\n", "FooBot", U + "/foo/bar/quz", False),
    ("User-agent: FooBot\nDisallow: /foo/bar/quz\nAllow: /foo/*/qux\n", "FooBot", U + "/foo/quz", True),
    ("User-agent: FooBot\nDisallow: /foo/bar/quz\nAllow: /foo/*/qux\n", "FooBot", U + "/foo//quz", True),
    ("User-agent: FooBot\nDisallow: /foo/bar/quz\nAllow: /foo/*/qux\n", "FooBot", U + "/foo/bax/quz", True),
    ("User-agent: FooBot\nDisallow: /foo/bar$\nAllow: /foo/bar/qux\n", "FooBot", U + "/foo/bar", False),
    ("User-agent: FooBot\nDisallow: /foo/bar$\nAllow: /foo/bar/qux\n", "FooBot", U + "/foo/bar/qux", True),
    ("User-agent: FooBot\nDisallow: /foo/bar$\nAllow: /foo/bar/qux\n", "FooBot", U + "/foo/bar/", True),
    ("User-agent: FooBot\nDisallow: /foo/bar$\nAllow: /foo/bar/qux\n", "FooBot", U + "/foo/bar/baz", True),
    ("User-agent: FooBot\n# Disallow: /\nDisallow: /foo/quz#qux\nAllow: /\n", "FooBot", U + "/foo/bar", True),
    (
        "User-agent: FooBot\n# Disallow: /\nDisallow: /foo/quz#qux\nAllow: /\n",
        "FooBot",
        U + "/foo/quz",
        False,
    ),
    # GoogleOnly_IndexHTMLisDirectory
    (INDEX, "foobot", "http://foo.com/allowed-slash/", True),
    (INDEX, "foobot", "http://foo.com/allowed-slash/index.htm", False),
    (INDEX, "foobot", "http://foo.com/allowed-slash/index.html", True),
    (INDEX, "foobot", "http://foo.com/anyother-url", False),
    # GoogleOnly_DocumentationChecks
    *[
        (FISH, "FooBot", U + p, ok)
        for p, ok in [
            ("/bar", False),
            ("/fish", True),
            ("/fish.html", True),
            ("/fish/salmon.html", True),
            ("/fishheads", True),
            ("/fishheads/yummy.html", True),
            ("/fish.html?id=anything", True),
            ("/Fish.asp", False),
            ("/catfish", False),
            ("/?id=fish", False),
        ]
    ],
    *[
        (FISH_STAR, "FooBot", U + p, ok)
        for p, ok in [
            ("/bar", False),
            ("/fish", True),
            ("/fish.html", True),
            ("/fish/salmon.html", True),
            ("/fishheads", True),
            ("/fishheads/yummy.html", True),
            ("/fish.html?id=anything", True),
            ("/Fish.bar", False),
            ("/catfish", False),
            ("/?id=fish", False),
        ]
    ],
    *[
        (FISH_SLASH, "FooBot", U + p, ok)
        for p, ok in [
            ("/bar", False),
            ("/fish/", True),
            ("/fish/salmon", True),
            ("/fish/?salmon", True),
            ("/fish/salmon.html", True),
            ("/fish/?id=anything", True),
            ("/fish", False),
            ("/fish.html", False),
            ("/Fish/Salmon.html", False),
        ]
    ],
    *[
        (PHP, "FooBot", U + p, ok)
        for p, ok in [
            ("/bar", False),
            ("/filename.php", True),
            ("/folder/filename.php", True),
            ("/folder/filename.php?parameters", True),
            ("//folder/any.php.file.html", True),
            ("/filename.php/", True),
            ("/index?f=filename.php/", True),
            ("/php/", False),
            ("/index?php", False),
            ("/windows.PHP", False),
        ]
    ],
    *[
        (PHP_END, "FooBot", U + p, ok)
        for p, ok in [
            ("/bar", False),
            ("/filename.php", True),
            ("/folder/filename.php", True),
            ("/filename.php?parameters", False),
            ("/filename.php/", False),
            ("/filename.php5", False),
            ("/php/", False),
            ("/filename?php", False),
            ("/aaaphpaaa", False),
            ("//windows.PHP", False),
        ]
    ],
    *[
        (FISH_PHP, "FooBot", U + p, ok)
        for p, ok in [
            ("/bar", False),
            ("/fish.php", True),
            ("/fishheads/catfish.php?parameters", True),
            ("/Fish.PHP", False),
        ]
    ],
    ("user-agent: FooBot\nallow: /p\ndisallow: /\n", "FooBot", "http://example.com/page", True),
    (
        "user-agent: FooBot\nallow: /folder\ndisallow: /folder\n",
        "FooBot",
        "http://example.com/folder/page",
        True,
    ),
    ("user-agent: FooBot\nallow: /page\ndisallow: /*.htm\n", "FooBot", "http://example.com/page.htm", False),
    ("user-agent: FooBot\nallow: /$\ndisallow: /\n", "FooBot", "http://example.com/", True),
    ("user-agent: FooBot\nallow: /$\ndisallow: /\n", "FooBot", "http://example.com/page.html", False),
    # --- notes/robots-rfc9309.md section 1 ---
    (
        "User-agent: FooBot\r\nDisallow: /a\rDisallow: /b\nDisallow: /c",
        "FooBot",
        "/c",
        False,
    ),  # 1 mixed endings
    ("\ufeffUser-agent: FooBot\nDisallow: /", "FooBot", "/", False),  # 2: a real BOM
    ("User-agent: FooBot\nDisallow: /a#b\n", "FooBot", "/a", False),  # 4 comment inside a value
    ("User-agent: FooBot\nDisallow: /a#b\n", "FooBot", "/x", True),
    ("User-agent: FooBot\ndisallow /x y\n", "FooBot", "/x", True),  # 6 three tokens: ignored
    ("User-agent: FooBot\n:/x\n", "FooBot", "/x", True),  # 6 empty key
    ("user-agentX: FooBot\nDisallows: /x\n", "FooBot", "/x", False),  # 7 prefixes
    ("User-agent: FooBot\nAllowed: /x\nDisallow: /\n", "FooBot", "/x", True),
    *[
        (f"User-agent: FooBot\n{k}: /x\n", "FooBot", "/x", False)
        for k in ("dissallow", "dissalow", "disalow", "diasllow", "disallaw")
    ],
    ("useragent: FooBot\nDisallow: /x\n", "FooBot", "/x", False),
    ("user agent: FooBot\nDisallow: /x\n", "FooBot", "/x", False),
    ("User-agent: FooBot\nDisallow: /%aa\n", "FooBot", "/%AA", False),  # 8 upper-cased escapes
    ("User-agent: FooBot\nDisallow: /%aa\n", "FooBot", "/%aa", True),
    ("User-agent: FooBot\nDisallow: /\u00e9\n", "FooBot", "/%C3%A9", False),
    ("User-agent: FooBot\nSitemap: /x\nUser-agent: BarBot\nDisallow: /\n", "FooBot", "/", False),  # 9
    ("User-agent: FooBot\nCrawl-delay: 5\nUser-agent: BarBot\nDisallow: /\n", "FooBot", "/", False),
    ("User-agent: * trailing\nDisallow: /\n", "FooBot", "/", False),  # 10
    ("User-agent: *Foo\nDisallow: /\n", "", "/", False),
    ("User-agent: *Foo\nDisallow: /\n", "Foo", "/", True),
    ("User-agent: FooBot/1.0\nDisallow: /\n", "FooBot/1.0", "/", True),
    ("User-agent: FooBot\nUser-agent: *\nDisallow: /\nUser-agent: FooBot\n", "FooBot", "/", False),  # 11
    ("User-agent: *\nDisallow: /\nUser-agent: FooBot\n", "FooBot", "/", True),
    (
        "User-agent: *\nDisallow: /a\nUser-agent: Bar\nAllow: /\nUser-agent: *\nDisallow: /b\n",
        "FooBot",
        "/b",
        False,
    ),
    ("User-agent: FooBot\nDisallow: /\n", "a/b", "a/b", True),  # 12: "a/b" -> "/b"
    ("User-agent: *\nDisallow: /?a\n", "x", "example.com?a", False),
    ("User-agent: *\nDisallow: /b\n", "x", "http://a#/b", True),
    ("User-agent: *\nDisallow: /a/../b\n", "x", "/a/../b", False),
    ("User-agent: *\nDisallow: *.gif$\n", "x", "/a.gif", False),  # 13
    ("User-agent: *\nDisallow: /a$b\n", "x", "/a$b", False),
    ("User-agent: *\nDisallow: /a$b\n", "x", "/a", True),
    ("User-agent: *\nDisallow: /a\nAllow: /*\n", "x", "/a", True),  # 14: equal length: allow wins
    ("User-agent: *\nDisallow: /ab\nAllow: /a*\n", "x", "/ab", True),
    ("User-agent: *\nAllow: /d/index.htm\nDisallow: /d\n", "x", "/d/", True),  # 15
    ("User-agent: *\nAllow: /d/index.htm\nDisallow: /d/\n", "x", "/d/x", False),
    ("User-agent: FooBot\nDisallow: /a\x00/b\n", "FooBot", "/a", False),  # 19 NUL cuts the line
    ("User-agent: FooBot\nDisallow: /a\n", "FooBot", "/b\x00/a", True),
]


@pytest.mark.parametrize(("body", "agent", "url", "expected"), CASES)
def test_google_fact(body: str, agent: str, url: str, expected: bool) -> None:
    """Each fact of robots_test.cc and the notes gives Google's verdict."""
    assert RobotsTxt.parse(body).is_allowed(agent, url) is expected


def test_allow_tie_with_same_length_star() -> None:
    """`Disallow: /a` vs `Allow: /*`: equal priority 2, so allow wins the tie."""
    assert RobotsTxt.parse("User-agent: *\nDisallow: /a\nAllow: /*\n").is_allowed("x", "/a")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"\xefUser-agent: FooBot\nDisallow: /\n", False),
        (b"\xef\xbbUser-agent: FooBot\nDisallow: /\n", False),
        (b"\xef\xbb\xbfUser-agent: FooBot\nDisallow: /\n", False),
        (b"\xef\x11\xbfUser-agent: FooBot\nDisallow: /\n", True),  # broken BOM: garbage first line
        (b"User-agent: FooBot\n\xef\xbb\xbfDisallow: /\n", True),  # BOM mid-file corrupts that line
        (b"User-agent: FooBot\nDisallow: /\xe9\n", True),  # Latin-1 byte -> %E9
    ],
)
def test_bom_and_raw_bytes(body: bytes, expected: bool) -> None:
    """BOM prefixes are skipped only at the very start; raw bytes are %-escaped in rules."""
    assert RobotsTxt.parse(body).is_allowed("FooBot", "/") is expected


def test_latin1_rule_matches_escaped_url() -> None:
    """A Latin-1 byte in a rule becomes %E9 and matches a URL carrying %E9."""
    robots = RobotsTxt.parse(b"User-agent: *\nDisallow: /caf\xe9\n")
    assert not robots.is_allowed("x", "/caf%E9")
    assert robots.is_allowed("x", "/caf\u00e9")


def _long_line_body(rule: str, longline: str, tail: str) -> str:
    return f"user-agent: FooBot\n{rule}{longline}{tail}\n"


def test_line_too_long_disallow_is_cut() -> None:
    """GoogleOnly_LineTooLong: only 16 663 bytes of a line are kept; the cut rule still applies."""
    max_line, disallow = 2083 * 8, "disallow: "
    longline = "/x/" + "a" * (max_line - 3 - len(disallow) + 1 - 3)
    robots = RobotsTxt.parse(_long_line_body(disallow, longline, "/qux"))
    assert robots.is_allowed("FooBot", U + "/fux")
    assert not robots.is_allowed("FooBot", U + longline + "/fux")


def test_line_too_long_allow_is_cut() -> None:
    """GoogleOnly_LineTooLong: a cut allow rule still matches, the exact one too."""
    max_line, allow = 2083 * 8, "allow: "
    size = max_line - 3 - len(allow) + 1
    line_a, line_b = "/x/" + "a" * (size - 3), "/x/" + "b" * (size - 3)
    body = f"user-agent: FooBot\ndisallow: /\nallow: {line_a}/qux\nallow: {line_b}/qux\n"
    robots = RobotsTxt.parse(body)
    assert not robots.is_allowed("FooBot", U + "/")
    assert robots.is_allowed("FooBot", U + line_a + "/qux")
    assert robots.is_allowed("FooBot", U + line_b + "/fux")


@pytest.mark.parametrize(
    "body",
    [
        "User-Agent: foo\nAllow: /some/path\nUser-Agent: bar\n\n\nDisallow: /\n",
        "User-Agent: foo\r\nAllow: /some/path\r\nUser-Agent: bar\r\n\r\n\r\nDisallow: /\r\n",
        "User-Agent: foo\rAllow: /some/path\rUser-Agent: bar\r\r\rDisallow: /\r",
        "User-Agent: foo\nAllow: /some/path\nUser-Agent: bar\n\n\nDisallow: /",
        "User-Agent: foo\nAllow: /some/path\r\nUser-Agent: bar\n\r\n\nDisallow: /",
    ],
)
def test_line_numbers(body: str) -> None:
    """ID_LinesNumbersAreCountedCorrectly: 4 directives, the last on line 6, whatever the endings."""
    robots = RobotsTxt.parse(body)
    assert robots.stats.directives == 4
    assert robots.explain("bar", "/x") is not None and robots.explain("bar", "/x").line == 6


@pytest.mark.parametrize(
    ("body", "directives", "unknown"),
    [
        (b"\xef\xbb\xbfUser-Agent: foo\nAllow: /AnyValue\n", 2, 0),
        (b"\xef\xbbUser-Agent: foo\nAllow: /AnyValue\n", 2, 0),
        (b"\xefUser-Agent: foo\nAllow: /AnyValue\n", 2, 0),
        (b"\xef\x11\xbfUser-Agent: foo\nAllow: /AnyValue\n", 1, 1),
        (b"User-Agent: foo\n\xef\xbb\xbfAllow: /AnyValue\n", 1, 1),
    ],
)
def test_bom_counts(body: bytes, directives: int, unknown: int) -> None:
    """ID_UTF8ByteOrderMarkIsSkipped: the same counts as the reference's stats reporter."""
    stats = RobotsTxt.parse(body).stats
    assert (stats.directives, stats.unknown) == (directives, unknown)


@pytest.mark.parametrize(
    "body",
    [
        "User-Agent: foo\nAllow: /some/path\nUser-Agent: bar\n\n\nSitemap: http://foo.bar/sitemap.xml\n",
        "Sitemap: http://foo.bar/sitemap.xml\nUser-Agent: foo\nAllow: /some/path\nUser-Agent: bar\n\n\n",
    ],
)
def test_sitemap_anywhere(body: str) -> None:
    """ID_NonStandardLineExample_Sitemap: a sitemap line may appear anywhere."""
    assert RobotsTxt.parse(body).sitemaps == ("http://foo.bar/sitemap.xml",)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("", "/"),
        ("http://www.example.com", "/"),
        ("http://www.example.com/", "/"),
        ("http://www.example.com/a", "/a"),
        ("http://www.example.com/a/", "/a/"),
        ("http://www.example.com/a/b?c=http://d.e/", "/a/b?c=http://d.e/"),
        ("http://www.example.com/a/b?c=d&e=f#fragment", "/a/b?c=d&e=f"),
        ("example.com", "/"),
        ("example.com/", "/"),
        ("example.com/a", "/a"),
        ("example.com/a/", "/a/"),
        ("example.com/a/b?c=d&e=f#fragment", "/a/b?c=d&e=f"),
        ("a", "/"),
        ("a/", "/"),
        ("/a", "/a"),
        ("a/b", "/b"),
        ("example.com?a", "/?a"),
        ("example.com/a;b#c", "/a;b"),
        ("//a/b/c", "/b/c"),
        ("/a#b", "/a"),
        ("/a\x00b", "/a"),
        ("http://a;b/c", "/;b/c"),
    ],
)
def test_get_path_params_query(url: str, path: str) -> None:
    """TestGetPathParamsQuery, plus fragment and NUL handling."""
    assert path_params_query(url) == path


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        (b"http://www.example.com", "http://www.example.com"),
        (b"/a/b/c", "/a/b/c"),
        ("\u00e1".encode(), "%C3%A1"),
        (b"%aa", "%AA"),
        (b"%%aa%a", "%%AA%a"),
        (b"%zz%2f", "%zz%2F"),
    ],
)
def test_maybe_escape_pattern(raw: bytes, escaped: str) -> None:
    """TestMaybeEscapePattern."""
    assert escape_pattern(raw) == escaped


def test_split_lines_cap_and_nul() -> None:
    """Lines are capped at 16 663 bytes and cut at NUL."""
    lines = split_lines(b"a" * 20000 + b"\nb\x00c\r\nd")
    assert [len(lines[0]), lines[1], lines[2]] == [16663, b"b", b"d"]
