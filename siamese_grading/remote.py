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
from dataclasses import dataclass
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

#: Run in the kernel; ``{args}``, ``{name}`` and ``{nonce}`` are filled in by request_code.
_REQUEST = """
def _grader_request():
    import base64, io, sys
    import numpy as np
    from IPython.display import display

    def load(text):
        return np.load(io.BytesIO(base64.b64decode(text)), allow_pickle=False)

    def dump(value):
        if value is None:
            return None
        keras = sys.modules.get("keras")
        if keras is not None:
            try:
                value = keras.ops.convert_to_numpy(value)
            except Exception:
                pass
        array = np.asarray(value)
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return base64.b64encode(buffer.getvalue()).decode("ascii")

    reply = {{"nonce": {nonce!r}}}
    try:
        function = globals()[{name!r}]
        reply["value"] = dump(function(*[load(a) for a in {args!r}]))
        reply["ok"] = True
    except BaseException as error:
        reply.update(ok=False, ename=type(error).__name__, evalue=str(error)[:{limit}])
    display({{{mime!r}: reply}}, raw=True)


_grader_request()
del _grader_request
"""


class ProtocolError(ValueError):
    """The kernel's reply is not a reply: malformed, too large, or of the wrong kind."""


@dataclass(frozen=True)
class Raised:
    """The learner's function raised; ``ename``/``evalue`` are the kernel's words (untrusted)."""

    ename: str
    evalue: str


@dataclass(frozen=True)
class Reply:
    """What one request got back: a value (array or None), or what the function raised."""

    value: np.ndarray | None = None
    raised: Raised | None = None


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


def request_code(name: str, args: list[Any], nonce: str) -> str:
    """The code that calls the kernel's global ``name`` on ``args`` and sends the value back.

    Raises
    ------
    ValueError
        If ``name`` is not a Python identifier.
    """
    if not name.isidentifier():
        raise ValueError(f"a request calls a global function by name, got {name!r}")
    encoded = [encode_array(a) for a in args]
    return _REQUEST.format(
        args=encoded, name=name, nonce=nonce, limit=MAX_ERROR_CHARS, mime=REPLY_MIME
    )


def parse_reply(messages: list[dict], nonce: str) -> Reply:
    """The reply with ``nonce`` among a request's IOPub ``messages``.

    Raises
    ------
    ProtocolError
        If there is none, or it is malformed.
    """
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
        if not isinstance(reply, dict) or reply.get("nonce") != nonce:
            continue
        if reply.get("ok") is True:
            value = reply.get("value")
            if value is None:
                return Reply(None)
            if len(value) > MAX_REPLY_BYTES if isinstance(value, str) else False:
                raise ProtocolError("the kernel's reply is too large")
            return Reply(decode_array(value))
        if reply.get("ok") is False:
            ename, evalue = reply.get("ename"), reply.get("evalue")
            return Reply(raised=Raised(str(ename)[:100], str(evalue)[:MAX_ERROR_CHARS]))
        raise ProtocolError("the kernel's reply says neither ok nor error")
    raise ProtocolError("the kernel sent no reply to the grader's request")


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
        raises :class:`RequestTimeout` or :class:`KernelGone`.

    Examples
    --------
    >>> remote = Remote(execute)
    >>> remote.call("squared_distance", np.zeros(2), np.array([3.0, 4.0])).value
    array(25.)
    """

    def __init__(self, execute: Callable[[str], list[dict]]):
        self._execute = execute
        self.requests = 0

    def call(self, name: str, *args: Any) -> Reply:
        """Call the kernel's ``name(*args)``; the value comes back as an array (or None)."""
        nonce = secrets.token_hex(8)
        self.requests += 1
        return parse_reply(self._execute(request_code(name, list(args), nonce)), nonce)
