"""The embedding model and the Siamese network: shapes, shared weights, save/load."""

import keras
import numpy as np
import pytest

from backend_tools import to_numpy
from helpers import build_embedding_model, build_siamese_network, triplet_loss


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((5, 784), dtype=np.float32)


@pytest.mark.parametrize("kind", ["conv", "mlp", "original"])
def test_embedding_output_shape_and_name(kind, images):
    model = build_embedding_model(emb_size=16, kind=kind)
    assert model.name == "embedding"
    out = to_numpy(model(images))
    assert out.shape == (5, 16) and model.output_shape == (None, 16)
    if kind == "original":
        assert np.all((out > 0) & (out < 1))  # sigmoid
    else:
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("input_shape", [(28, 28), (28, 28, 1)])
def test_conv_accepts_image_shapes(input_shape):
    model = build_embedding_model(input_shape, emb_size=8)
    x = np.zeros((2, *input_shape), dtype=np.float32)
    assert to_numpy(model(x)).shape == (2, 8)


def test_siamese_has_named_inputs_and_concatenated_output(images):
    embedding = build_embedding_model(emb_size=8, kind="mlp")
    siamese = build_siamese_network(embedding)
    assert [t.name for t in siamese.inputs] == ["anchor", "positive", "negative"]
    assert siamese.output_shape == (None, 24)
    a, p, n = images[:2], images[2:4], images[3:5]
    out = to_numpy(siamese([a, p, n]))
    np.testing.assert_allclose(out[:, :8], to_numpy(embedding(a)), rtol=1e-6)
    np.testing.assert_allclose(out[:, 8:16], to_numpy(embedding(p)), rtol=1e-6)
    np.testing.assert_allclose(out[:, 16:], to_numpy(embedding(n)), rtol=1e-6)


def test_siamese_weights_are_the_embedding_models():
    embedding = build_embedding_model(emb_size=8)
    siamese = build_siamese_network(embedding)
    assert siamese.count_params() == embedding.count_params()
    ids = sorted(id(w) for w in siamese.trainable_weights)
    assert ids == sorted(id(w) for w in embedding.trainable_weights)
    # training the Siamese network moves the embedding model's weights
    before = [np.array(w) for w in embedding.trainable_weights]
    siamese.compile(optimizer="sgd", loss=triplet_loss)
    rng = np.random.default_rng(0)
    batch = [rng.random((4, 784), dtype=np.float32) for _ in range(3)]
    siamese.train_on_batch(batch, np.zeros((4, 24)))
    assert any(
        not np.allclose(b, np.array(w)) for b, w in zip(before, embedding.weights, strict=True)
    )


def test_keras_file_round_trip(tmp_path, images):
    keras.utils.set_random_seed(0)
    embedding = build_embedding_model(emb_size=8)
    siamese = build_siamese_network(embedding)
    siamese.compile(optimizer="adam", loss=triplet_loss)
    path = tmp_path / "siamese.keras"
    siamese.save(path)
    restored = keras.saving.load_model(path)
    batch = [images[:2], images[1:3], images[3:5]]
    np.testing.assert_allclose(to_numpy(restored(batch)), to_numpy(siamese(batch)), atol=1e-6)
    reused = restored.get_layer("embedding")
    np.testing.assert_allclose(to_numpy(reused(images)), to_numpy(embedding(images)), atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"input_shape": 784}, TypeError, r"write \(784,\)"),
        ({"input_shape": (0,)}, ValueError, "positive sizes"),
        ({"input_shape": (783,)}, ValueError, "783 pixels is not a square"),
        ({"emb_size": 0}, ValueError, "at least 1"),
        ({"emb_size": 2.0}, TypeError, "emb_size must be an int"),
        ({"kind": "resnet"}, ValueError, "unknown kind 'resnet'"),
    ],
)
def test_embedding_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        build_embedding_model(**kwargs)


def test_siamese_bad_input():
    with pytest.raises(TypeError, match="must be a keras.Model"):
        build_siamese_network(lambda x: x)


@pytest.mark.parametrize("chunk_size", [1, 7, 50, 1000])
def test_embed_in_chunks_equals_one_predict(chunk_size):
    from helpers import embed

    keras.utils.set_random_seed(3)
    model = build_embedding_model(emb_size=8, kind="mlp")
    x = np.random.default_rng(3).random((50, 784), dtype=np.float32)
    whole = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    # float32 forward passes of different batch shapes may round differently in the last bits
    np.testing.assert_allclose(embed(model, x, chunk_size=chunk_size), whole, rtol=1e-5, atol=1e-6)


def test_embed_never_hands_more_than_one_chunk_to_predict():
    from helpers import embed

    model = build_embedding_model(emb_size=4, kind="mlp")
    seen = []
    original = model.predict

    def recording_predict(x, **kwargs):
        seen.append(len(x))
        return original(x, **kwargs)

    model.predict = recording_predict
    out = embed(model, np.zeros((25, 784), np.float32), chunk_size=10)
    assert seen == [10, 10, 5] and out.shape == (25, 4)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (("model", np.zeros((2, 784))), {}, TypeError, "must be a keras.Model"),
        ((None, np.zeros((0, 784))), {}, ValueError, "non-empty"),
        (
            (None, np.zeros((2, 784))),
            {"chunk_size": 0},
            ValueError,
            "chunk_size must be at least 1",
        ),
    ],
)
def test_embed_bad_input(args, kwargs, error, match):
    from helpers import embed

    model = build_embedding_model(emb_size=4, kind="mlp")
    args = tuple(model if a is None else a for a in args)
    with pytest.raises(error, match=match):
        embed(*args, **kwargs)
