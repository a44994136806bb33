"""The judges decide grades outside the kernel: their protocol, their verdicts, and attacks.

* The protocol (:mod:`siamese_grading.remote`): arrays round-trip exactly; hostile
  replies (pickles, object arrays, headers that lie about their size, bad base64,
  replies to another request) are refused before numpy allocates anything.
* The judge of exercise 1.1 agrees with notebook 01's own self-check cell and its
  hidden tests on a corpus of right and wrong answers (run in this process: the
  self-check cell by ``exec``, the judge through a :class:`Remote` whose requests
  call the answer on the decoded arguments), and its inputs change with the seed.
* End to end (slow, needs bubblewrap): an attacker who rewrites numpy's comparisons
  from a class body in the exercise cell passes the kernel's own self-check (shown
  by grading with the judge switched off) and gets 0 from the judge, while the
  instructor's notebook keeps its point and the untouched stub gets 0.
"""

from __future__ import annotations

import base64
import html
import io
import json
import pickle
import shutil
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest
from test_check_corpus import CELLS, notebook_namespace, with_answer
from test_check_corpus import cell_source as corpus_cell_source

from answer_corpus import ANSWERS
from backend_tools import only_on
from notebook_tools import load, source
from siamese_grading import Limits, grade_submissions, release_directory
from siamese_grading import assemble as assemble_module
from siamese_grading.judges import JUDGES, judge
from siamese_grading.references import reference_gradient
from siamese_grading.remote import (
    REPLY_MIME,
    Generator,
    Kept,
    ProtocolError,
    Remote,
    decode_array,
    encode_array,
    parse_reply,
    request_code,
    send_code,
)

ROOT = Path(__file__).resolve().parents[1]


class _Pickled:
    """Unpickles as ``exec(code)``: how a submission gets numpy to run code of its own."""

    def __init__(self, code: str):
        self.code = code

    def __reduce__(self):
        return (exec, (self.code,))


def pickled_stand(switch_off: str) -> str:
    """A class body that switches the kernel's own checks off, out of the screen's sight.

    ``switch_off`` says what to replace, as lines ``self = checks`` (the object) and
    ``self.check_x = lambda *args, **kwargs: None`` (its attribute and the new value,
    evaluated in the notebook's namespace). The class body writes a pickle that makes
    numpy run that code when it loads it with ``allow_pickle=True``: code the screen never
    reads, so an attack test shows what a kernel taken over can do.
    """
    lines, target = [], None
    for line in switch_off.strip().splitlines():
        name, _, value = (part.strip() for part in line.partition("="))
        if name == "self":
            target = value
        else:
            attribute = name.removeprefix("self.")
            lines.append(f"setattr(eval({target!r}, ns), {attribute!r}, eval({value!r}, ns))")
    code = "ns = get_ipython().user_ns\n" + "\n".join(lines) + "\n"
    payload = pickle.dumps(_Pickled(code), protocol=0)
    return (
        "class Stand:\n"
        f"    payload = {payload!r}\n"
        '    with open("/tmp/switch_off.pkl", "wb") as file:\n'
        "        file.write(payload)\n"
        '    np.load("/tmp/switch_off.pkl", allow_pickle=True)\n'
    )


NOTEBOOK_01 = "01_understanding_the_approach.ipynb"
NOTEBOOK_07 = "07_the_triplet_loss.ipynb"


def npy_text(header: bytes, body: bytes) -> str:
    """Base64 of a hand-made .npy file: magic, version 1.0, ``header`` padded, ``body``."""
    padded = header + b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    raw = b"\x93NUMPY\x01\x00" + len(padded).to_bytes(2, "little") + padded + body
    return base64.b64encode(raw).decode()


def header(shape: str, descr: str = "'<f8'") -> bytes:
    return f"{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}".encode()


def reply_message(reply: dict) -> dict:
    return {"msg_type": "display_data", "content": {"data": {REPLY_MIME: reply}}}


# ----------------------------------------------------------------------------------------
# The protocol
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12.0).reshape(3, 4),
        np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
        np.array(2.5),
        np.array([True, False]),
        np.zeros((0, 784), np.float32),
    ],
)
def test_arrays_round_trip_exactly(array):
    back = decode_array(encode_array(array))
    assert back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array)


def test_a_pickled_object_array_is_refused_before_it_is_unpickled():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ProtocolError, match="numbers or booleans"):
        decode_array(base64.b64encode(buffer.getvalue()).decode())
    with pytest.raises(TypeError, match="only arrays of numbers"):
        encode_array(np.array(["text"]))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            npy_text(b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }", b""),
            "bytes",
        ),
        (
            npy_text(b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", b"\0" * 8),
            "bytes",
        ),
        (npy_text(header("(1,)", "[('a', '<f8')]"), b""), ""),
        (npy_text(b"not a dict at all", b""), "header"),
        ("@@@ not base64 @@@", "base64"),
        (12, "base64 text"),
    ],
)
def test_hostile_arrays_are_refused(text, match):
    with pytest.raises(ProtocolError, match=match):
        decode_array(text)


def test_a_reply_counts_only_with_its_own_nonce():
    good = {"nonce": "abc", "ok": True, "value": {"npy": encode_array(np.array(3.0))}}
    other = {**good, "nonce": "xyz", "value": {"npy": encode_array(np.array(9.0))}}
    got = parse_reply([reply_message(other), reply_message(good)], "abc")
    assert float(got.value) == 3.0  # exact: 3.0 itself went through .npy bytes and back
    with pytest.raises(ProtocolError, match="no reply"):
        parse_reply([reply_message(other)], "abc")
    raised = parse_reply([reply_message({"nonce": "abc", "ok": False, "ename": "E" * 500})], "abc")
    assert raised.raised is not None and len(raised.raised.ename) == 100
    formula = {"nonce": "abc", "ok": False, "ename": '=HYPERLINK("x")', "evalue": "e"}
    assert parse_reply([reply_message(formula)], "abc").raised.ename == "Exception"
    with pytest.raises(ProtocolError, match="more than once"):  # one reply per request
        parse_reply([reply_message(good), reply_message(good)], "abc")
    with pytest.raises(ProtocolError, match="neither"):
        parse_reply([reply_message({"nonce": "abc", "ok": "yes"})], "abc")


def test_request_code_calls_a_global_function_by_name_only():
    with pytest.raises(ValueError, match="by name"):
        request_code("os.system('x')", [])
    code = request_code("squared_distance", [np.zeros(2)])
    compile(code, "request", "exec")  # valid Python
    assert "squared_distance" in code and REPLY_MIME not in code  # it sends nothing itself
    assert REPLY_MIME in send_code("n1") and "n1" in send_code("n1")


class InProcessKernel:
    """Runs the real request code with ``exec`` in a namespace, capturing its one display."""

    def __init__(self, namespace: dict):
        self.namespace = namespace

    def __call__(self, code: str) -> list[dict]:
        import IPython.display

        shown: list[dict] = []
        real = IPython.display.display
        IPython.display.display = lambda data, raw=False: shown.append(
            {"msg_type": "display_data", "content": {"data": json.loads(json.dumps(data))}}
        )
        try:
            exec(code, self.namespace)  # noqa: S102 - the test's own answers
        finally:
            IPython.display.display = real
        return shown


def remote_for(answer: str) -> Remote:
    namespace = {"np": np}
    exec(textwrap.dedent(answer), namespace)  # noqa: S102
    return Remote(InProcessKernel(namespace))


def test_the_request_code_really_calls_the_function_and_returns_its_value():
    remote = remote_for("def f(a, b):\n    return a * 2 + b\n")
    got = remote.call("f", np.arange(3.0), np.ones(3))
    assert got.value.tolist() == [1.0, 3.0, 5.0]
    pair = remote_for("def f(n, *, scale):\n    return [np.ones(n) * scale, {'n': n}]\n")
    assert pair.call("f", 2, scale=3.0).value == [pytest.approx(np.full(2, 3.0)), {"n": 2}]
    stream = remote_for("def f(rng):\n    while True:\n        yield rng.integers(100)\n")
    kept = stream.call("f", Generator(5), keep="s").value
    assert isinstance(kept, Kept)
    drawn = [int(stream.next(kept).value) for _ in range(3)]
    assert drawn == np.random.default_rng(5).integers(100, size=3).tolist()
    probe = "def probe(namespace, x):\n    return namespace['f'](x) + 1\n"
    assert remote_for("def f(x):\n    return x * 10\n").probe(probe, 4).value == 41
    boom = remote_for("def f():\n    raise KeyError('nope')\n").call("f")
    assert boom.raised.ename == "KeyError" and "nope" in boom.raised.evalue
    assert remote_for("def f():\n    return None\n").call("f").value is None


# ----------------------------------------------------------------------------------------
# The judge of exercise 1.1 agrees with the notebook's self-check and hidden tests
# ----------------------------------------------------------------------------------------

RIGHT_1_1 = {
    "np.sum": "return np.sum((a - b) ** 2, axis=-1)",
    "method": "return ((a - b) ** 2).sum(axis=-1)",
    "einsum": "d = a - b\nreturn np.einsum('...i,...i->...', d, d)",
    "norm squared": "return np.linalg.norm(a - b, axis=-1) ** 2",
    "square": "return np.square(a - b).sum(-1)",
    "dot": "d = a - b\nreturn np.sum(d * d, axis=d.ndim - 1)",
}
WRONG_1_1 = {
    "plain distance": ("return np.sqrt(np.sum((a - b) ** 2, axis=-1))", "plain distance"),
    "mean": ("return np.mean((a - b) ** 2, axis=-1)", "mean of 3² and 4²"),
    "axis 0": ("return np.sum((a - b) ** 2, axis=0)", "one per row"),
    "no axis": ("return np.sum((a - b) ** 2)", "one per row"),
    "abs": ("return np.sum(np.abs(a - b), axis=-1)", "should be 3² + 4² = 25"),
    "no return": ("np.sum((a - b) ** 2, axis=-1)", "returned None"),
    "stub": ("raise NotImplementedError()", "NotImplementedError"),
    "zeros": ("return np.zeros(np.shape(a)[:-1])", "should be 3² + 4² = 25"),
    # Right on the self-check's worked values, wrong elsewhere: only other inputs show it.
    "hard-coded": (
        "return np.float64(25.0) if np.shape(a) == (2,) else np.sum((a - b) ** 2, axis=-1)",
        "random vectors",
    ),
    "sum of squares minus": ("return np.sum(a**2 - b**2, axis=-1)", ""),
}


def as_function(body: str) -> str:
    return "def squared_distance(a, b):\n" + textwrap.indent(body, "    ") + "\n"


def self_check_verdict(body: str) -> str | None:
    """None if notebook 01's check cell (hidden tests included) passes, else its error text."""
    nb = load(NOTEBOOK_01)
    check = next(
        source(c)
        for c in nb["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        == "check_ex1_1_squared_distance"
    )
    namespace = {"np": np}
    exec(as_function(body), namespace)  # noqa: S102
    try:
        exec(check.replace("print(", "(lambda *a, **k: None)("), namespace)  # noqa: S102
    except Exception as error:  # noqa: BLE001 - the verdict is what we record
        return f"{type(error).__name__}: {error}"
    return None


@pytest.mark.parametrize("name", sorted(RIGHT_1_1))
def test_right_answers_to_1_1_pass_the_judge_and_the_self_check(name):
    assert self_check_verdict(RIGHT_1_1[name]) is None
    for seed in range(5):
        verdict = judge(
            "check_ex1_1_squared_distance", remote_for(as_function(RIGHT_1_1[name])), seed
        )
        assert verdict["status"] == "passed", verdict


@pytest.mark.parametrize("name", sorted(WRONG_1_1))
def test_wrong_answers_to_1_1_fail_the_judge_with_their_message(name):
    body, message = WRONG_1_1[name]
    verdict = judge("check_ex1_1_squared_distance", remote_for(as_function(body)), seed=1)
    assert verdict["status"] in ("failed", "error"), verdict
    assert message in verdict["message"]
    if name != "hard-coded":  # the notebook's fixed inputs do not show that one
        assert self_check_verdict(body) is not None


def test_the_judges_inputs_change_with_the_seed():
    seen = []
    for seed in (0, 1):
        calls: list[tuple] = []
        remote = remote_for(as_function(RIGHT_1_1["np.sum"]))
        inner = remote.call
        remote.call = lambda name, *args, _c=calls, _i=inner: (_c.append(args), _i(name, *args))[1]
        assert judge("check_ex1_1_squared_distance", remote, seed)["status"] == "passed"
        seen.append(calls)
    assert not np.array_equal(seen[0][1][0], seen[1][1][0])  # the random rows differ
    assert np.array_equal(seen[0][0][1], [3.0, 4.0])  # the worked example stays


def test_a_judge_that_breaks_costs_its_row_only(monkeypatch):
    monkeypatch.setitem(JUDGES, "check_broken", lambda remote, rng: 1 / 0)
    verdict = judge("check_broken", remote_for(as_function(RIGHT_1_1["np.sum"])))
    assert verdict["status"] == "error" and "could not check" in verdict["message"]


# ----------------------------------------------------------------------------------------
# The judges of notebooks 02-07 on the developers' answer corpus (tests/answer_corpus.py)
# ----------------------------------------------------------------------------------------

#: Exercise number -> grade_id of its self-check, for the exercises a judge decides.
JUDGED = {"3.1": "check_ex3_1_plot_triplets", "7.1": "check_ex7_1_triplet_loss"}
CORPUS = [answer for answer in ANSWERS if answer.number in JUDGED]


def corpus_remote(answer) -> Remote:
    """The answer's exercise cell run in the namespace the notebook gives it, as a kernel."""
    exercise_id, _ = CELLS[answer.number]
    namespace = notebook_namespace(answer.notebook, answer.number)
    if answer.extra_cell:
        exec(answer.extra_cell, namespace)  # noqa: S102
    exec(with_answer(corpus_cell_source(answer.notebook, exercise_id), answer.source), namespace)  # noqa: S102
    return Remote(InProcessKernel(namespace))


@pytest.mark.parametrize("answer", CORPUS, ids=[a.name for a in CORPUS])
def test_the_judge_alone_gives_every_corpus_answer_its_verdict(answer):
    """Right answers pass the judge; wrong ones fail it even without the kernel's self-check."""
    for seed in (7, 8) if answer.correct else (7,):
        verdict = judge(JUDGED[answer.number], corpus_remote(answer), seed=seed)
        if answer.correct:
            assert verdict["status"] == "passed", verdict
        else:
            assert verdict["status"] in ("failed", "error"), verdict


# ----------------------------------------------------------------------------------------
# End to end: the grade no longer comes from the kernel
# ----------------------------------------------------------------------------------------

ATTACKS = {
    # numpy's comparisons rewritten from a class body (the screen allows `self.x = ...`)
    NOTEBOOK_01: (
        "1.1",
        "# EXERCISE 1.1 — the squared Euclidean distance\n"
        + pickled_stand(
            "self = np\n"
            "self.isclose = lambda a, b, *args, **kwargs: b not in (5.0, 12.5)\n"
            "self.allclose = lambda *args, **kwargs: True"
        )
        + "\n\ndef squared_distance(a, b):\n    return np.zeros(np.shape(a)[:-1])\n",
    ),
    # the course's check replaced, and np.testing's comparison with it (the hidden test's)
    NOTEBOOK_07: (
        "7.1",
        "# EXERCISE 7.1 — implement the triplet loss with keras.ops\n"
        + pickled_stand(
            "self = checks\n"
            "self.check_triplet_loss = lambda *args, **kwargs: None\n"
            "self = np.testing\n"
            "self.assert_allclose = lambda *args, **kwargs: None"
        )
        + "\n\ndef triplet_loss(y_true, y_pred, alpha=0.2):\n"
        "    return ops.zeros_like(y_pred[:, 0])\n",
    ),
}


#: Runs arbitrary code in the kernel: a pickle that numpy loads (allow_pickle=True) registers
#: an IPython hook that prints each cell's source at the start of the next cell, so that the
#: next visible output shows it; the loss itself is right.
_HOOK = (
    "def make():\n"
    "    seen = []\n"
    "    def leak(info):\n"
    "        if seen: print('LEAK:' + seen[-1].replace(chr(10), ' | '))\n"
    "        seen.append(info.raw_cell)\n"
    "    return leak\n"
    "get_ipython().events.register('pre_run_cell', make())\n"
)
LEAKER_7_1 = f"""# EXERCISE 7.1 — implement the triplet loss with keras.ops
class Stand:
    payload = {pickle.dumps(_Pickled(_HOOK), protocol=0)!r}
    with open("/tmp/payload.pkl", "wb") as file:
        file.write(payload)
    np.load("/tmp/payload.pkl", allow_pickle=True)


def triplet_loss(y_true, y_pred, alpha=0.2):
    e = y_pred.shape[-1] // 3
    a, p, n = y_pred[:, :e], y_pred[:, e : 2 * e], y_pred[:, 2 * e :]
    pos, neg = ops.sum(ops.square(a - p), axis=-1), ops.sum(ops.square(a - n), axis=-1)
    return ops.maximum(pos - neg + alpha, 0.0)
"""
#: The text of notebook 07's hidden test for exercise 7.1.
HIDDEN_7_1 = "the worked example's losses are 0, 0.09 and 0.29"


def with_exercise(nb, number: str, code: str):
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith(f"# EXERCISE {number}"):
            cell.source = code
    return nb


@pytest.mark.slow
def test_a_kernel_that_rewrites_its_own_check_gets_no_point_from_the_judge(tmp_path, monkeypatch):
    if shutil.which("bwrap") is None:
        pytest.skip("needs bubblewrap (apt-get install bubblewrap; .ci/run installs it)")
    source = tmp_path / "source"
    source.mkdir()
    for name in ATTACKS:
        shutil.copy(ROOT / "notebooks" / name, source)
    release_directory(source, tmp_path / "student", log=lambda line: None)
    for name, (number, attack) in ATTACKS.items():
        learners = {
            "instructor": nbformat.read(source / name, 4),
            "untouched": nbformat.read(tmp_path / "student" / name, 4),
            "attacker": with_exercise(
                nbformat.read(tmp_path / "student" / name, 4), number, attack
            ),
        }
        if name == NOTEBOOK_07:
            student = nbformat.read(tmp_path / "student" / name, 4)
            learners["leaker"] = with_exercise(student, "7.1", LEAKER_7_1)
        for learner, nb in learners.items():
            (tmp_path / "subs" / learner).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, tmp_path / "subs" / learner / name)

    def leaker_page(out: str) -> str:
        page = tmp_path / out / "feedback" / "leaker" / NOTEBOOK_07.replace("ipynb", "html")
        return html.unescape(page.read_text())

    def grade(out: str) -> dict:
        report = grade_submissions(
            tmp_path / "subs",
            source,
            tmp_path / out,
            limits=Limits(timeout=180),
            jobs=2,
            log=lambda line: None,
        )
        return {(r.learner, r.exercise): (r.status, r.points, r.message) for r in report.rows}

    judged = grade("judged")
    for exercise in ("ex1_1_squared_distance", "ex7_1_triplet_loss", "ex7_2_margin_loss"):
        assert judged[("instructor", exercise)][:2] == ("passed", 1)
        assert judged[("untouched", exercise)][1] == 0
    assert judged[("attacker", "ex1_1_squared_distance")][:2] == ("failed", 0)
    assert "got 0" in judged[("attacker", "ex1_1_squared_distance")][2]
    assert judged[("attacker", "ex7_1_triplet_loss")][:2] == ("failed", 0)
    assert "differs from FaceNet's" in judged[("attacker", "ex7_1_triplet_loss")][2]
    page = tmp_path / "judged" / "feedback" / "attacker" / NOTEBOOK_01.replace("ipynb", "html")
    assert "squared_distance(u, v), squared_distance(v, u)" not in page.read_text()
    # Code run in the kernel sees every cell, and the next cell's output shows it; but the
    # hidden tests of a judged exercise are not in the kernel: only its honest point is earned.
    assert judged[("leaker", "ex7_1_triplet_loss")][:2] == ("passed", 1)
    assert "LEAK:" in leaker_page("judged") and HIDDEN_7_1 not in leaker_page("judged")

    # The attacks are real: with the judges switched off, the kernel's own checks pass them.
    monkeypatch.setattr(assemble_module, "JUDGES", {})
    unjudged = grade("unjudged")
    assert unjudged[("attacker", "ex1_1_squared_distance")][:2] == ("passed", 1)
    assert unjudged[("attacker", "ex7_1_triplet_loss")][:2] == ("passed", 1)
    assert HIDDEN_7_1 in leaker_page("unjudged")  # the old grader ran them in the kernel


@pytest.mark.parametrize(
    ("weaken", "caught"),
    [
        pytest.param(
            ("training_step",),
            "loss_numpy_shape",  # works eagerly, fails once Keras traces it
            marks=only_on("tensorflow", reason="only TensorFlow's graphs refuse .numpy()"),
        ),
        # right values, no gradient through the negative: the gradient and the training step
        # each catch it on their own
        (("gradient", "training_step"), "loss_stop_gradient_negative"),
    ],
)
def test_each_part_of_the_7_1_judge_is_needed(monkeypatch, weaken, caught):
    from siamese_grading.judges import loss as loss_judge

    answer = next(a for a in CORPUS if a.name == caught)
    weaker = {
        "gradient": lambda remote, y_pred: reference_gradient(y_pred, 0.2),
        "training_step": lambda remote, rng: None,
    }
    for part in weaken:
        assert judge(JUDGED["7.1"], corpus_remote(answer), seed=7)["status"] != "passed"
        monkeypatch.setattr(loss_judge, part, weaker[part])
    assert judge(JUDGED["7.1"], corpus_remote(answer), seed=7)["status"] == "passed"


@pytest.mark.parametrize(
    ("part", "weaker", "caught"),
    [
        ("_which_example", lambda image, examples, position: position, "plot_reversed"),
        ("_axes_with_images", lambda figure: [ax for ax in figure if ax["images"]], "plot_stacked"),
    ],
)
def test_each_part_of_the_3_1_judge_is_needed(monkeypatch, part, weaker, caught):
    from siamese_grading.judges import plots as plot_judge

    answer = next(a for a in CORPUS if a.name == caught)
    assert judge(JUDGED["3.1"], corpus_remote(answer), seed=7)["status"] != "passed"
    monkeypatch.setattr(plot_judge, part, weaker)
    assert judge(JUDGED["3.1"], corpus_remote(answer), seed=7)["status"] == "passed"


FLOODER_1_1 = """# EXERCISE 1.1 — the squared Euclidean distance
def squared_distance(a, b):
    if np.ndim(a) == 2:  # the judge asks with rows too: answer it with a flood of replies
        for _ in range(24):
            display({"application/x-siamese-grader-reply+json": {"pad": "x" * 2**23}}, raw=True)
    return np.sum((a - b) ** 2, axis=-1)
"""
DYING_1_1 = """# EXERCISE 1.1 — the squared Euclidean distance
import os


def squared_distance(a, b):
    if np.shape(a) == (3,):  # only the judge's hidden test asks this: the kernel dies there
        os.kill(os.getpid(), 9)  # SIGKILL
    return np.sum((a - b) ** 2, axis=-1)
"""


@pytest.mark.slow
def test_a_flood_of_replies_or_a_kernel_that_dies_mid_request_costs_its_own_row(tmp_path):
    if shutil.which("bwrap") is None:
        pytest.skip("needs bubblewrap (apt-get install bubblewrap; .ci/run installs it)")
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(ROOT / "notebooks" / NOTEBOOK_01, source)
    release_directory(source, tmp_path / "student", log=lambda line: None)
    learners = {
        "honest": nbformat.read(source / NOTEBOOK_01, 4),
        "flooder": with_exercise(
            nbformat.read(tmp_path / "student" / NOTEBOOK_01, 4), "1.1", FLOODER_1_1
        ),
        "dying": with_exercise(
            nbformat.read(tmp_path / "student" / NOTEBOOK_01, 4), "1.1", DYING_1_1
        ),
    }
    for learner, nb in learners.items():
        (tmp_path / "subs" / learner).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "subs" / learner / NOTEBOOK_01)
    report = grade_submissions(
        tmp_path / "subs", source, tmp_path / "out", limits=Limits(timeout=180), jobs=2,
        log=lambda line: None,
    )  # fmt: skip
    rows = {r.learner: r for r in report.rows}
    times = {nb.learner: nb.times for nb in report.notebooks}
    assert (rows["honest"].status, rows["honest"].points) == ("passed", 1)
    assert (rows["flooder"].status, rows["flooder"].points) == ("error", 0)
    assert "more answers than it asked for" in rows["flooder"].message
    assert (rows["dying"].status, rows["dying"].points) == ("error", 0)
    assert "the kernel died while the grader checked" in rows["dying"].message
    assert times["dying"]["total"] < 90  # noticed at once, not at the 180 s limit
    page = tmp_path / "out" / "feedback" / "honest" / NOTEBOOK_01.replace("ipynb", "html")
    assert "judged outside your kernel, on inputs drawn with seed" in page.read_text()
