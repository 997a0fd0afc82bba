"""Message bodies (Markdown) to safe HTML, and to plain text for notifications and search.

In ``widgets`` because chat, groups and notifications all show bodies, and features never
import each other.

A body comes from a peer through an untrusted relay, so it is hostile input, and the HTML lands
in the JupyterLab page, next to the user's kernels. Three layers; the last two would each stop
a script link on its own:

- **markdown-it-py, CommonMark, ``html`` disabled** (plus tables and strikethrough). Raw HTML in a
  body is shown as text, escaped: a chat message never needs markup Markdown cannot express, and
  passing HTML through would leave all of HTML's attack surface to the sanitizer alone. Linkify is
  off: it needs ``linkify-it-py``, an extra dependency; bare URLs stay text.
- **Our own pass over the tokens.** Every link is parsed, then kept only with an absolute
  http(s) or mailto URL; any other link (``javascript:``, ``data:``, ``file:``, relative, ...)
  loses its anchor and keeps its text. An image never becomes ``<img>``: fetching it would tell
  its sender when, and from which address, the message was read (a tracking pixel), so it is the
  text ``[image: alt]``, linked to the image when its URL is allowed. Headings become bold
  paragraphs: in a chat they are mostly accidents (a line then ``---`` is a setext heading), and
  a message must not be able to render page-sized text that looks like the app's own chrome.
- **nh3 (ammonia) over markdown-it's output**, with an explicit allow-list of tags, attributes
  and URL schemes. markdown-it escapes correctly but is not a sanitizer (it writes ``title`` and
  ``style`` attributes, and a future option or plugin could write more); nh3 parses the HTML the
  way a browser does and keeps only what is listed, and it adds ``rel`` and ``target`` to every
  link, so no anchor can reach ``window.opener`` or send a referrer.

Attributes are ``href`` on links, one ``language-xxx`` class on code (for highlighting later)
and a numeric ``start`` on ordered lists (without it "3. a" would show as "1. a"). When nh3's URL
parser refuses an href that ours accepted (a malformed host), it keeps an inert ``<a>`` with no
``href``.

Output is deterministic, and bounded: a body over ``max_bytes`` of UTF-8 is refused with
:class:`MarkdownError`, and parsing is linear in the body. markdown-it stops at 20 levels of
nesting (``>``, lists, brackets), so deep nesting cannot recurse; what lies deeper is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from chatkernel import ChatKernelError

__all__ = ["MarkdownError", "plain_text", "render"]

_DEFAULT_MAX_BYTES = 64 * 1024
_LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_LANGUAGE_PREFIX = "language-"
_LANGUAGE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-#_.")
_LANGUAGE_MAX = 32
_PLAIN_BLOCK_ENDS = frozenset({"paragraph_close", "heading_close", "tr_close", "hr"})


class MarkdownError(ChatKernelError, ValueError):
    """A body was refused before parsing (``size`` and ``limit`` in bytes of UTF-8).

    A ``ValueError`` too: the caller passed a value this function does not take.
    """

    def __init__(self, size: int, limit: int):
        self.size = size
        self.limit = limit
        super().__init__(f"cannot render: the body is {size} bytes of UTF-8, over the limit of {limit}")


def render(body: str, *, max_bytes: int = _DEFAULT_MAX_BYTES) -> str:
    """The body as a safe HTML fragment; :class:`MarkdownError` when it is over ``max_bytes``."""
    return _CLEANER.clean(_MD.render(_checked(body, max_bytes)))


def plain_text(body: str, *, max_bytes: int = _DEFAULT_MAX_BYTES) -> str:
    """What :func:`render` shows, as text: no markup, entities decoded, a line per block or break."""
    pieces: list[str] = []
    for token in _MD.parse(_checked(body, max_bytes)):
        if token.type == "inline":
            pieces.append(_inline_text(token.children or ()))
        elif token.type in ("fence", "code_block"):
            pieces.append(token.content)
        elif token.type in ("th_close", "td_close"):
            pieces.append("\t")
        elif token.type in _PLAIN_BLOCK_ENDS:
            pieces.append("\n")
    return "\n".join(line.rstrip() for line in "".join(pieces).splitlines()).strip("\n")


def _checked(body: str, max_bytes: int) -> str:
    """The body with lone surrogates (valid in JSON, not in UTF-8) made U+FFFD, within the limit."""
    text = body.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise MarkdownError(size, max_bytes)
    return text


def _allowed_href(href: str) -> bool:
    """An absolute http(s) URL with a host, or a mailto URL with an address."""
    try:
        parts = urlsplit(href)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
    if parts.scheme not in _LINK_SCHEMES:
        return False
    return bool(parts.path if parts.scheme == "mailto" else parts.hostname)


def _inline_text(children: Iterable[Token]) -> str:
    """The text of inline tokens: what a reader sees, markup dropped."""
    pieces: list[str] = []
    for child in children:
        if child.type in ("text", "code_inline"):
            pieces.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            pieces.append("\n")
        elif child.type == "image":  # an image's alt, which may hold another image
            pieces.append(_inline_text(child.children or ()))
    return "".join(pieces)


def _image_label(image: Token) -> str:
    alt = _inline_text(image.children or ())
    return f"[image: {alt}]" if alt else "[image]"


def _safe_inline(children: Sequence[Token]) -> list[Token]:
    """Links kept only with an allowed URL (and no attribute but ``href``), images made text.

    A kept link's anchor wraps its text; an image inside it is text only, as anchors cannot nest.
    """
    out: list[Token] = []
    open_links: list[bool] = []  # per link_open not yet closed: was it kept?
    for child in children:
        if child.type == "link_open":
            href = str(child.attrs.get("href", ""))
            keep = not any(open_links) and _allowed_href(href)
            open_links.append(keep)
            if keep:
                child.attrs = {"href": href}
                out.append(child)
        elif child.type == "link_close":
            if open_links.pop():
                out.append(child)
        elif child.type == "image":
            out.extend(_image_as_link(child, inside_link=any(open_links)))
        else:
            out.append(child)
    return out


def _image_as_link(image: Token, *, inside_link: bool) -> list[Token]:
    label = Token("text", "", 0, content=_image_label(image))
    src = str(image.attrs.get("src", ""))
    if inside_link or not _allowed_href(src):
        return [label]
    return [Token("link_open", "a", 1, attrs={"href": src}), label, Token("link_close", "a", -1)]


def _safe_links(state: StateCore) -> None:
    """Core rule, after inline parsing: every inline token's children through :func:`_safe_inline`."""
    for token in state.tokens:
        if token.type == "inline" and token.children:
            token.children = _safe_inline(token.children)


def _heading_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return "<p><strong>"


def _heading_close(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return "</strong></p>\n"


def _any_url(url: str) -> bool:
    """Every destination parses as a link; :func:`_safe_inline` decides which keep an anchor."""
    return True


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable(["strikethrough", "table"])
    md.validateLink = _any_url  # type: ignore[method-assign]
    md.core.ruler.push("chat_safe_links", _safe_links)
    md.add_render_rule("heading_open", _heading_open)
    md.add_render_rule("heading_close", _heading_close)
    return md


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    """Values nh3 cannot restrict by itself: one ``language-xxx`` class, a numeric list start."""
    if attribute == "class":
        language = value.removeprefix(_LANGUAGE_PREFIX)
        well_formed = value.startswith(_LANGUAGE_PREFIX) and 0 < len(language) <= _LANGUAGE_MAX
        return value if well_formed and set(language) <= _LANGUAGE_CHARS else None
    if attribute == "start":
        return value if value.isascii() and value.isdigit() else None
    return value


_MD = _markdown()
_CLEANER = nh3.Cleaner(
    tags={
        "a", "blockquote", "br", "code", "em", "hr", "li", "ol", "p", "pre", "s", "strong",
        "table", "tbody", "td", "th", "thead", "tr", "ul",
    },
    attributes={"a": {"href"}, "code": {"class"}, "ol": {"start"}},
    attribute_filter=_attribute_filter,
    link_rel="noopener noreferrer nofollow",
    set_tag_attribute_values={"a": {"target": "_blank"}},
    url_schemes=set(_LINK_SCHEMES),
    url_relative="deny",
)
