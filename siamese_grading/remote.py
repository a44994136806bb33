"""Ask the learner's kernel for data: the grader's half of the judge protocol.

A *judge* (:mod:`siamese_grading.judges`) decides an exercise's grade in the
grader's worker, outside the sandbox, where no learner code runs. It never
trusts anything the kernel says about itself; it asks the kernel to run the
learner's function on inputs the judge drew at random, and compares the answer
with its own reference. A submission that tampers with its own kernel can only
change what the kernel answers, so earning the points still takes answers
that equal the reference on inputs it could not predict.

One request is one small piece of code run in the kernel (:func:`request_code`):
it decodes the arguments, calls one global function of the learner's namespace
and sends the value back as one ``display_data`` message of the MIME type
:data:`REPLY_MIME`, tagged with the request's nonce. Arrays travel as ``.npy``
bytes in base64, never as pickles; :func:`decode_array` checks the header
against the bytes it came with before numpy allocates anything, and refuses
object arrays, so a hostile reply can cost at most :data:`MAX_REPLY_BYTES`.

Only the standard library and numpy: the worker imports this module.

Examples
--------
>>> import numpy as np
>>> decode_array(encode_array(np.arange(3.0))).tolist()
[0.0, 1.0, 2.0]
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

#: The MIME type of the kernel's reply to a request.
REPLY_MIME = "application/x-siamese-grader-reply+json"
#: Largest reply (its JSON text) the judge reads; a bigger one is an error of the submission.
MAX_REPLY_BYTES = 64 * 2**20
#: Longest exception text kept from the kernel.
MAX_ERROR_CHARS = 500
#: dtype kinds a reply may hold: bool, integers, floats (no objects, strings or structures).
ARRAY_KINDS = frozenset("biuf")

#: Deepest nesting of lists and dicts in a reply, and most values in one reply.
MAX_DEPTH, MAX_ITEMS = 6, 10_000

#: Run in the kernel; filled in by request_code. ``target`` is the learner's global
#: function, a probe (grader-written code run with the kernel's namespace), or ``next``
#: on a generator that an earlier request kept.
_REQUEST = """
def _grader_request():
    import base64, io, sys
    import numpy as np
    from IPython.display import display

    kept = globals().setdefault("_grader_kept", {{}})

    def load(value):
        if isinstance(value, dict) and "npy" in value:
            return np.load(io.BytesIO(base64.b64decode(value["npy"])), allow_pickle=False)
        if isinstance(value, dict) and "rng" in value:
            return np.random.default_rng(value["rng"])
        if isinstance(value, dict) and "kept" in value:
            return kept[value["kept"]]
        if isinstance(value, dict) and "list" in value:
            return [load(v) for v in value["list"]]
        if isinstance(value, dict) and "tuple" in value:
            return tuple(load(v) for v in value["tuple"])
        return value

    def dump(value, keep):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, (list, tuple)):
            return {{"list": [dump(v, keep) for v in value]}}
        if isinstance(value, dict):
            return {{"dict": {{str(k): dump(v, keep) for k, v in value.items()}}}}
        if keep:
            kept[keep] = value
            return {{"kept": keep}}
        keras = sys.modules.get("keras")
        if keras is not None and not isinstance(value, np.ndarray):
            try:
                value = keras.ops.convert_to_numpy(value)
            except Exception:
                pass
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"returned a {{type(value).__name__}}, not numbers")
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return {{"npy": base64.b64encode(buffer.getvalue()).decode("ascii")}}

    reply = {{}}
    kept["__reply__"] = reply
    try:
        {target}
        args = [load(a) for a in {args!r}]
        kwargs = {{k: load(v) for k, v in {kwargs!r}.items()}}
        reply["value"] = dump(target(*args, **kwargs), {keep!r})
        reply["ok"] = True
    except BaseException as error:
        reply.update(ok=False, ename=type(error).__name__, evalue=str(error)[:{limit}])


_grader_request()
del _grader_request
"""
#: The second half of a request, run once the learner's code has returned: it sends the
#: value the first half kept, with the nonce, which therefore never exists while learner
#: code runs.
_SEND = """
def _grader_send():
    from IPython.display import display

    reply = dict(globals().get("_grader_kept", {{}}).pop("__reply__", None) or {{}})
    reply["nonce"] = {nonce!r}
    display({{{mime!r}: reply}}, raw=True)


_grader_send()
del _grader_send
"""
_CALL = "target = globals()[{name!r}]"
_PROBE = (
    "probe_namespace = {{}}\n"
    "        exec({code!r}, probe_namespace)\n"
    "        target = lambda *a, **k: probe_namespace['probe'](globals(), *a, **k)"
)
_NEXT = "target = lambda handle: next(handle)"


class Generator:
    """An argument that the kernel turns into ``np.random.default_rng(seed)``."""

    def __init__(self, seed: int):
        self.seed = int(seed)


@dataclass(frozen=True)
class Kept:
    """A value that stays in the kernel (e.g. a generator), named by a request's ``keep``."""

    key: str


class ProtocolError(ValueError):
    """The kernel's reply is not a reply: malformed, too large, or of the wrong kind."""


@dataclass(frozen=True)
class Raised:
    """The learner's function raised; ``ename``/``evalue`` are the kernel's words (untrusted)."""

    ename: str
    evalue: str


@dataclass(frozen=True)
class Reply:
    """What one request got back: a value (see :func:`decode_value`), or what was raised.

    ``memory`` is set by a measured request (``measure=True``): the largest rise of the
    kernel's resident memory while it ran, in bytes, measured by the grader from outside
    the kernel (:mod:`siamese_grading.resident`); None when not measured or not measurable.
    """

    value: Any = None
    raised: Raised | None = None
    memory: int | None = None


def encode_array(value: Any) -> str:
    """``value`` as base64 ``.npy`` text (never a pickle).

    Raises
    ------
    TypeError
        If ``value`` is not an array of numbers or booleans.
    """
    array = np.asarray(value)
    if array.dtype.kind not in ARRAY_KINDS:
        raise TypeError(f"only arrays of numbers travel to the kernel, got dtype {array.dtype}")
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_array(text: Any) -> np.ndarray:
    """The array that :func:`encode_array` (or a kernel) wrote as ``text``; checked first.

    Raises
    ------
    ProtocolError
        If ``text`` is not base64 ``.npy`` of a plain numeric array whose header matches
        its length.
    """
    if not isinstance(text, str):
        raise ProtocolError(f"an array must come as base64 text, got {type(text).__name__}")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("an array's base64 text is malformed") from None
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"npy version {version}")
    except ValueError as error:
        raise ProtocolError(f"an array's .npy header is malformed ({error})") from None
    if dtype.kind not in ARRAY_KINDS or dtype.hasobject or dtype.fields is not None:
        raise ProtocolError(f"an array must hold numbers or booleans, got dtype {dtype}")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    body = raw[stream.tell() :]
    if count < 0 or len(body) != count * dtype.itemsize:
        raise ProtocolError(
            f"an array's header says {shape} of {dtype} but {len(body)} bytes came with it"
        )
    array = np.frombuffer(body, dtype=dtype).copy()
    return array.reshape(shape, order="F" if fortran else "C")


def encode_argument(value: Any) -> Any:
    """An argument of a request as JSON: plain scalars and strings as they are, arrays as npy."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Generator):
        return {"rng": value.seed}
    if isinstance(value, Kept):
        return {"kept": value.key}
    if isinstance(value, list):
        return {"list": [encode_argument(v) for v in value]}
    if isinstance(value, tuple):
        return {"tuple": [encode_argument(v) for v in value]}
    return {"npy": encode_array(value)}


def send_code(nonce: str) -> str:
    """The code that sends the value of the request just run, tagged with ``nonce``."""
    return _SEND.format(nonce=nonce, mime=REPLY_MIME)


def request_code(
    name: str | None,
    args: list[Any],
    *,
    kwargs: dict[str, Any] | None = None,
    probe: str | None = None,
    keep: str | None = None,
    next_of: bool = False,
) -> str:
    """The code that runs one request in the kernel and keeps its value for :func:`send_code`.

    Exactly one target: the kernel's global function ``name``; ``probe``, the source
    of a ``def probe(namespace, *args, **kwargs)`` run with the kernel's globals; or
    ``next_of`` (``next`` of the kept value passed as the one argument). With ``keep``,
    a value that is not data stays in the kernel under that key (see :class:`Kept`).

    Raises
    ------
    ValueError
        If ``name`` is not a Python identifier, or not exactly one target is given.
    """
    if (name is not None) + (probe is not None) + bool(next_of) != 1:
        raise ValueError("a request has exactly one target: name, probe or next_of")
    if name is not None and not name.isidentifier():
        raise ValueError(f"a request calls a global function by name, got {name!r}")
    if name is not None:
        target = _CALL.format(name=name)
    elif probe is not None:
        target = _PROBE.format(code=probe)
    else:
        target = _NEXT
    return _REQUEST.format(
        target=target,
        args=[encode_argument(a) for a in args],
        kwargs={str(k): encode_argument(v) for k, v in (kwargs or {}).items()},
        keep=keep,
        limit=MAX_ERROR_CHARS,
    )


def decode_value(value: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """A reply's value: JSON scalars, arrays, lists and dicts of them, or :class:`Kept`.

    Raises
    ------
    ProtocolError
        If it is nested deeper than :data:`MAX_DEPTH`, holds more than :data:`MAX_ITEMS`
        values, or anything else.
    """
    budget = [MAX_ITEMS] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise ProtocolError("the kernel's reply is nested too deep or holds too many values")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((kind, inner),) = value.items()
        if kind == "npy":
            return decode_array(inner)
        if kind == "kept" and isinstance(inner, str):
            return Kept(inner)
        if kind == "list" and isinstance(inner, list):
            return [decode_value(v, depth + 1, budget) for v in inner]
        if kind == "dict" and isinstance(inner, dict):
            return {str(k): decode_value(v, depth + 1, budget) for k, v in inner.items()}
    raise ProtocolError(
        f"the kernel's reply holds a value of an unknown form ({type(value).__name__})"
    )


def parse_reply(messages: list[dict], nonce: str) -> Reply:
    """The reply with ``nonce`` among a request's IOPub ``messages``.

    Raises
    ------
    ProtocolError
        If there is none, or it is malformed.
    """
    found = []
    for message in messages:
        if message.get("msg_type") != "display_data":
            continue
        data = (message.get("content") or {}).get("data") or {}
        reply = data.get(REPLY_MIME)
        if isinstance(reply, str):  # a kernel may send JSON data as text
            if len(reply) > MAX_REPLY_BYTES:
                raise ProtocolError("the kernel's reply is too large")
            try:
                reply = json.loads(reply)
            except ValueError:
                continue
        if isinstance(reply, dict) and reply.get("nonce") == nonce:
            found.append(reply)
    if not found:
        raise ProtocolError("the kernel sent no reply to the grader's request")
    if len(found) > 1:  # the grader's code sends one: the others were made by the submission
        raise ProtocolError("the kernel answered one request of the grader more than once")
    reply = found[0]
    if reply.get("ok") is True:
        return Reply(decode_value(reply.get("value")))
    if reply.get("ok") is False:
        ename, evalue = str(reply.get("ename"))[:100], str(reply.get("evalue"))
        return Reply(
            raised=Raised(ename if ename.isidentifier() else "Exception", evalue[:MAX_ERROR_CHARS])
        )
    raise ProtocolError("the kernel's reply says neither ok nor error")


class RequestTimeout(Exception):
    """The kernel did not answer a request in time."""


class KernelGone(Exception):
    """The kernel died while it answered a request."""


class Remote:
    """Calls the learner's functions in the kernel, with data only.

    Parameters
    ----------
    execute : callable
        ``execute(code) -> list of IOPub messages`` of that code's execution; it
        raises :class:`RequestTimeout` or :class:`KernelGone`. For a measured request
        it is called as ``execute(code, measure=True)`` and returns ``(messages,
        memory)``, the kernel's peak memory rise in bytes (or None); an ``execute``
        that takes no ``measure`` gives None.

    Examples
    --------
    >>> remote = Remote(execute)
    >>> remote.call("squared_distance", np.zeros(2), np.array([3.0, 4.0])).value
    array(25.)
    """

    def __init__(self, execute: Callable[[str], list[dict]]):
        self._execute = execute
        self.requests = 0

    def call(
        self, name: str, *args: Any, keep: str | None = None, measure: bool = False, **kwargs: Any
    ) -> Reply:
        """Call the kernel's global ``name(*args, **kwargs)``; its value comes back as data.

        With ``measure``, the reply's ``memory`` is the kernel's peak memory rise meanwhile.
        """
        return self._request(args, kwargs, measure, name=name, keep=keep)

    def probe(
        self, code: str, *args: Any, keep: str | None = None, measure: bool = False, **kwargs: Any
    ) -> Reply:
        """Run ``code``'s ``probe(namespace, *args, **kwargs)`` in the kernel (see request_code).

        With ``measure``, the reply's ``memory`` is the kernel's peak memory rise meanwhile.
        """
        return self._request(args, kwargs, measure, probe=code, keep=keep)

    def next(self, kept: Kept) -> Reply:
        """``next`` of a generator that stays in the kernel."""
        return self._request((kept,), {}, False, next_of=True)

    def _request(self, args, kwargs, measure: bool, **target) -> Reply:
        """Run the request (measured if asked), then fetch its value with a fresh nonce.

        The nonce is drawn after the learner's code has returned, and only the second,
        grader-written half sends it: a submission's own code cannot tag a reply with it
        (a kernel it has taken over still can, so only the reply's values are trusted).
        """
        self.requests += 1
        code = request_code(target.pop("name", None), list(args), kwargs=kwargs, **target)
        memory = None
        if not measure:
            early = self._execute(code)
        else:
            try:
                early, memory = self._execute(code, measure=True)
            except TypeError as error:  # an execute that cannot measure
                if "measure" not in str(error):
                    raise
                early = self._execute(code)
        nonce = secrets.token_hex(16)
        del early  # the first half sends nothing the judge reads
        reply = parse_reply(self._execute(send_code(nonce)), nonce)
        return replace(reply, memory=None if memory is None else int(memory))
