"""``report.html``: the item analysis of :mod:`autograder.report` as one self-contained
page, its figures (a score histogram, the facility of each test cell) drawn with
Matplotlib and embedded as SVG data URIs: no network, no fonts needed to view it."""

from __future__ import annotations

import base64
import html
import io
import re

from autograder.report import (
    MIN_STUDENTS_FOR_DISCRIMINATION,
    NOT_GRADED,
    AssignmentReport,
    Item,
    Report,
)

# -- figures ---------------------------------------------------------------------------
HATCHES = ("", "//", "..", "xx", "\\\\", "oo", "--", "++")


def _svg(figure) -> str:
    """The figure as a data URI: an SVG whose text is drawn as paths, so it looks the
    same on every machine, prints sharp, and needs no font or network."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _histogram(assignment: AssignmentReport) -> str:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from course.plots import COLORS

    scores = list(assignment.scores.values())
    top = assignment.max_score
    if top <= 40 and all(float(s).is_integer() for s in scores):
        bins = [b - 0.5 for b in range(int(top) + 2)]  # one bar per whole score
    else:
        bins = [top * k / 20 for k in range(21)]
    figure = Figure(figsize=(4.6, 3.2), layout="constrained")
    ax = figure.subplots()
    ax.hist(
        scores, bins=bins, color=COLORS["blue"], edgecolor=COLORS["black"], linewidth=0.8,
        label="students",
    )  # fmt: skip
    mean = sum(scores) / len(scores)
    ax.axvline(mean, color=COLORS["vermillion"], linestyle="--", label=f"mean {mean:.3g}")
    ax.set_xlim(-0.5, top + 0.5)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"score on the autograded tests (out of {top:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{assignment.name}: scores of {len(scores)} submission(s)")
    figure.legend(loc="outside lower center", ncols=2, fontsize=9)
    return _svg(figure)


def _facility_chart(assignment: AssignmentReport) -> str:
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from course.plots import COLORS

    items = _hardest_first(assignment.items)
    palette = [COLORS[c] for c in ("blue", "orange", "green", "vermillion", "sky", "purple")]
    functions = list(dict.fromkeys(item.function for item in items))
    style = {
        f: (palette[k % len(palette)], HATCHES[k % len(HATCHES)]) for k, f in enumerate(functions)
    }
    figure = Figure(figsize=(6.4, 1.6 + 0.3 * len(items)), layout="constrained")
    ax = figure.subplots()
    positions = range(len(items))[::-1]  # hardest at the top
    for y, item in zip(positions, items, strict=True):
        color, hatch = style[item.function]
        ax.barh(y, item.facility, color=color, hatch=hatch, edgecolor=COLORS["black"], lw=0.8)
        ax.annotate(
            f"{item.facility:.2f}", (item.facility, y), xytext=(4, 0),
            textcoords="offset points", va="center", fontsize=9,
        )  # fmt: skip
    ax.set_yticks(list(positions), [item.grade_id for item in items], fontsize=9)
    ax.set_xlim(0, 1.12)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1])
    ax.set_xlabel("facility (mean score / max): 0 = nobody passed, 1 = everybody")
    ax.set_title(f"{assignment.name}: test cells, hardest first")
    ax.grid(axis="y", visible=False)
    figure.legend(
        handles=[
            Patch(
                facecolor=style[f][0], hatch=style[f][1], edgecolor=COLORS["black"],
                label=f or "(no graded function)",
            )
            for f in functions
        ],
        loc="outside lower center", ncols=min(3, len(functions)), fontsize=9,
    )  # fmt: skip
    return _svg(figure)


def _figures(assignment: AssignmentReport) -> list[tuple[str, str]]:
    """``[(data URI, alt text)]`` for an assignment with submissions."""
    import matplotlib as mpl

    from course.plots import use_style

    with mpl.rc_context():  # the course style, without leaking it into the caller's plots
        use_style()
        mpl.rcParams.update({"svg.hashsalt": "autograder-report", "hatch.linewidth": 0.6})
        figures = [
            (
                _histogram(assignment),
                f"Histogram of the scores of {assignment.submissions} submission(s) of "
                f"{assignment.name} on its autograded tests.",
            )
        ]
        if _hardest_first(assignment.items):  # none when every cell is worth 0 points
            figures.append(
                (
                    _facility_chart(assignment),
                    f"Facility of each test cell of {assignment.name}, hardest first "
                    "(the same numbers are in the table below).",
                )
            )
        return figures


# -- the page --------------------------------------------------------------------------
STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 72rem; margin: 2rem auto;
       padding: 0 1rem; color: #1a1a1a; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.25rem; margin-top: 2.5rem;
     border-bottom: 2px solid #1a1a1a; } h3 { font-size: 1.05rem; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.figures img { max-width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #bbb;
         vertical-align: top; }
th { border-bottom: 2px solid #1a1a1a; }
td.number { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.messages { width: 62%; }
.message { white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 13px; }
.count { font-weight: bold; }
.note { color: #444; } .empty { font-style: italic; }
dl.glossary dt { font-weight: bold; } dl.glossary dd { margin: 0 0 .5rem 1.5rem; }
@media print {
  body { max-width: none; margin: 0; font-size: 11pt; }
  .figures, tr, figure { break-inside: avoid; }
  h2 { break-after: avoid; }
}
"""


def _hardest_first(items: list[Item]) -> list[Item]:
    graded = [item for item in items if item.facility is not None]
    return sorted(graded, key=lambda item: item.facility)  # stable: ties keep notebook order


def _message_html(message: str) -> str:
    # One line in the CSV; here the check's "expected / got / hint" get a line each.
    return html.escape(re.sub(r" (expected|got|hint): ", r"\n\1: ", message))


def _failures_html(item: Item) -> str:
    if not item.messages:
        return "<span class='note'>everybody passed</span>"
    lines = [
        f"<div><span class='count'>{f.count}&times;</span> "
        f"<span class='message'>{_message_html(f.readable)}</span></div>"
        for f in item.messages
        if not f.message.startswith(NOT_GRADED)
    ]
    # The reasons are listed once, under the assignment; here they would repeat per cell.
    ungraded = sum(f.count for f in item.messages if f.message.startswith(NOT_GRADED))
    if ungraded:
        lines.append(
            f"<div><span class='count'>{ungraded}&times;</span> <span class='note'>not "
            "graded: the submission could not be run (reasons below)</span></div>"
        )
    return "".join(lines)


def _assignment_html(assignment: AssignmentReport) -> str:
    name = html.escape(assignment.name)
    parts = [f"<section id='{name}'><h2>{name}</h2>"]
    if not assignment.submissions:
        parts.append(
            f"<p class='empty'>No submissions: nobody has submitted {name} yet, or its "
            f"submissions have not been graded (run <code>autograder grade {name}</code>). "
            f"Nothing to analyse for its {len(assignment.items)} test cell(s).</p></section>"
        )
        return "\n".join(parts)
    scores = list(assignment.scores.values())
    mean = sum(scores) / len(scores)
    parts.append(
        f"<p>{assignment.submissions} submission(s); mean score on the autograded tests "
        f"{mean:.3g} of {assignment.max_score:g}.</p>"
    )
    if assignment.submissions < MIN_STUDENTS_FOR_DISCRIMINATION:
        parts.append(
            f"<p class='note'>With fewer than {MIN_STUDENTS_FOR_DISCRIMINATION} submissions "
            "there is no discrimination index: a correlation needs more students.</p>"
        )
    parts.append("<div class='figures'>")
    for uri, alt in _figures(assignment):
        parts.append(f"<img src='{uri}' alt='{html.escape(alt, quote=True)}'>")
    parts.append("</div>")

    parts.append(
        "<h3>Test cells, hardest first, with the most common failure messages</h3>"
        "<table><thead><tr><th>test cell</th><th>facility</th>"
        "<th>discrimination</th><th>failed</th><th>most common failure messages "
        "(students)</th></tr></thead><tbody>"
    )
    for item in _hardest_first(assignment.items):
        discrimination_text = "n/a" if item.discrimination is None else f"{item.discrimination:.2f}"
        parts.append(
            f"<tr><td><code>{html.escape(item.grade_id)}</code><br>"
            f"<span class='note'>checks <code>{html.escape(item.function or '?')}</code>"
            f"</span></td><td class='number'>{item.facility:.2f}</td>"
            f"<td class='number'>{discrimination_text}</td>"
            f"<td class='number'>{item.failed} of {item.submissions}</td>"
            f"<td class='messages'>{_failures_html(item)}</td></tr>"
        )
    parts.append("</tbody></table>")

    parts.append("<h3>Submissions that could not be graded</h3>")
    if assignment.ungraded:
        parts.append(
            "<p class='note'>They keep score 0 on the cells they lost, counted above as "
            "<q>not graded</q>.</p><table><thead><tr><th>student</th><th>reason</th></tr>"
            "</thead><tbody>"
        )
        for student, reason in assignment.ungraded:
            parts.append(
                f"<tr><td><code>{html.escape(student)}</code></td>"
                f"<td>{html.escape(reason)}</td></tr>"
            )
        parts.append("</tbody></table>")
    else:
        parts.append("<p class='note'>None: every submission was graded.</p>")
    parts.append("</section>")
    return "\n".join(parts)


GLOSSARY = f"""
<dl class='glossary'>
<dt>facility</dt><dd>mean score / max score of the test cell: 0 means nobody passed it,
1 means everybody did.</dd>
<dt>discrimination</dt><dd>correlation between the cell's score and the rest of the
student's score on the assignment's tests. High (above about 0.3): the students who pass
it are the ones who do well elsewhere. Near 0 or negative: the cell measures something
else than the rest (look at the test). <q>n/a</q> with fewer than
{MIN_STUDENTS_FOR_DISCRIMINATION} students or when nobody's score differs.</dd>
<dt>failure messages</dt><dd>what the failing test said to the student. Messages that
differ only in their numbers count as one, with <code>#</code> where the numbers differed
between students (<code>items.csv</code> has every number as <code>#</code>).
<q>Not graded</q> counts the cells lost by a submission that could not be run.</dd>
</dl>
"""


def _hardest_html(result: Report) -> str:
    hardest = result.hardest()
    if not hardest:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(item.assignment)}</td>"
        f"<td><a href='#{html.escape(item.assignment)}'><code>{html.escape(item.grade_id)}"
        f"</code></a></td><td class='number'>{item.facility:.2f}</td>"
        f"<td class='number'>{item.failed} of {item.submissions}</td>"
        f"<td><span class='count'>{item.messages[0].count}&times;</span> "
        f"<span class='message'>{_message_html(item.messages[0].readable)}</span></td></tr>"
        for item in hardest
    )
    return (
        f"<h2>The {len(hardest)} hardest test cells</h2><table><thead><tr><th>assignment</th>"
        "<th>test cell</th><th>facility</th><th>failed</th><th>most common failure message"
        f"</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def page_text(course: str, result: Report) -> str:
    """``report.html``: one self-contained page (figures as SVG data URIs)."""
    title = f"Item analysis: {course}"
    contents = " · ".join(
        f"<a href='#{html.escape(a.name)}'>{html.escape(a.name)}</a>" for a in result.assignments
    )
    body = [
        f"<h1>{html.escape(title)}</h1>",
        "<p>Which test cells did the class miss, and with which mistake? Scores come from "
        "the gradebook, failure messages from the autograded notebooks; "
        "<a href='#reading'>how to read this page</a>.</p>",
        f"<nav>Assignments: {contents}</nav>",
        _hardest_html(result),
        *(_assignment_html(a) for a in result.assignments),
        f"<h2 id='reading'>How to read this page</h2>{GLOSSARY}",
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
