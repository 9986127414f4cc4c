"""Student output made inert: nothing a student wrote runs in the browser of whoever looks.

Instructors read student work as HTML: formgrader renders each autograded notebook in the
instructor's own Jupyter server, where a script could read the XSRF cookie, open a
kernel and run code as the instructor. So the grader stores nothing that a viewer would
run (:func:`make_inert`, called by :mod:`autograder.record` on every autograded notebook),
and the pages nbgrader renders from student work clean what they show: ``nbgrader_config.py``
gives nbconvert's HTMLExporter :class:`MakeInert` as a preprocessor (for notebooks graded
some other way) and :func:`clean_html` and :func:`markdown2html` as filters.

The cleaning is bleach's (nbconvert's own sanitizer library) with an allowlist of tags
and attributes; nothing here edits markup with regular expressions.
"""

from __future__ import annotations

import html
from urllib.parse import urlsplit

import bleach
import tinycss2
from bleach.css_sanitizer import ALLOWED_SVG_PROPERTIES, CSSSanitizer
from jinja2 import pass_context
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode, from_dict

__all__ = [
    "MakeInert",
    "clean_html",
    "clean_svg",
    "make_inert",
    "markdown2html",
    "markdown_to_html",
]

# -- HTML ------------------------------------------------------------------------------
#: What a person needs to read an answer or an output: text, lists, tables, links,
#: images. No script, style, form, frame or embedded object.
HTML_TAGS = frozenset(
    {
        *("a", "abbr", "acronym", "b", "blockquote", "br", "caption", "cite", "code"),
        *("col", "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt", "em"),
        *("figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img"),
        *("ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span"),
        *("strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th"),
        *("thead", "tr", "u", "ul", "var"),
    }
)
#: Attributes allowed on every tag. Not ``id``: formgrader's scripts find each score box
#: by an id, and a student's element with that id would be found first. Not ``style``:
#: it can lay a fake form over the page.
GLOBAL_ATTRIBUTES = frozenset({"class", "title"})
TAG_ATTRIBUTES = {
    "a": frozenset({"href"}),
    "img": frozenset({"src", "alt", "width", "height"}),
    "td": frozenset({"colspan", "rowspan", "align"}),
    "th": frozenset({"colspan", "rowspan", "align", "scope"}),
    "ol": frozenset({"start", "type"}),
    "li": frozenset({"value"}),
    "details": frozenset({"open"}),
}
#: Where a link may go. ``data:`` is only ever allowed as an image (see below).
LINK_SCHEMES = frozenset({"", "http", "https", "mailto"})
#: Images a browser draws without running anything (an SVG shown by ``<img>`` runs no
#: script): pasted into a written answer, they arrive as ``data:`` URLs.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"})


def _scheme(url: str) -> str:
    # urlsplit drops what browsers drop (tabs, newlines, leading control characters),
    # so "java\tscript:" has the scheme a browser would see.
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:  # an unparseable URL is no link
        return "invalid"


def _is_image_data(url: str) -> bool:
    if _scheme(url) != "data":
        return False
    media_type = urlsplit(url).path.split(",", 1)[0].split(";", 1)[0]
    return media_type.strip().lower() in IMAGE_TYPES


def _html_attribute(tag: str, name: str, value: str) -> bool:
    if name in GLOBAL_ATTRIBUTES:
        return True
    if name not in TAG_ATTRIBUTES.get(tag, ()):
        return False
    if name == "href":
        return _scheme(value) in LINK_SCHEMES
    if name == "src":  # remote images would tell a third party who looks, and when
        return _is_image_data(value)
    return True


def clean_html(markup) -> str:
    """``markup`` with everything active removed and every tag not allowed shown as text.

    Scripts, styles, frames, forms and event handlers go; so do links that are not
    http(s) or mailto, and images that are not ``data:`` images. A tag that is not
    allowed is escaped rather than dropped, so the instructor sees what was attempted.
    The signature matches nbconvert's ``clean_html`` filter, which it replaces in
    ``nbgrader_config.py``.
    """
    markup = markup.decode() if isinstance(markup, bytes) else str(markup)
    cleaner = bleach.Cleaner(  # one per call: a Cleaner is not safe to share between threads
        tags=HTML_TAGS,
        attributes=_html_attribute,
        protocols=LINK_SCHEMES - {""} | {"data"},  # bleach's own check; ours is stricter
        strip=False,
        strip_comments=True,
    )
    return cleaner.clean(markup)


# -- SVG -------------------------------------------------------------------------------
SVG_TAGS = frozenset(
    {
        *("svg", "g", "defs", "symbol", "use", "path", "rect", "circle", "ellipse", "line"),
        *("polyline", "polygon", "text", "tspan", "title", "desc", "clipPath", "mask"),
        *("pattern", "marker", "linearGradient", "radialGradient", "stop"),
    }
)
SVG_ATTRIBUTES = frozenset(
    {
        *("xmlns", "version", "width", "height", "viewBox", "preserveAspectRatio", "id"),
        *("class", "style", "transform", "d", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy"),
        *("r", "rx", "ry", "fx", "fy", "points", "pathLength", "href", "dx", "dy"),
        *("rotate", "textLength", "fill", "fill-opacity", "fill-rule", "stroke"),
        *("stroke-width", "stroke-opacity", "stroke-linecap", "stroke-linejoin"),
        *("stroke-dasharray", "stroke-dashoffset", "stroke-miterlimit", "opacity"),
        *("clip-path", "clip-rule", "clipPathUnits", "mask", "maskUnits", "marker-start"),
        *("marker-mid", "marker-end", "markerWidth", "markerHeight", "markerUnits", "refX"),
        *("refY", "orient", "patternUnits", "patternTransform", "gradientUnits"),
        *("gradientTransform", "spreadMethod", "offset", "stop-color", "stop-opacity"),
        *("font-family", "font-size", "font-weight", "font-style", "text-anchor"),
        *("dominant-baseline", "letter-spacing", "visibility", "display", "color"),
    }
)
#: CSS functions that only compute a colour; every other function (``expression``,
#: ``url`` with a quoted address, ``image``, ...) is refused.
COLOR_FUNCTIONS = frozenset({"rgb", "rgba", "hsl", "hsla"})


def _inert_css_value(tokens) -> bool:
    for token in tokens:
        if token.type == "url":  # url(#clip1) points into the same image; nothing else
            if not token.value.startswith("#"):
                return False
        elif token.type == "function":
            if token.lower_name not in COLOR_FUNCTIONS or not _inert_css_value(token.arguments):
                return False
        elif token.type in ("() block", "[] block", "{} block", "error"):
            return False
    return True


class _SvgCSS(CSSSanitizer):
    """bleach's CSS sanitizer (SVG paint properties only), then, of what it kept, only
    declarations whose values call nothing and fetch nothing."""

    def __init__(self):
        super().__init__(allowed_css_properties=(), allowed_svg_properties=ALLOWED_SVG_PROPERTIES)

    def sanitize_css(self, style: str) -> str:
        declarations = tinycss2.parse_declaration_list(
            super().sanitize_css(style), skip_whitespace=True, skip_comments=True
        )
        return "; ".join(
            f"{d.name}: {tinycss2.serialize(d.value).strip()}"
            + (" !important" if d.important else "")
            for d in declarations
            if d.type == "declaration" and _inert_css_value(d.value)
        )


def _svg_attribute(tag: str, name: str, value: str) -> bool:
    if name not in SVG_ATTRIBUTES:
        return False
    if name == "href":  # <use href="#glyph">: a part of the same image, never an address
        return value.strip().startswith("#")
    return True


def clean_svg(svg) -> str:
    """An SVG image with only shapes, text and paint left: no script, no
    ``foreignObject``, no animation, no link, no event handler, no reference outside the
    image. What is removed is dropped (an image has nowhere to show it as text)."""
    svg = svg.decode() if isinstance(svg, bytes) else str(svg)
    cleaner = bleach.Cleaner(
        tags=SVG_TAGS,
        attributes=_svg_attribute,
        protocols=(),
        strip=True,
        strip_comments=True,
        css_sanitizer=_SvgCSS(),
    )
    return cleaner.clean(svg)


# -- Markdown --------------------------------------------------------------------------
def markdown_to_html(source: str, attachments: dict | None = None) -> str:
    """Markdown rendered as nbconvert renders it (mathematics left for MathJax, images
    pasted into the cell embedded), then cleaned by :func:`clean_html`."""
    from nbconvert.filters.markdown_mistune import (
        InvalidNotebook,
        IPythonRenderer,
        MarkdownWithMath,
    )

    renderer = IPythonRenderer(escape=False, attachments=dict(attachments or {}))
    try:
        rendered = MarkdownWithMath(renderer=renderer).render(source)
    except InvalidNotebook:  # an image names an attachment the cell does not have
        return f"<pre>{html.escape(source)}</pre>"  # still readable, as written
    return clean_html(rendered)


@pass_context
def markdown2html(context, source: str) -> str:
    """nbconvert's ``markdown2html`` template filter, cleaned.

    nbgrader's formgrade and feedback templates render markdown cells (the written
    answers) with ``markdown2html`` alone, without the ``clean_html`` that
    ``HTMLExporter.sanitize_html`` adds elsewhere; ``nbgrader_config.py`` installs this
    filter in its place so that every page nbgrader renders cleans them.
    """
    cell = context.get("cell") or {}
    return markdown_to_html(source, cell.get("attachments") or {})


# -- Notebooks -------------------------------------------------------------------------
#: Output formats kept as they are: text, LaTeX (viewers escape it and typeset it with
#: MathJax, whose "safe" extension formgrader and JupyterLab load) and raster images.
KEPT = frozenset({"text/plain", "text/latex", "image/png", "image/jpeg", "image/gif"})
#: Output formats kept once cleaned.
CLEANED = {"text/html": clean_html, "image/svg+xml": clean_svg}
#: What an image's output metadata may say, and what each value must be.
IMAGE_METADATA = {
    "width": (int, float),
    "height": (int, float),
    "unconfined": (bool,),
    "needs_background": (str,),
    "alt": (str,),
}
NAMES = {
    "application/javascript": "JavaScript",
    "application/vnd.jupyter.widget-view+json": "an interactive widget",
}


def _text(value) -> str | None:
    """A media value as text (nbformat may store it as a list of lines); None when it is
    not text at all, which only a hand-made message could produce."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "".join(value)
    return None


def _image_metadata(metadata) -> dict:
    """nbconvert writes an image's width and height into its tag unquoted: a string
    there ("1 onerror=...") would add attributes. Only numbers, flags and quoted text
    are kept, and only for images."""
    kept = {}
    for media_type, values in (metadata if isinstance(metadata, dict) else {}).items():
        if media_type not in KEPT or not media_type.startswith("image/"):
            continue
        if not isinstance(values, dict):
            continue
        entry = {
            key: value
            for key, value in values.items()
            if key in IMAGE_METADATA
            and isinstance(value, IMAGE_METADATA[key])
            and not (isinstance(value, bool) and key in ("width", "height"))
        }
        if entry.get("needs_background") not in (None, "light", "dark"):
            del entry["needs_background"]
        if entry:
            kept[media_type] = entry
    return kept


def _note(removed: list[str]) -> NotebookNode:
    names = [NAMES.get(media_type, media_type[:60]) for media_type in removed]
    if len(names) > 3:  # the names are the student's to choose: keep the note short
        names = [*names[:2], f"{len(names) - 2} other formats"]
    what = " and ".join(names)
    return from_dict(
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {
                "text/plain": f"[{what} not shown: the autograder keeps only text, images "
                "and cleaned HTML, so that opening this notebook runs nothing]"
            },
        }
    )


def _count(value) -> int | None:
    """An execution count as nbconvert prints it, unescaped, in the ``In [ ]`` prompt:
    a whole number, or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _inert_outputs(outputs: list) -> list:
    result = []
    for output in outputs:
        if not isinstance(output, dict):
            continue  # not an output at all; nbformat would refuse the notebook
        if output.get("output_type") not in ("display_data", "execute_result"):
            result.append(output)  # streams and errors are text, escaped by every viewer
            continue
        given = output.get("data")
        given = given if isinstance(given, dict) else {"an output of unknown shape": None}
        data, removed = {}, []
        for media_type, value in given.items():
            text = _text(value)
            if media_type == "text/plain":
                # Never touched: an execute_result's text is what nbgrader reads for
                # partial credit (a note is a display_data, which nbgrader never scores).
                data[media_type] = value
            elif media_type in KEPT and text is not None:
                data[media_type] = value
            elif media_type in CLEANED and text is not None:
                data[media_type] = CLEANED[media_type](text)
            elif media_type != "text/markdown" or text is None:
                removed.append(str(media_type))
        markdown = _text(given.get("text/markdown"))
        if markdown is not None and "text/html" not in data:
            data["text/html"] = markdown_to_html(markdown)
        output["data"] = data
        output["metadata"] = _image_metadata(output.get("metadata"))
        if output["output_type"] == "execute_result":
            output["execution_count"] = _count(output.get("execution_count"))
        if output["output_type"] == "execute_result" or data:
            result.append(output)
        if removed:
            result.append(_note(removed))
    return result


def make_inert(notebook: NotebookNode) -> NotebookNode:
    """Make a graded notebook safe to open anywhere; changes it in place and returns it.

    Every output of every cell (test cells too: they show what student code printed):
    HTML and SVG are cleaned, markdown becomes cleaned HTML, JavaScript, widgets and
    any other format are replaced by a short note, and image metadata and execution
    counts keep only numbers (nbconvert prints both unquoted, unescaped). The widget
    state saved with the notebook is dropped.
    Text outputs, errors and the cells' sources (the written answers) stay as they are;
    the pages that show a written answer clean it (:func:`markdown2html`).

    Scores cannot change: the grader calls this after nbgrader has saved them, and it
    never changes what nbgrader scores by (errors, stderr, an execute_result's text).
    """
    for cell in notebook.cells:
        if isinstance(cell.get("outputs"), list):
            cell.outputs = _inert_outputs(cell.outputs)
        if "execution_count" in cell:
            cell.execution_count = _count(cell.execution_count)
    notebook.metadata.pop("widgets", None)
    return notebook


class MakeInert(Preprocessor):
    """:func:`make_inert` as an nbconvert preprocessor: ``nbgrader_config.py`` gives it to
    the HTMLExporter that formgrader and ``nbgrader generate_feedback`` use, so that a
    notebook autograded some other way (``nbgrader autograde``, an older grader) is
    shown inert too. It works on the exporter's copy; the file is not changed."""

    def preprocess(self, nb, resources):
        return make_inert(nb), resources
