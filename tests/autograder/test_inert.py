"""Is student output inert wherever an instructor looks at it?

A hostile student can put markup in what their code displays and in a written answer.
These tests hand every class of payload to the cleaning functions, to formgrader's own
page (its ``formgrade`` template, with the course's config loaded the way formgrader
loads it), and, after a real grading run, to every page the project and nbgrader write
from student work; an HTML parser looks for anything active (tests/active_content.py).
"""

from __future__ import annotations

import base64
import copy
import io
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from autograder.export import cell_rows
from autograder.feedback import feedback
from autograder.grade import grade
from autograder.inert import clean_html, clean_svg, make_inert, markdown_to_html
from autograder.report import report
from tests.active_content import active_content, added, visible_text
from tests.conftest import ROOT
from tests.submissions import set_answer, solved, write_submission

# One of each class of payload; each would run (or load a document) if shown as it is.
PAYLOADS = {
    "script tag": "<script>alert('xss-script')</script>",
    "event handler": "<img src='x' onerror=\"alert('xss-onerror')\">",
    "event handler, unquoted": "<svg/onload=alert('xss-svg-onload')>",
    "javascript: link": "<a href=\"javascript:alert('xss-link')\">a link</a>",
    "javascript: link, disguised": '<a href=" JaVa&#x09;ScRiPt&colon;alert(1)">a link</a>',
    "data: link": "<a href='data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=='>a</a>",
    "data: frame": "<iframe src='data:text/html,<script>alert(1)</script>'></iframe>",
    "iframe": "<iframe src='https://example.org/'></iframe>",
    "iframe srcdoc": "<iframe srcdoc=\"<script>alert('xss-srcdoc')</script>\"></iframe>",
    "SVG with script": "<svg><script>alert('xss-svg-script')</script></svg>",
    "SVG link": "<svg><a href=\"javascript:alert('xss-svg-a')\"><text>t</text></a></svg>",
    "SVG animation": "<svg><a><set attributeName='href' to='javascript:alert(1)'/>a</a></svg>",
    "CSS expression": "<div style=\"width: expression(alert('xss-expression'))\">w</div>",
    "CSS url(javascript:)": "<div style=\"background: url(javascript:alert('xss-css'))\">b</div>",
    "style element": "<style>body { background: url('javascript:alert(1)') }</style>",
    "object": "<object data=\"javascript:alert('xss-object')\"></object>",
    "embed": "<embed src='https://example.org/x.swf'>",
    "form": "<form action=\"javascript:alert('xss-form')\"><button>go</button></form>",
    "meta refresh": "<meta http-equiv='refresh' content=\"0;url=javascript:alert(1)\">",
    "base": "<base href=\"javascript:alert('xss-base')//\">",
    "MathML link": "<math href=\"javascript:alert('xss-math')\"><mi>x</mi></math>",
}
# What markdown itself can make active (a written answer is markdown).
MARKDOWN_PAYLOADS = {
    "markdown javascript: link": "[click](javascript:alert('xss-md-link'))",
    "markdown javascript: image": "![x](javascript:alert('xss-md-image'))",
    "markdown autolink": "<javascript:alert('xss-md-autolink')>",
    "markdown reference link": "[click][r]\n\n[r]: javascript:alert('xss-md-ref')",
}
SVG_PAYLOADS = {
    "script": "<script>alert(1)</script>",
    "onload": "<g onload='alert(1)'><rect width='1' height='1'/></g>",
    "link": "<a href='javascript:alert(1)'><rect width='1' height='1'/></a>",
    "foreignObject": "<foreignObject><iframe src='javascript:alert(1)'></iframe></foreignObject>",
    "animation": "<set attributeName='onmouseover' to='alert(1)'/>"
    "<animate attributeName='href' values='javascript:alert(1)'/>",
    "CSS expression": "<rect style='fill: expression(alert(1))' width='1' height='1'/>",
    "CSS url()": "<rect style=\"fill: url('javascript:alert(1)')\" width='1' height='1'/>",
}
SVG_OPEN = "<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'>"
EVERYTHING = "".join(PAYLOADS.values())
EVERY_MARKDOWN = "\n\n".join(MARKDOWN_PAYLOADS.values())
#: A written answer: honest text, then every payload.
WRITTEN = f"A likelihood is not a density.\n\n{EVERYTHING}\n\n{EVERY_MARKDOWN}"


# -- the checker ------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_the_checker_sees_every_payload(name):
    """Does the checker find each payload active when it is shown as it is? (Otherwise
    every test below that finds nothing would prove nothing.)"""
    assert active_content(f"<div>{PAYLOADS[name]}</div>")


def test_the_checker_sees_past_escaped_text_and_images():
    """Is an escaped script, or a data: image in an <img>, left alone by the checker?"""
    assert active_content("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>") == []
    assert active_content("<img src='data:image/png;base64,iVBORw0KGgo=' alt=''>") == []


# -- the cleaners ----------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_clean_html_leaves_nothing_active(name):
    """Is every class of payload inert once cleaned?"""
    assert active_content(clean_html(PAYLOADS[name])) == []


def test_clean_html_keeps_what_a_reader_needs():
    """Are text, tables, links, pasted images and code highlighting kept, and a removed
    tag shown as text so the instructor sees what was tried?"""
    image = "data:image/png;base64,iVBORw0KGgo="
    cleaned = clean_html(
        f"<p>A <b>bold</b> claim with <a href='https://example.org/'>a source</a>.</p>"
        f"<table><tr><th>n</th></tr><tr><td>3</td></tr></table><img src='{image}' alt='a plot'>"
        "<div class='highlight'><pre><span class='k'>def</span></pre></div>"
        "<script>alert('xss')</script>"
    )
    for kept in (
        "<b>bold</b>",
        '<a href="https://example.org/">',
        "<td>3</td>",
        f'<img src="{image}" alt="a plot">',
        '<span class="k">',
    ):
        assert kept in cleaned
    assert "<script>alert('xss')</script>" in visible_text(cleaned)


def test_clean_html_drops_ids_and_remote_images():
    """Can a student's element not take the id formgrader's scripts look a score box up
    by, nor make the instructor's browser fetch an address?"""
    cleaned = clean_html(
        "<p id='written_likelihood_not_a_distribution'>x</p><img src='https://example.org/t.png'>"
    )
    assert cleaned == "<p>x</p><img>"


@pytest.mark.parametrize("name", sorted(PAYLOADS | MARKDOWN_PAYLOADS))
def test_markdown_renders_inert(name):
    """Is a written answer holding a payload (raw HTML or markdown) inert once rendered?"""
    source = {**PAYLOADS, **MARKDOWN_PAYLOADS}[name]
    assert active_content(markdown_to_html(f"My answer: $x < y$.\n\n{source}\n")) == []


def test_markdown_keeps_the_answer_readable():
    """Does a written answer keep its text, emphasis, mathematics and pasted image?"""
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    rendered = markdown_to_html(
        "The *likelihood* $L(\\theta) = \\prod_i p_\\theta(x_i)$ is not a density.\n\n"
        "![my sketch](attachment:sketch.png)\n",
        {"sketch.png": {"image/png": png}},
    )
    assert "<em>likelihood</em>" in rendered
    assert "$L(\\theta) = \\prod_i p_\\theta(x_i)$" in rendered
    assert f'src="data:image/png;base64,{png}"' in rendered
    # An image naming a missing attachment still shows the answer, as written.
    assert "my sketch" in visible_text(markdown_to_html("![my sketch](attachment:gone.png)"))


@pytest.mark.parametrize("name", sorted(SVG_PAYLOADS))
def test_clean_svg_leaves_nothing_active(name):
    """Is every class of SVG payload inert once cleaned, even drawn inline?"""
    svg = f"{SVG_OPEN}{SVG_PAYLOADS[name]}</svg>"
    assert active_content(svg)
    assert active_content(clean_svg(svg)) == []


def test_clean_svg_keeps_no_outside_reference():
    """Does a cleaned SVG point at nothing outside itself (no fetch, no tracking)?"""
    svg = (
        f"{SVG_OPEN}<use href='https://example.org/x.svg#a'/>"
        "<rect style='fill: url(https://example.org/p.svg#g)' width='1' height='1'/>"
        "<rect fill='url(https://example.org/p.svg#g)' width='1' height='1'/></svg>"
    )
    assert "example.org" not in clean_svg(svg)


def test_clean_svg_keeps_a_matplotlib_figure():
    """Does a Matplotlib figure keep its shapes, their paint and the references inside it?"""
    from matplotlib.figure import Figure

    figure = Figure()
    figure.subplots().plot([0, 1, 4], color="#d55e00")
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    cleaned = clean_svg(svg)
    assert cleaned.count("<path") == svg.count("<path")
    assert "stroke: #d55e00" in cleaned
    assert 'clip-path="url(#' in cleaned and 'href="#' in cleaned


# -- the notebook the grader writes ------------------------------------------------------
def _test_cell(*outputs) -> nbformat.NotebookNode:
    cell = new_code_cell("checks.expect_value(...)", outputs=list(outputs))
    cell.metadata.nbgrader = {
        "grade": True,
        "solution": False,
        "locked": True,
        "grade_id": "test_f",
        "points": 2,
        "schema_version": 3,
    }
    return cell


def _display(data, metadata=None, kind="display_data"):
    extra = {"execution_count": 1} if kind == "execute_result" else {}
    return new_output(kind, data=data, metadata=metadata or {}, **extra)


def test_make_inert_cleans_every_kind_of_output():
    """Are HTML, SVG and markdown outputs cleaned, JavaScript and widgets replaced by a
    note, image metadata reduced to numbers, and text and errors left as they were?"""
    html = PAYLOADS["script tag"] + "<b>shown</b>"
    widget = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    notebook = new_notebook(
        cells=[
            new_code_cell(
                "...",
                outputs=[
                    new_output("stream", name="stdout", text="<script>printed</script>\n"),
                    _display({"text/html": html, "text/plain": "<HTML>"}),
                    _display({"application/javascript": "alert(1)", "text/plain": "<JS>"}),
                    _display({"application/vnd.jupyter.widget-view+json": widget}),
                    _display({"image/svg+xml": f"{SVG_OPEN}<script>alert(1)</script></svg>"}),
                    _display({"text/markdown": MARKDOWN_PAYLOADS["markdown javascript: link"]}),
                    _display({"text/vnd.mermaid": "</pre><script>alert(1)</script>"}),
                    _display(
                        {"image/png": "iVBORw0KGgo="},
                        {"image/png": {"width": "1 onerror=alert(1)", "height": 20}},
                    ),
                    _display({"text/html": html}, {"text/html": {"isolated": True}}),
                    new_output("error", ename="CheckFailure", evalue="<b>x</b>", traceback=[]),
                ],
            ),
            new_markdown_cell("<script>alert('written')</script> my answer"),
        ],
        metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}}},
    )
    written = notebook.cells[1].source
    outputs = make_inert(notebook).cells[0].outputs
    data = [o.get("data", {}) for o in outputs]
    assert outputs[0].text == "<script>printed</script>\n"
    assert data[1] == {"text/html": clean_html(html), "text/plain": "<HTML>"}
    assert data[2] == {"text/plain": "<JS>"}
    assert data[3]["text/plain"].startswith("[JavaScript not shown: the autograder keeps")
    assert data[4]["text/plain"].startswith("[an interactive widget not shown")
    assert "<script" not in data[5]["image/svg+xml"]
    assert active_content(data[5]["image/svg+xml"]) == []
    assert "javascript" not in data[6]["text/html"] and "click" in data[6]["text/html"]
    assert "text/vnd.mermaid" in data[7]["text/plain"]
    assert outputs[8].metadata == {"image/png": {"height": 20}}
    assert outputs[9].metadata == {}
    assert outputs[10].output_type == "error" and outputs[10].evalue == "<b>x</b>"
    assert notebook.cells[1].source == written  # a written answer is stored as written
    assert "widgets" not in notebook.metadata
    nbformat.validate(notebook)


def test_make_inert_survives_outputs_of_any_shape():
    """Does an output no kernel would send (sent by hand over the kernel's own socket)
    become a note instead of stopping the grader or slipping through?"""
    odd = [
        {"output_type": "display_data", "data": {"text/html": {"not": "text"}, "image/png": 3}},
        _display({"text/markdown": ["*a* ", "<script>alert(1)</script>"]}),
        {"output_type": "display_data", "data": "<script>alert(1)</script>", "metadata": []},
        _display({f"application/x-{n}": "x" for n in range(9)}),
    ]
    notebook = new_notebook(cells=[new_code_cell("...")])
    notebook.cells[0].outputs = nbformat.from_dict(odd)  # as a hand-made message leaves it
    outputs = make_inert(notebook).cells[0].outputs
    notes = [o.data["text/plain"] for o in outputs if "text/plain" in o.data]
    assert notes[0].startswith("[text/html and image/png not shown")
    markdown = outputs[1].data["text/html"]
    assert markdown == "<p><em>a</em> &lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
    assert notes[1].startswith("[an output of unknown shape not shown")
    assert notes[2].startswith("[application/x-0 and application/x-1 and 7 other formats")
    assert all(active_content(str(o.data.get("text/html", ""))) == [] for o in outputs)


def test_execution_counts_are_numbers():
    """Is an execution count that is not a number (nbconvert prints it into the prompt
    unescaped) dropped?"""
    result = _display({"text/plain": "1"}, kind="execute_result")
    notebook = new_notebook(
        cells=[new_code_cell("...", outputs=[result]), new_code_cell("...", execution_count=4)]
    )
    notebook.cells[0].execution_count = "<img src=x onerror=alert(1)>"
    notebook.cells[0].outputs[0].execution_count = "<script>alert(1)</script>"
    make_inert(notebook)
    assert notebook.cells[0].execution_count is None
    assert notebook.cells[0].outputs[0].execution_count is None
    assert notebook.cells[1].execution_count == 4


JS = {"application/javascript": "alert(1)"}
ERROR = new_output("error", ename="CheckFailure", evalue="", traceback=[])


@pytest.mark.parametrize(
    "outputs",
    [
        [_display({"text/plain": "0.5", **JS}, kind="execute_result")],  # partial credit
        [_display(JS), _display({"text/plain": "1"}, kind="execute_result")],
        [_display({"text/html": "<b>1</b>"}), new_output("stream", name="stderr", text="w")],
        [_display({"application/vnd.jupyter.widget-view+json": {}, "text/plain": "0.25"},
                  kind="execute_result")],
        [_display({"text/markdown": "*x*"}), ERROR],
        [_display(JS)],
    ],
)  # fmt: skip
def test_make_inert_cannot_change_a_score(outputs):
    """Would nbgrader score every test cell the same after cleaning (partial credit from
    an execute_result's text, zero for an error or stderr, full marks otherwise)?"""
    from nbgrader.utils import determine_grade

    notebook = new_notebook(cells=[_test_cell(*outputs)])
    before = determine_grade(copy.deepcopy(notebook.cells[0]))
    assert determine_grade(make_inert(notebook).cells[0]) == before


# -- formgrader's page ------------------------------------------------------------------
def formgrader_page(root: Path, notebook: Path) -> str:
    """``notebook`` as formgrader shows it: its own exporter, built by its own extension
    from the config it loads (``nbgrader_config.py`` in the working directory), rendered
    with the resources its submission handler passes."""
    from nbgrader.server_extensions.formgrader.formgrader import FormgradeExtension

    cwd, path = Path.cwd(), list(sys.path)
    os.chdir(root)
    try:
        extension = FormgradeExtension()
        extension.root_dir = str(root.parent)
        extension.initialize([])
        webapp = types.SimpleNamespace(settings={})
        extension.init_tornado_settings(webapp)
        exporter = webapp.settings["nbgrader_exporter"]
        assert exporter.template_name == "formgrade"
        resources = {
            "assignment_id": "01_likelihood",
            "notebook_id": ASSIGNMENT,
            "submission_id": "a-submission",
            "index": 0,
            "total": 1,
            "base_url": "",
            "student": "a-student",
            "last_name": None,
            "first_name": None,
            "notebook_path": "autograded/a-student/01_likelihood/01_likelihood.ipynb",
        }
        html, _ = exporter.from_filename(str(notebook), resources=resources)
        return html
    finally:
        os.chdir(cwd)
        sys.path[:] = path


def _hostile_notebook() -> nbformat.NotebookNode:
    """Every payload in an output (raw, as `nbgrader autograde` would store it) and in a
    written answer."""
    answer = new_markdown_cell(WRITTEN)
    answer.metadata.nbgrader = {
        "grade": True,
        "solution": True,
        "locked": False,
        "grade_id": "written_answer",
        "points": 2,
        "schema_version": 3,
    }
    outputs = [
        new_output("stream", name="stdout", text="an honest line\n"),
        _display({"text/html": "<b>honest bold</b>" + EVERYTHING}),
        _display({"application/javascript": "alert('xss-js')"}),
        _display({"application/vnd.jupyter.widget-view+json": {"model_id": "m"}}),
        _display({"image/svg+xml": SVG_OPEN + "".join(SVG_PAYLOADS.values()) + "</svg>"}),
        _display({"text/markdown": EVERY_MARKDOWN + EVERYTHING}),
        _display({"image/png": "iVBORw0KGgo="}, {"image/png": {"width": "1 onerror=alert(1)"}}),
        _display({"text/html": EVERYTHING}, {"text/html": {"isolated": True}}),
    ]
    return new_notebook(
        cells=[answer, new_code_cell("print(...)", outputs=outputs, execution_count=1)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )


def test_formgrader_shows_a_hostile_notebook_inert(tmp_path):
    """With the course's config, does formgrader show a notebook that was never cleaned
    (graded by plain `nbgrader autograde`, say) with nothing active from the student, and
    the honest parts still there?"""
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", root)
    hostile, harmless = root / "hostile.ipynb", root / "harmless.ipynb"
    nbformat.write(_hostile_notebook(), hostile)
    calm = _hostile_notebook()
    calm.cells[0].source = "A likelihood is not a density."
    calm.cells[1].outputs = calm.cells[1].outputs[:1]
    nbformat.write(calm, harmless)
    page = formgrader_page(root, hostile)
    assert added(page, formgrader_page(root, harmless)) == []
    text = visible_text(page)
    for shown in ("A likelihood is not a density.", "an honest line", "honest bold"):
        assert shown in text
    assert "<script>alert('xss-script')</script>" in text  # shown, as text


def test_without_the_course_config_formgrader_would_run_the_payload(tmp_path):
    """Is formgrader's page live without the course's settings? (What the config is for,
    and proof that the test above can fail.)"""
    root = tmp_path / "course"
    root.mkdir()
    (root / "nbgrader_config.py").write_text("c = get_config()\n")
    hostile, harmless = root / "hostile.ipynb", root / "harmless.ipynb"
    nbformat.write(_hostile_notebook(), hostile)
    nbformat.write(new_notebook(cells=[new_markdown_cell("calm")]), harmless)
    live = added(formgrader_page(root, hostile), formgrader_page(root, harmless))
    assert any("xss-script" in item for item in live)
    assert any(item.startswith("onerror=") for item in live)
    assert any("javascript:" in item for item in live)


# -- a real grading run ------------------------------------------------------------------
ASSIGNMENT = "01_likelihood"
HTML_PAYLOAD = "<b>honest bold</b>" + EVERYTHING
SVG_PAYLOAD = SVG_OPEN + "".join(SVG_PAYLOADS.values()) + "</svg>"
REPORT_PAYLOAD = "<img src=x onerror=alert('xss-report')>"
MARKDOWN_OUTPUT = EVERY_MARKDOWN + EVERYTHING
MALLORY_BERNOULLI = f'''
import ipywidgets
from IPython.display import HTML, SVG, Javascript, Latex, Markdown, display

HTML_PAYLOAD = {HTML_PAYLOAD!r}
display(HTML(HTML_PAYLOAD))
display(HTML(HTML_PAYLOAD), metadata={{"text/html": {{"isolated": True}}}})
display(Javascript("alert('xss-js')"))
display(SVG({SVG_PAYLOAD!r}))
display(Markdown({MARKDOWN_OUTPUT!r}))
display(Latex(r"$\\href{{javascript:alert('xss-latex')}}{{x}}$"))
display({{"image/png": "iVBORw0KGgo=", "text/plain": "a tiny image"}}, raw=True,
        metadata={{"image/png": {{"width": "1 onerror=alert('xss-width')"}}}})
display({{"text/vnd.mermaid": "</pre><script>alert('xss-mermaid')</script>"}}, raw=True)
display(ipywidgets.HTML("<img src=x onerror=alert('xss-widget')>"))
print("an honest line: the likelihood is a product")


def likelihood_bernoulli(x, theta):
    """Likelihood of i.i.d. coin flips x under a Bernoulli(theta) model."""
    display(HTML("<script>alert('xss-in-a-test-cell')</script><i>from a test</i>"))
    print("<script>alert('xss-stdout')</script>")
    x = np.asarray(x)
    return float(np.prod(np.where(x == 1, theta, 1.0 - theta)))


"plain result: " + str(likelihood_bernoulli(np.array([1, 1, 0]), 0.5))
'''
MALLORY_GAUSSIAN = f"""
def likelihood_gaussian(x, mu, sigma):
    raise ValueError({REPORT_PAYLOAD!r})
"""
TWIN_GAUSSIAN = """
def likelihood_gaussian(x, mu, sigma):
    raise ValueError("plain")
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One course graded for real: Ada (the instructor's solution), Mallory (every
    payload, in outputs and in her written answer) and Mallory's twin (the same answers
    without the payloads). Then every page written from their work."""
    root = tmp_path_factory.mktemp("inert") / "course"
    for name in ("source", "release"):
        shutil.copytree(ROOT / name / ASSIGNMENT, root / name / ASSIGNMENT)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    write_submission(root / "submitted", "ada", ASSIGNMENT, solved(ASSIGNMENT))
    mallory = solved(ASSIGNMENT, {"likelihood_gaussian": MALLORY_GAUSSIAN})
    set_answer(mallory, "likelihood_bernoulli", MALLORY_BERNOULLI)
    set_answer(mallory, "written_likelihood_not_a_distribution", WRITTEN)
    write_submission(root / "submitted", "mallory", ASSIGNMENT, mallory)
    twin = solved(ASSIGNMENT, {"likelihood_gaussian": TWIN_GAUSSIAN})
    write_submission(root / "submitted", "twin", ASSIGNMENT, twin)
    outcomes = {o.student: o for o in grade(root=root, workers=2)}
    assert {o.status for o in outcomes.values()} == {"graded"}, outcomes
    feedback(root=root)
    report(root=root)
    subprocess.run(
        [Path(sys.executable).parent / "nbgrader", "generate_feedback", ASSIGNMENT,
         "--CourseDirectory.feedback_directory=nbgrader_feedback"],
        cwd=root, check=True, capture_output=True, timeout=600,
    )  # fmt: skip

    def autograded(student):
        return root / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"

    return types.SimpleNamespace(root=root, outcomes=outcomes, autograded=autograded)


@pytest.mark.slow
def test_payloads_change_no_score(graded):
    """Does Mallory score exactly as her twin on every autograded cell, and would nbgrader
    score her stored (cleaned) notebook as the gradebook has it?"""
    from nbgrader.utils import determine_grade

    rows = {(r["student_id"], r["grade_id"]): r["score"] for r in cell_rows(graded.root)}
    tests = sorted(g for s, g in rows if s == "mallory" and g.startswith("test_"))
    assert tests
    assert [rows["mallory", g] for g in tests] == [rows["twin", g] for g in tests]
    assert rows["mallory", "test_likelihood_bernoulli_hidden"] == 2.0  # passed, displays and all
    stored = nbformat.read(graded.autograded("mallory"), as_version=4)
    for cell in stored.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id.startswith("test_"):
            assert determine_grade(cell)[0] == rows["mallory", grade_id], grade_id


@pytest.mark.slow
def test_the_stored_notebook_is_inert(graded):
    """Does the autograded notebook hold no JavaScript, widget or unknown output and no
    widget state, but the written answer as written and the honest text outputs?"""
    stored = nbformat.read(graded.autograded("mallory"), as_version=4)
    types_ = {t for c in stored.cells for o in c.get("outputs", []) for t in o.get("data", {})}
    assert types_ <= {"text/plain", "text/html", "text/latex", "image/png", "image/svg+xml"}
    assert "widgets" not in stored.metadata
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in stored.cells}
    assert cells["written_likelihood_not_a_distribution"].source == WRITTEN
    texts = [
        o.get("text", "") + o.get("data", {}).get("text/plain", "")
        for o in cells["likelihood_bernoulli"].outputs
    ]
    assert "an honest line: the likelihood is a product\n" in texts
    assert "'plain result: 0.125'" in texts
    assert any(t.startswith("[JavaScript not shown") for t in texts)


@pytest.mark.slow
def test_formgrader_shows_the_graded_payloads_inert(graded):
    """Rendered as formgrader renders it, does Mallory's notebook add nothing active to
    what Ada's has, while showing her honest output and her written answer?"""
    page = formgrader_page(graded.root, graded.autograded("mallory"))
    baseline = formgrader_page(graded.root, graded.autograded("ada"))
    assert added(page, baseline) == []
    assert not [item for item in active_content(page) if "xss" in item]
    text = visible_text(page)
    for shown in (
        "A likelihood is not a density.",
        "an honest line: the likelihood is a product",
        "'plain result: 0.125'",
        "honest bold",
        "from a test",
        "<script>alert('xss-stdout')</script>",  # printed, so shown as the text it is
        "[JavaScript not shown",
        "[an interactive widget not shown",
    ):
        assert shown in text, shown
    # LaTeX is shown as text for MathJax, which formgrader loads with its Safe extension.
    assert "\\href{javascript:alert('xss-latex')}{x}" in text
    assert "TeX-AMS_CHTML-full,Safe" in page


@pytest.mark.slow
def test_the_stored_notebook_is_inert_in_nbconverts_own_page(graded):
    """Does nbconvert's default (lab) page of the stored notebook, sanitized as nbviewer
    sanitizes and without the course's filters, hold nothing active from Mallory?"""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    exporter = HTMLExporter(config=Config({"HTMLExporter": {"sanitize_html": True}}))
    page, _ = exporter.from_filename(str(graded.autograded("mallory")))
    baseline, _ = exporter.from_filename(str(graded.autograded("ada")))
    assert added(page, baseline) == []


@pytest.mark.slow
def test_feedback_pages_are_inert(graded):
    """Do `autograder feedback` and `nbgrader generate_feedback` pages hold nothing active
    from Mallory, though they quote her answers and her errors?"""
    ours = (graded.root / "feedback/mallory" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert active_content(ours) == []
    assert REPORT_PAYLOAD in visible_text(ours)  # the check quotes her error, as text
    assert "<script>alert('xss-script')</script>" in visible_text(ours)  # her answer
    folder = graded.root / "nbgrader_feedback"
    page = (folder / "mallory" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    baseline = (folder / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert added(page, baseline) == []
    assert "A likelihood is not a density." in visible_text(page)


@pytest.mark.slow
def test_the_report_is_inert(graded):
    """Does report.html hold nothing active, though it quotes Mallory's error message?"""
    page = (graded.root / "grades" / "report.html").read_text()
    assert active_content(page) == []
    assert REPORT_PAYLOAD in visible_text(page)
