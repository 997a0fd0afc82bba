"""Message bodies to safe HTML: hostile vectors come out inert, Markdown still works, plain text
is what the reader sees, and output is bounded and deterministic."""

import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatkernel import ChatKernelError
from widgets import _markdown
from widgets import MarkdownError, plain_text, render_markdown as render

ROOT = Path(__file__).resolve().parents[3]
TAGS = {
    "a", "blockquote", "br", "code", "em", "hr", "li", "ol", "p", "pre", "s", "strong",
    "table", "tbody", "td", "th", "thead", "tr", "ul",
}
ATTRIBUTES = {"a": {"href", "rel", "target"}, "code": {"class"}, "ol": {"start"}}
REL = "noopener noreferrer nofollow"


class _Elements(HTMLParser):
    """Every start tag of a fragment with its attributes, entities decoded (as a browser reads them)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.elements


def assert_inert(html: str) -> None:
    """Only allow-listed tags and attributes; links http(s)/mailto with rel and target; no <img>."""
    lowered = html.lower()
    for needle in ("<script", "<img", "<iframe", "<svg", "<style", "<details", "<object", "<embed"):
        assert needle not in lowered, f"{needle} in {html!r}"  # text can hold no raw "<": it is &lt;
    for tag, attrs in elements(html):
        assert tag in TAGS, f"<{tag}> in {html!r}"
        assert set(attrs) <= ATTRIBUTES.get(tag, set()), f"<{tag} {attrs}> in {html!r}"
        assert not any(name.startswith("on") or name == "style" for name in attrs)
        if tag == "a":
            assert attrs.get("rel") == REL and attrs.get("target") == "_blank", html
            if "href" in attrs:
                assert urlsplit(attrs["href"] or "").scheme in {"http", "https", "mailto"}, html
        if tag == "code" and "class" in attrs:
            assert (attrs["class"] or "").startswith("language-") and " " not in (attrs["class"] or "")
        if tag == "ol" and "start" in attrs:
            assert (attrs["start"] or "").isdigit()


def hrefs(html: str) -> list[str | None]:
    return [attrs.get("href") for tag, attrs in elements(html) if tag == "a"]


XSS = {
    "script tag": "<script>alert(1)</script>",
    "script split by markdown": "**<script>**alert(1)**</script>**",
    "nested script": "<scr<script>ipt>alert(1)</script>",
    "img onerror": "<img src=x onerror=alert(1)>",
    "raw anchor javascript": '<a href="javascript:alert(1)">x</a>',
    "raw anchor data": '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    "svg onload": "<svg onload=alert(1)>",
    "iframe": '<iframe src="https://evil.example/"></iframe>',
    "style attribute": '<p style="position:fixed;inset:0">cover</p>',
    "details ontoggle": "<details open ontoggle=alert(1)>x</details>",
    "html comment": "<!-- <script>alert(1)</script> -->",
    "javascript link": "[x](javascript:alert(1))",
    "mixed-case javascript": "[x](JaVaScRiPt:alert(1))",
    "decimal entity javascript": "[x](&#106;avascript:alert(1))",
    "hex entity javascript": "[x](&#x6A;avascript&#x3A;alert(1))",
    "named entity colon": "[x](javascript&colon;alert(1))",
    "entity tab in scheme": "[x](jav&#x09;ascript:alert(1))",
    "zero-width space in scheme": "[x](java\u200bscript:alert(1))",
    "zero-width joiner in scheme": "[x](java\u200dscript:alert(1))",
    "fullwidth letter in scheme": "[x](\uff4aavascript:alert(1))",
    "tab in pointy destination": "[x](<java\tscript:alert(1)>)",
    "leading space in pointy destination": "[x](< javascript:alert(1)>)",
    "bidi override": "[x](\u202ejavascript:alert(1))",
    "vbscript link": "[x](vbscript:msgbox(1))",
    "data link": "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "file link": "[x](file:///etc/passwd)",
    "javascript autolink": "<javascript:alert(1)>",
    "upper-case javascript autolink": "<JAVASCRIPT:alert(1)>",
    "data autolink": "<data:text/html,alert(1)>",
    "javascript reference": "[x][r]\n\n[r]: javascript:alert(1)",
    "javascript image": "![x](javascript:alert(1))",
    "data image": "![x](data:image/png;base64,iVBORw0KGgo=)",
    "tracking pixel": "![](https://tracker.example/pixel.gif?u=1)",
    "title breaking out": '[x](https://a.example "a\\" onmouseover=\\"alert(1)")',
    "destination breaking out": '[x](https://a.example"onmouseover="alert(1))',
    "fence info breaking out": '```"><img src=x onerror=alert(1)>\ncode\n```',
    "fence info with handler": "```js onclick=alert(1)\ncode\n```",
    "markdown inside raw tag": "<div onclick=alert(1)>**bold**</div>",
    "link text with html": "[<img src=x onerror=alert(1)>](https://a.example)",
    "table cell with script": "| a |\n|---|\n| <script>alert(1)</script> |",
}


@pytest.mark.parametrize("body", XSS.values(), ids=XSS.keys())
def test_hostile_bodies_come_out_inert(body):
    html = render(body)
    assert_inert(html)
    for href in hrefs(html):
        assert href is None or not href.lower().startswith(("javascript:", "data:", "vbscript:", "file:"))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[click](javascript:alert(1))", "<p>click</p>\n"),
        ("[docs](/relative/path)", "<p>docs</p>\n"),
        ("[top](#anchor)", "<p>top</p>\n"),
        ("[x](file:///etc/passwd)", "<p>x</p>\n"),
        ("<javascript:alert(1)>", "<p>javascript:alert(1)</p>\n"),
    ],
)
def test_a_refused_link_keeps_its_text_only(body, expected):
    assert render(body) == expected


def test_raw_html_is_shown_as_text():
    assert render("<b>hi</b> & <script>x</script>") == (
        "<p>&lt;b&gt;hi&lt;/b&gt; &amp; &lt;script&gt;x&lt;/script&gt;</p>\n"
    )


def test_inline_markup():
    assert render("**bold** *italic* ~~gone~~ `a < b`") == (
        "<p><strong>bold</strong> <em>italic</em> <s>gone</s> <code>a &lt; b</code></p>\n"
    )


def test_fenced_code_shows_html_escaped_with_its_language():
    assert render("```python\n<script>alert(1)</script>\n```") == (
        '<pre><code class="language-python">&lt;script&gt;alert(1)&lt;/script&gt;\n</code></pre>\n'
    )


@pytest.mark.parametrize("info", ['"><b>', "a" * 33, "c++ extra words"])
def test_a_language_class_is_kept_only_when_well_formed(info):
    html = render(f"```{info}\nx\n```")
    assert_inert(html)
    classes = [attrs.get("class") for tag, attrs in elements(html) if tag == "code"]
    assert classes in ([None], ["language-c++"])


def test_lists_keep_their_numbering():
    assert render("- a\n- b\n\n3. c\n4. d") == (
        "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n<ol start=\"3\">\n<li>c</li>\n<li>d</li>\n</ol>\n"
    )


def test_quotes_and_rules():
    assert render("> quoted\n\n***") == "<blockquote>\n<p>quoted</p>\n</blockquote>\n<hr>\n"


def test_tables_lose_their_alignment_styles():
    html = render("| a | b |\n|:--|--:|\n| 1 | 2 |")
    assert html == (
        "<table>\n<thead>\n<tr>\n<th>a</th>\n<th>b</th>\n</tr>\n</thead>\n"
        "<tbody>\n<tr>\n<td>1</td>\n<td>2</td>\n</tr>\n</tbody>\n</table>\n"
    )


@pytest.mark.parametrize("body", ["# Title", "###### Title", "Title\n=====", "Title\n---"])
def test_headings_are_bold_paragraphs(body):
    assert render(body) == "<p><strong>Title</strong></p>\n"


def test_hard_break():
    assert render("a\\\nb") == "<p>a<br>\nb</p>\n"


@pytest.mark.parametrize(
    ("body", "href"),
    [
        ("[site](https://example.org/a?b=1&c=2)", "https://example.org/a?b=1&amp;c=2"),
        ("[site](http://example.org)", "http://example.org"),
        ("[mail](mailto:alice@example.org)", "mailto:alice@example.org"),
    ],
)
def test_allowed_links_open_apart_without_referrer(body, href):
    text = body[1:body.index("]")]
    assert render(body) == f'<p><a href="{href}" target="_blank" rel="{REL}">{text}</a></p>\n'


def test_autolinks_and_titles():
    assert render('<https://example.org> <bob@example.org> [t](https://example.org "title")') == (
        f'<p><a href="https://example.org" target="_blank" rel="{REL}">https://example.org</a> '
        f'<a href="mailto:bob@example.org" target="_blank" rel="{REL}">bob@example.org</a> '
        f'<a href="https://example.org" target="_blank" rel="{REL}">t</a></p>\n'
    )


def test_an_image_is_a_link_never_an_img():
    assert render('![a *cat*](https://img.example/cat.png "title")') == (
        f'<p><a href="https://img.example/cat.png" target="_blank" rel="{REL}">[image: a cat]</a></p>\n'
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "![](https://img.example/p.gif)",
            f'<p><a href="https://img.example/p.gif" target="_blank" rel="{REL}">[image]</a></p>\n',
        ),
        ("![cat](data:image/png;base64,AAAA)", "<p>[image: cat]</p>\n"),
        ("![cat](cat.png)", "<p>[image: cat]</p>\n"),
        (
            "[![cat](https://img.example/c.png)](https://example.org)",
            f'<p><a href="https://example.org" target="_blank" rel="{REL}">[image: cat]</a></p>\n',
        ),
    ],
)
def test_image_variants(body, expected):
    assert render(body) == expected


def test_lone_surrogates_become_replacement_characters():
    assert render("a\ud800b") == "<p>a\ufffdb</p>\n"


def test_output_is_deterministic_across_processes():
    """nh3 is Rust, whose hash maps are seeded per process: the bytes must not depend on it."""
    body = "[a](https://x.example) ![i](https://y.example) `c`\n\n```py\nq\n```\n\n| a |\n|:-:|\n| b |"
    code = f"from widgets import render_markdown as render; import sys; sys.stdout.write(render({body!r}))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
            env={"PYTHONHASHSEED": seed}, check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert outputs == {render(body)}


def test_a_body_at_the_limit_renders():
    assert render("é" * 10, max_bytes=20) == "<p>" + "é" * 10 + "</p>\n"


def test_a_body_over_the_limit_is_refused_in_utf8_bytes():
    message = r"^cannot render: the body is 22 bytes of UTF-8, over the limit of 20$"
    with pytest.raises(MarkdownError, match=message) as caught:
        render("é" * 11, max_bytes=20)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ChatKernelError)
    assert (caught.value.size, caught.value.limit) == (22, 20)


def test_the_default_limit_is_64_kib():
    assert render("a" * 65536) == "<p>" + "a" * 65536 + "</p>\n"
    with pytest.raises(MarkdownError):
        render("a" * 65537)
    with pytest.raises(MarkdownError):
        plain_text("a" * 65537)


PATHOLOGICAL = {
    "deep quotes": ">" * 10_000,
    "deep quotes with text": ">" * 10_000 + " text",
    "open brackets": "[" * 10_000,
    "image openers": "![" * 10_000,
    "nested brackets": "[" * 10_000 + "]" * 10_000,
    "nested links": "[x" * 2_500 + "](https://x.example)" * 2_500,
    "unclosed link destinations": "[a](" * 10_000,
    "stars": "*" * 30_000,
    "star runs with text": "**a" * 10_000,
    "alternating emphasis": "*_" * 10_000,
    "strikethrough runs": "~~a" * 10_000,
    "backticks": "` ``" * 10_000,
    "angle brackets": "<" * 30_000,
    "nested lists": "- " * 10_000 + "x",
    "quoted lists": "> 1. - " * 5_000,
    "entity openers": "&#x" * 10_000,
    "table columns": "|" * 10_000 + "\n" + "|-" * 5_000 + "\n" + "|x" * 5_000,
    "reference definitions": "[a]: https://x.example\n" * 2_000 + "[a]" * 5_000,
}


@pytest.mark.parametrize("body", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_bodies_render_in_bounded_time(body):
    """A hang guard only, generous for a loaded machine: the parse is linear in the body."""
    started = time.monotonic()
    html = render(body)
    text = plain_text(body)
    assert time.monotonic() - started < 5
    assert_inert(html)
    assert isinstance(text, str)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("**bold**, *it* and `code` [link](https://x.example)", "bold, it and code link"),
        ("a &amp; b &lt;c&gt; <i>raw</i> &copy;", "a & b <c> <i>raw</i> ©"),
        ("# Title\n\npara one\nline two\n\n- a\n- b\n\n> quoted", "Title\npara one\nline two\na\nb\nquoted"),
        ("```py\nx = 1\n\ny = 2\n```", "x = 1\n\ny = 2"),
        ("see ![a cat](https://img.example/c.png)", "see [image: a cat]"),
        ("[click](javascript:alert(1))", "click"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "a\tb\n1\t2"),
        ("***\n\n", ""),
    ],
)
def test_plain_text(body, expected):
    assert plain_text(body) == expected


def test_all_is_sorted():
    assert _markdown.__all__ == sorted(_markdown.__all__) == ["MarkdownError", "plain_text", "render"]


FRAGMENTS = st.sampled_from([
    "*", "**", "_", "~~", "`", "```", "[", "]", "(", ")", "![", "<", ">", "|", "|-|", "#", "- ", "1. ",
    "\n", "\n\n", " ", "\\", "&", "&#106;", "&#x3A;", ";", '"', "'", "=", ":", "/", "a", "x y",
    "javascript:", "JavaScript:", "data:text/html,", "vbscript:", "http://", "https://x.example/",
    "mailto:", "onerror=alert(1)", "<script>", "<img src=x ", "<a href=", "style=", "\u200b", "\x00",
])


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(max_size=500))
def test_arbitrary_text_renders_inert(body):
    assert_inert(render(body))
    plain_text(body)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(FRAGMENTS, max_size=60).map("".join))
def test_markdown_soup_renders_inert(body):
    assert_inert(render(body))
    plain_text(body)
