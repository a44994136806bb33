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
import io
import json
import shutil
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest

from notebook_tools import load, source
from siamese_grading import Limits, grade_submissions, release_directory
from siamese_grading import assemble as assemble_module
from siamese_grading.judges import JUDGES, judge
from siamese_grading.remote import (
    REPLY_MIME,
    ProtocolError,
    Remote,
    decode_array,
    encode_array,
    parse_reply,
    request_code,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_01 = "01_understanding_the_approach.ipynb"


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
    good = {"nonce": "abc", "ok": True, "value": encode_array(np.array(3.0))}
    other = {**good, "nonce": "xyz", "value": encode_array(np.array(9.0))}
    got = parse_reply([reply_message(other), reply_message(good)], "abc")
    assert float(got.value) == 3.0
    with pytest.raises(ProtocolError, match="no reply"):
        parse_reply([reply_message(other)], "abc")
    raised = parse_reply([reply_message({"nonce": "abc", "ok": False, "ename": "E" * 500})], "abc")
    assert raised.raised is not None and len(raised.raised.ename) == 100
    with pytest.raises(ProtocolError, match="neither"):
        parse_reply([reply_message({"nonce": "abc", "ok": "yes"})], "abc")


def test_request_code_calls_a_global_function_by_name_only():
    with pytest.raises(ValueError, match="by name"):
        request_code("os.system('x')", [], "n")
    code = request_code("squared_distance", [np.zeros(2)], "n0")
    compile(code, "request", "exec")  # valid Python
    assert "squared_distance" in code and REPLY_MIME in code


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
# End to end: the grade no longer comes from the kernel
# ----------------------------------------------------------------------------------------

ATTACK_1_1 = """# EXERCISE 1.1 — the squared Euclidean distance
class Stand:
    self = np
    self.isclose = lambda a, b, *args, **kwargs: b not in (5.0, 12.5)
    self.allclose = lambda *args, **kwargs: True


def squared_distance(a, b):
    return np.zeros(np.shape(a)[:-1])
"""


def with_exercise(nb, code: str):
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("# EXERCISE 1.1"):
            cell.source = code
    return nb


@pytest.mark.slow
def test_a_kernel_that_rewrites_its_own_check_gets_no_point_from_the_judge(tmp_path, monkeypatch):
    if shutil.which("bwrap") is None:
        pytest.skip("needs bubblewrap (apt-get install bubblewrap; .ci/run installs it)")
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(ROOT / "notebooks" / NOTEBOOK_01, source)
    release_directory(source, tmp_path / "student", log=lambda line: None)
    student = nbformat.read(tmp_path / "student" / NOTEBOOK_01, 4)
    learners = {
        "instructor": nbformat.read(source / NOTEBOOK_01, 4),
        "untouched": student,
        "attacker": with_exercise(nbformat.read(tmp_path / "student" / NOTEBOOK_01, 4), ATTACK_1_1),
    }
    for name, nb in learners.items():
        (tmp_path / "subs" / name).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "subs" / name / NOTEBOOK_01)

    def grade(out: str) -> dict:
        report = grade_submissions(
            tmp_path / "subs",
            source,
            tmp_path / out,
            limits=Limits(timeout=120),
            jobs=2,
            log=lambda line: None,
        )
        return {row.learner: (row.status, row.points, row.message) for row in report.rows}

    judged = grade("judged")
    assert judged["instructor"][:2] == ("passed", 1)
    assert judged["untouched"][:2] == ("error", 0)
    assert judged["attacker"][:2] == ("failed", 0)
    assert "got 0" in judged["attacker"][2]
    page = tmp_path / "judged" / "feedback" / "attacker" / "01_understanding_the_approach.html"
    assert "np.allclose(squared_distance(u, v), squared_distance(v, u))" not in page.read_text()

    # The attack is real: with the judge switched off, the kernel's own check gives the point.
    monkeypatch.setattr(assemble_module, "JUDGES", {})
    unjudged = grade("unjudged")
    assert unjudged["attacker"][:2] == ("passed", 1)
