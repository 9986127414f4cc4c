"""Find what in an HTML page could run code or load a document: scripts, frames, event
handlers, ``javascript:`` and ``data:`` addresses, CSS that executes.

It reads the page with Python's HTML parser, which tokenizes tags, attributes and
character references as browsers do, rather than searching the text: an escaped
``&lt;script&gt;`` is text, and an attribute spelled ``JaVa&#9;ScRiPt:`` is found.
A page's own furniture (formgrader's scripts, say) is active too; compare a page with one
rendered from harmless work to see what the student added (:func:`added`).
"""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser
from urllib.parse import urlsplit

#: Elements that run code or load another document, whatever their attributes.
EMBEDDING = frozenset(
    {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "portal"}
)
#: Elements that fetch or send on their own: the page's own stylesheets, forms.
LOADING = frozenset({"link", "form"})
#: Attributes whose value is an address.
URL_ATTRIBUTES = frozenset(
    {
        *("href", "src", "action", "formaction", "data", "background", "poster"),
        *("codebase", "cite", "ping", "lowsrc", "dynsrc", "srcset", "xlink:href"),
    }
)
SCRIPT_SCHEMES = frozenset({"javascript", "vbscript", "livescript"})
SVG_ANIMATION = frozenset({"animate", "set", "animatetransform", "animatemotion"})
#: CSS that runs code (old Internet Explorer, old Firefox) or calls a javascript: URL.
ACTIVE_CSS = ("expression(", "javascript:", "vbscript:", "behavior:", "-moz-binding")


def _scheme(url: str) -> str:
    return urlsplit(url).scheme.lower()  # strips what browsers strip, as they do


def _active_css(css: str) -> bool:
    squeezed = "".join(css.split()).lower().replace("\\", "")
    return any(word in squeezed for word in ACTIVE_CSS)


def _inert_image(tag: str, name: str, value: str) -> bool:
    """A ``data:`` image shown by ``<img>``: a browser draws it and runs nothing."""
    if tag not in ("img", "source") or name not in ("src", "srcset"):
        return False
    return urlsplit(value.strip()).path.lower().startswith("image/")


class _Finder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.text: list[str] = []
        self._in: str | None = None  # "script" or "style" while inside one
        self._script: int | None = None  # where the open script is in ``found``

    def _add(self, what: str) -> None:
        self.found.append(what if len(what) <= 160 else what[:157] + "...")

    def handle_starttag(self, tag, attrs):
        described = f"<{tag} " + " ".join(f"{n}={v!r}" for n, v in attrs) + ">"
        if tag in EMBEDDING or tag in LOADING:
            self._add(described)
            self._script = len(self.found) - 1 if tag == "script" else None
        if tag == "meta" and any(
            n == "http-equiv" and (v or "").lower() == "refresh" for n, v in attrs
        ):
            self._add(described)
        for name, value in attrs:
            value = value or ""
            if name.startswith("on") or name == "srcdoc":
                self._add(f"{name}= on <{tag}>: {value}")
            elif name == "style" and _active_css(value):
                self._add(f"style= on <{tag}>: {value}")
            elif name in URL_ATTRIBUTES:
                addresses = value.split(",") if name == "srcset" else [value]
                for address in addresses:
                    scheme = _scheme(address.strip())
                    if scheme in SCRIPT_SCHEMES or (
                        scheme == "data" and not _inert_image(tag, name, address)
                    ):
                        self._add(f"{name}={address.strip()[:80]!r} on <{tag}>")
            elif tag in SVG_ANIMATION and name == "attributename":
                if value.lower() in ("href", "xlink:href") or value.lower().startswith("on"):
                    self._add(described)
        if tag in ("script", "style"):
            self._in = tag

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in ("script", "style"):
            self._in = None

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "script":
            if data.strip() and self._script is not None:
                self.found[self._script] += " " + " ".join(data.split())[:80]
        elif self._in == "style":
            if _active_css(data):
                self._add(f"<style>: {' '.join(data.split())[:80]}")
        else:
            self.text.append(data)


def parse(page: str) -> _Finder:
    finder = _Finder()
    finder.feed(page)
    finder.close()
    return finder


def active_content(page: str) -> list[str]:
    """Every active thing in ``page``, described on one line each, in page order."""
    return parse(page).found


def added(page: str, baseline: str) -> list[str]:
    """The active things in ``page`` that ``baseline`` (the same page rendered from
    harmless work) does not have."""
    return sorted((Counter(active_content(page)) - Counter(active_content(baseline))).elements())


def visible_text(page: str) -> str:
    """The page's text as a reader sees it (outside scripts and styles), whitespace
    collapsed."""
    return " ".join(" ".join(parse(page).text).split())
