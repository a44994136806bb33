"""A corpus of learner answers to the seven exercises of notebooks 02-07, right and wrong.

Each :class:`Answer` is the code a learner could put between ``### BEGIN SOLUTION``
and ``### END SOLUTION`` of one exercise cell (written without the cell's
indentation), optionally with a cell of their own run before the exercise. Each
notebook has one exercise, ``N.1``, except notebook 07, whose exercise 7.2 wraps the
loss of 7.1 in a ``keras.losses.Loss`` subclass that Keras can save.
A right answer (``rejected_with=None``) must pass the notebook's self-check and the
grader's hidden tests; a wrong one must be rejected by the self-check with a message
that contains ``rejected_with``. ``tests/test_check_corpus.py`` runs every answer
through the real exercise and self-check cells of the instructor notebooks.

The right answers differ in style (keras.ops or tf ops, loops or vectorised numpy,
Sequential or functional, Concatenate or ops.concatenate, plt.show() or display(),
a returned figure, ...) and the wrong ones cover the classic mistakes and the ways a
weaker check was fooled: a loss that fails only inside ``model.compile``, a gradient
cut by ``stop_gradient``, frozen layers, a model that normalises across the batch, a
Siamese network that uses a global model, samplers that never draw some examples, a
loss class whose margin is lost when the model is saved and reloaded.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

#: The notebook of each exercise, by its two-digit number.
NOTEBOOKS = {
    "02": "02_importing_the_data.ipynb",
    "03": "03_plotting_examples.ipynb",
    "04": "04_a_batch_of_triplets.ipynb",
    "05": "05_the_embedding_model.ipynb",
    "06": "06_the_siamese_network.ipynb",
    "07": "07_the_triplet_loss.ipynb",
}


@dataclass(frozen=True)
class Answer:
    """One learner answer to the exercise of notebook ``notebook`` (e.g. ``"07"``)."""

    notebook: str
    name: str
    source: str
    #: A fragment of the self-check's message; None for a right answer.
    rejected_with: str | None = None
    #: Code of a cell the learner added above the exercise cell.
    extra_cell: str = ""
    #: The exercise's number, e.g. ``"7.2"``; empty means the notebook's first, ``"N.1"``.
    exercise: str = ""
    #: ``(backend, rejected_with)`` pairs where the verdict on that Keras backend differs
    #: from TensorFlow's (``rejected_with``), because the code itself means something else
    #: there: e.g. ``len(y_pred[0])`` fails only in TensorFlow's graphs.
    elsewhere: tuple[tuple[str, str | None], ...] = ()

    @property
    def verdict(self) -> str | None:
        """``rejected_with`` on the active Keras backend: None for a right answer."""
        import keras

        return dict(self.elsewhere).get(keras.backend.backend(), self.rejected_with)

    @property
    def correct(self) -> bool:
        return self.verdict is None

    @property
    def number(self) -> str:
        """The exercise this answers, e.g. ``"7.1"``."""
        return self.exercise or f"{int(self.notebook)}.1"


def _answer(notebook, name, source, rejected_with=None, extra_cell="", exercise="", elsewhere=()):
    return Answer(
        notebook,
        name,
        textwrap.dedent(source).strip("\n"),
        rejected_with,
        textwrap.dedent(extra_cell).strip("\n"),
        exercise,
        tuple(elsewhere),
    )


#: The verdict on JAX and PyTorch of an answer that leaves Keras's tensors: they refuse
#: numpy functions, ``.numpy()`` and TensorFlow ops on the tensors they differentiate.
_REFUSED_OFF_TENSORFLOW = (
    ("jax", "cannot compute the gradient"),
    ("torch", "cannot compute the gradient"),
)


# ----------------------------------------------------------------------------------------
# 02: prepare_images(images), uint8 (n, 28, 28) -> float32 (n, 784) in [0, 1]
# ----------------------------------------------------------------------------------------

IMAGES = [
    _answer(
        "02", "images_solution", 'return images.reshape(len(images), 784).astype("float32") / 255'
    ),
    _answer(
        "02",
        "images_divide_then_cast",
        "return (images / 255.0).astype(np.float32).reshape(-1, 784)",
    ),
    _answer(
        "02",
        "images_np_float32",
        "return np.float32(images.reshape(-1, 28 * 28)) / np.float32(255)",
    ),
    _answer(
        "02",
        "images_multiply_by_inverse",
        "return images.reshape(images.shape[0], -1).astype(np.float32) * (1 / 255)",
    ),
    _answer(
        "02",
        "images_np_divide_dtype",
        "return np.divide(images.reshape(len(images), 784), 255, dtype=np.float32)",
    ),
    _answer(
        "02",
        "images_loop",
        """
        flat = np.empty((len(images), 784), dtype=np.float32)
        for i, image in enumerate(images):
            flat[i] = image.flatten() / 255
        return flat
        """,
    ),
    _answer(
        "02",
        "images_in_place",
        """
        scaled = images.astype(np.float32, copy=True)
        scaled /= 255.0
        return scaled.reshape(len(scaled), -1)
        """,
    ),
    # wrong
    _answer(
        "02", "images_not_flattened", 'return images.astype("float32") / 255', "still has shape"
    ),
    _answer(
        "02", "images_uint8", "return images.reshape(len(images), 784)", "still holds integers"
    ),
    _answer(
        "02",
        "images_floor_division",
        "return images.reshape(len(images), 784) // 255",
        "integers 0 and 1",
    ),
    _answer("02", "images_float64", "return images.reshape(len(images), 784) / 255", "float64"),
    _answer(
        "02",
        "images_float16",
        'return images.reshape(len(images), 784).astype("float16") / 255',
        "float16",
    ),
    _answer(
        "02",
        "images_unnormalised",
        'return images.reshape(len(images), 784).astype("float32")',
        "goes up to 255",
    ),
    _answer(
        "02",
        "images_transposed",
        'return images.transpose(0, 2, 1).reshape(len(images), 784).astype("float32") / 255',
        "transposed",
    ),
    _answer(
        "02",
        "images_own_maximum",
        """
        flat = images.reshape(len(images), 784).astype("float32")
        return flat / flat.max(axis=1, keepdims=True)
        """,
        "its own maximum",
    ),
    _answer(
        "02",
        "images_standardised",
        """
        flat = images.reshape(len(images), 784).astype("float32") / 255
        return (flat - flat.mean()) / flat.std()
        """,
        "standardised",
    ),
    _answer(
        "02",
        "images_one_column_each",
        'return images.reshape(784, -1).astype("float32") / 255',
        "one column per image",
    ),
]

# ----------------------------------------------------------------------------------------
# 03: plot_triplets(examples), three (784,) images in one row, titled
# ----------------------------------------------------------------------------------------

_TITLED_SUBPLOTS = """
titles = ["Anchor", "Positive", "Negative"]
fig, axes = plt.subplots(1, 3, figsize=(6, 2.3))
for i in range(3):
    axes[i].imshow(np.reshape(examples[i], (28, 28)), cmap="binary")
    axes[i].set_title(titles[i])
    axes[i].set_xticks([])
    axes[i].set_yticks([])
"""


def _plot(ending: str, *, before: str = "") -> str:
    return textwrap.dedent(before) + _TITLED_SUBPLOTS + textwrap.dedent(ending)


def _pyplot_plot(*, layout="1, 3", order="i", reshape=".reshape(28, 28)", titles=True) -> str:
    title = '    plt.title(["Anchor", "Positive", "Negative"][i])\n' if titles else ""
    return (
        "plt.figure(figsize=(6, 2))\n"
        "for i in range(3):\n"
        f"    plt.subplot({layout}, i + 1)\n"
        f'    plt.imshow(examples[{order}]{reshape}, cmap="binary")\n'
        f"{title}"
        "plt.show()\n"
    )


PLOTS = [
    _answer("03", "plot_solution", _plot("plt.show()")),
    _answer(
        "03",
        "plot_pyplot_state_machine",
        """
        plt.figure(figsize=(6, 2))
        for i, title in enumerate(["Anchor", "Positive", "Negative"]):
            plt.subplot(1, 3, i + 1)
            plt.imshow(examples[i].reshape(28, 28), cmap="binary")
            plt.title(title)
            plt.axis("off")
        plt.show()
        """,
    ),
    _answer("03", "plot_returns_figure", _plot("return fig")),
    _answer("03", "plot_returns_axes", _plot("return axes")),
    _answer("03", "plot_show_then_close", _plot("plt.show()\nplt.close(fig)")),
    _answer(
        "03",
        "plot_display_then_close",
        _plot("display(fig)\nplt.close(fig)", before="from IPython.display import display\n"),
    ),
    _answer("03", "plot_fig_show", _plot("fig.show()")),
    _answer(
        "03",
        "plot_object_oriented_figure",
        """
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 2))
        for i, title in enumerate(["Anchor", "Positive", "Negative"]):
            ax = fig.add_subplot(1, 3, i + 1)
            ax.imshow(examples[i].reshape(28, 28), cmap="binary")
            ax.set_title(title)
            ax.set_axis_off()
        return fig
        """,
    ),
    _answer(
        "03",
        "plot_zip_lowercase_titles",
        """
        fig, axes = plt.subplots(1, 3, figsize=(6, 2))
        names = ["anchor image", "positive image", "negative image"]
        for ax, image, name in zip(axes, examples, names):
            ax.imshow(np.asarray(image).reshape(28, 28), cmap="gray")
            ax.set_title(name)
            ax.axis("off")
        plt.tight_layout()
        plt.show()
        plt.close("all")
        """,
    ),
    _answer(
        "03",
        "plot_mosaic",
        """
        fig, axes = plt.subplot_mosaic([["Anchor", "Positive", "Negative"]], figsize=(6, 2))
        for image, (title, ax) in zip(examples, axes.items()):
            ax.imshow(image.reshape(28, 28), cmap="binary")
            ax.set_title(title)
        plt.show()
        """,
    ),
    # wrong
    _answer("03", "plot_nothing", "pass", "drew nothing"),
    _answer("03", "plot_flat_vectors", _pyplot_plot(reshape=""), "reshape each image to (28, 28)"),
    _answer("03", "plot_stacked", _pyplot_plot(layout="3, 1"), "stacked one above the other"),
    _answer("03", "plot_no_titles", _pyplot_plot(titles=False), "no title"),
    _answer("03", "plot_reversed", _pyplot_plot(order="2 - i"), "wrong order"),
    _answer("03", "plot_anchor_three_times", _pyplot_plot(order="0"), "showed the anchor 3 times"),
    _answer("03", "plot_transposed", _pyplot_plot(reshape=".reshape(28, 28).T"), "transposed"),
    _answer(
        "03",
        "plot_three_figures",
        """
        for i, title in enumerate(["Anchor", "Positive", "Negative"]):
            plt.figure()
            plt.imshow(examples[i].reshape(28, 28), cmap="binary")
            plt.title(title)
            plt.show()
        """,
        "3 separate figures",
    ),
    _answer(
        "03",
        "plot_one_axes",
        """
        for i, title in enumerate(["Anchor", "Positive", "Negative"]):
            plt.imshow(examples[i].reshape(28, 28), cmap="binary")
            plt.title(title)
        plt.show()
        """,
        "same axes",
    ),
]

# ----------------------------------------------------------------------------------------
# 04: create_batch(x, y, batch_size, rng): the body after anchors, positives and negatives
# are allocated; the cell returns [anchors, positives, negatives] after it
# ----------------------------------------------------------------------------------------


_FILL = """
anchors[i] = x[anchor_index]
positives[i] = x[positive_index]
negatives[i] = x[negative_index]
"""


def _loop(
    anchor="rng.integers(len(x))",
    same="same[same != anchor_index]",
    positive="rng.choice(same)",
    negative="rng.choice(other)",
    fill=_FILL,
    before="",
) -> str:
    """The per-sample loop of the notebook's solution, with one part replaced."""
    return (
        f"{textwrap.dedent(before)}"
        "for i in range(batch_size):\n"
        f"    anchor_index = {anchor}\n"
        "    label = y[anchor_index]\n"
        "    same = np.where(y == label)[0]\n"
        f"    same = {same}\n"
        "    other = np.where(y != label)[0]\n"
        f"    positive_index = {positive}\n"
        f"    negative_index = {negative}\n"
        + textwrap.indent(textwrap.dedent(fill).strip("\n"), "    ")
        + "\n"
    )


BATCHES = [
    _answer("04", "batch_solution", _loop()),
    _answer(
        "04",
        "batch_flatnonzero",
        """
        for i in range(batch_size):
            a = rng.integers(0, len(x))
            same = np.flatnonzero(y == y[a])
            p = rng.choice(same[same != a])
            n = rng.choice(np.flatnonzero(y != y[a]))
            anchors[i], positives[i], negatives[i] = x[a], x[p], x[n]
        """,
    ),
    _answer(
        "04",
        "batch_rejection_sampling",
        """
        for i in range(batch_size):
            a = rng.integers(len(x))
            p = rng.integers(len(x))
            while y[p] != y[a] or p == a:
                p = rng.integers(len(x))
            n = rng.integers(len(x))
            while y[n] == y[a]:
                n = rng.integers(len(x))
            anchors[i, :], positives[i, :], negatives[i, :] = x[a], x[p], x[n]
        """,
    ),
    _answer(
        "04",
        "batch_vectorised_return",
        """
        a = rng.integers(len(x), size=batch_size)
        rows = np.arange(len(y))
        p = np.array([rng.choice(np.flatnonzero((y == y[i]) & (rows != i))) for i in a])
        n = np.array([rng.choice(np.flatnonzero(y != y[i])) for i in a])
        return [x[a], x[p], x[n]]
        """,
    ),
    _answer(
        "04",
        "batch_class_index",
        """
        by_class = {label: np.flatnonzero(y == label) for label in np.unique(y)}
        for i in range(batch_size):
            a = rng.integers(len(x))
            p = rng.choice(np.setdiff1d(by_class[y[a]], [a]))
            n = rng.choice(np.flatnonzero(y != y[a]))
            anchors[i], positives[i], negatives[i] = x[a], x[p], x[n]
        """,
    ),
    _answer(
        "04",
        "batch_offsets_sorted_by_class",
        """
        order = np.argsort(y, kind="stable")
        labels, start, count = np.unique(y[order], return_index=True, return_counts=True)
        block = np.searchsorted(labels, y)
        position = np.empty(len(y), dtype=np.int64)
        position[order] = np.arange(len(y))
        a = rng.integers(len(x), size=batch_size)
        c = block[a]
        offset = rng.integers(count[c] - 1)
        offset += offset >= position[a] - start[c]
        p = order[start[c] + offset]
        offset = rng.integers(len(y) - count[c])
        n = order[offset + np.where(offset >= start[c], count[c], 0)]
        anchors[:], positives[:], negatives[:] = x[a], x[p], x[n]
        """,
    ),
    _answer("04", "batch_permutation", _loop(positive="rng.permutation(same)[0]")),
    _answer("04", "batch_integer_index", _loop(positive="same[rng.integers(len(same))]")),
    _answer(
        "04",
        "batch_python_lists",
        """
        for i in range(batch_size):
            a = int(rng.integers(len(x)))
            same = [j for j in range(len(y)) if y[j] == y[a] and j != a]
            other = [j for j in range(len(y)) if y[j] != y[a]]
            anchors[i] = x[a]
            positives[i] = x[same[rng.integers(len(same))]]
            negatives[i] = x[other[rng.integers(len(other))]]
        """,
    ),
    # wrong
    _answer(
        "04",
        "batch_positive_may_be_anchor",
        _loop(same="same"),
        "the positive is the anchor itself",
    ),
    _answer(
        "04",
        "batch_negative_same_class",
        _loop(negative="rng.choice(same)"),
        "negative has the anchor's label",
    ),
    _answer(
        "04",
        "batch_negative_any_row",
        _loop(negative="rng.integers(len(x))"),
        "negative has the anchor's label",
    ),
    _answer(
        "04",
        "batch_swapped",
        _loop(
            fill="anchors[i] = x[anchor_index]\npositives[i] = x[negative_index]\n"
            "negatives[i] = x[positive_index]"
        ),
        "positives and negatives are swapped",
    ),
    _answer(
        "04",
        "batch_first_members_as_positives",
        _loop(positive="rng.choice(same[:3])"),
        "only the first 4 members of each class are ever positives",
    ),
    _answer(
        "04",
        "batch_negatives_from_first_rows",
        _loop(negative="rng.choice(other[:10])"),
        "negatives come only from the first 20 rows",
    ),
    _answer(
        "04",
        "batch_last_member_never_positive",
        _loop(positive="same[int(rng.random() * (len(same) - 1))]"),
        "LAST member of its class",
    ),
    _answer(
        "04",
        "batch_last_row_never_anchor",
        _loop(anchor="rng.integers(len(x) - 1)"),
        "LAST member of its class",
    ),
    _answer(
        "04",
        "batch_first_row_never_anchor",
        _loop(anchor="rng.integers(1, len(x))"),
        "FIRST member of its class",
    ),
    _answer(
        "04",
        "batch_next_classmate",
        _loop(
            same="np.where(y == label)[0]",
            positive="same[(np.flatnonzero(same == anchor_index)[0] + 1) % len(same)]",
        ),
        "always with the same positive",
    ),
    _answer(
        "04",
        "batch_sequential_anchors",
        _loop(anchor="i % len(x)"),
        "x[0], x[1], x[2], ... in order",
    ),
    _answer(
        "04",
        "batch_global_numpy_random",
        _loop(
            anchor="np.random.randint(len(x))",
            positive="np.random.choice(same)",
            negative="np.random.choice(other)",
        ),
        "from the rng argument",
    ),
    _answer(
        "04",
        "batch_own_fixed_seed",
        _loop(before="rng = np.random.default_rng(42)\n"),
        "Different rng seeds gave the same batch",
    ),
    _answer(
        "04",
        "batch_size_ignored",
        _loop(
            before="""
            batch_size = 256
            anchors = np.zeros((batch_size, *x.shape[1:]), dtype=x.dtype)
            positives, negatives = np.zeros_like(anchors), np.zeros_like(anchors)
            """
        ),
        "returned 256 anchors instead of 64",
    ),
]

# ----------------------------------------------------------------------------------------
# 05: embedding_model, with emb_size = 64 defined above the solution
# ----------------------------------------------------------------------------------------


def _sequential(*layers: str, name: str = "embedding") -> str:
    body = "".join(f"        {layer},\n" for layer in ("keras.Input(shape=(784,))", *layers))
    return f'embedding_model = keras.Sequential(\n    [\n{body}    ],\n    name="{name}",\n)'


_RELU = 'keras.layers.Dense(64, activation="relu")'
_PROJECT = "keras.layers.Dense(emb_size)"
_UNIT = "keras.layers.UnitNormalization()"

EMBEDDINGS = [
    _answer(
        "05",
        "embedding_solution",
        """
        inputs = keras.Input(shape=(784,), name="image")
        hidden = keras.layers.Dense(64, activation="relu", name="hidden")(inputs)
        projection = keras.layers.Dense(emb_size, name="projection")(hidden)
        outputs = keras.layers.UnitNormalization(name="l2_normalize")(projection)
        embedding_model = keras.Model(inputs, outputs, name="embedding")
        """,
    ),
    _answer("05", "embedding_sequential", _sequential(_RELU, _PROJECT, _UNIT)),
    _answer(
        "05",
        "embedding_relu_layer",
        _sequential("keras.layers.Dense(64)", "keras.layers.ReLU()", _PROJECT, _UNIT),
    ),
    _answer(
        "05",
        "embedding_activation_layer",
        """
        inputs = keras.Input(shape=(784,))
        x = keras.layers.Dense(64)(inputs)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.Dense(emb_size, activation=None)(x)
        embedding_model = keras.Model(inputs, keras.layers.UnitNormalization()(x), name="embedding")
        """,
    ),
    _answer(
        "05",
        "embedding_lambda_normalize",
        _sequential(
            _RELU, _PROJECT, "keras.layers.Lambda(lambda t: keras.ops.normalize(t, axis=-1))"
        ),
    ),
    _answer(
        "05",
        "embedding_lambda_norm_formula",
        """
        def unit_length(t):
            return t / keras.ops.sqrt(keras.ops.sum(keras.ops.square(t), axis=1, keepdims=True))


        inputs = keras.Input(shape=(784,))
        x = keras.layers.Dense(64, activation="relu")(inputs)
        outputs = keras.layers.Lambda(unit_length)(keras.layers.Dense(emb_size)(x))
        embedding_model = keras.Model(inputs=inputs, outputs=outputs, name="embedding")
        """,
    ),
    _answer(
        "05",
        "embedding_sequential_add",
        """
        embedding_model = keras.Sequential(name="embedding")
        embedding_model.add(keras.Input(shape=(784,)))
        embedding_model.add(keras.layers.Dense(64, activation=keras.activations.relu))
        embedding_model.add(keras.layers.Dense(emb_size))
        embedding_model.add(keras.layers.UnitNormalization(axis=-1))
        """,
    ),
    _answer(
        "05",
        "embedding_initialisers",
        _sequential(
            'keras.layers.Dense(64, activation="relu", kernel_initializer="he_normal")',
            'keras.layers.Dense(emb_size, use_bias=True, bias_initializer="zeros")',
            _UNIT,
        ),
    ),
    _answer(
        "05",
        "embedding_input_layer",
        """
        embedding_model = keras.Sequential(
            [keras.layers.InputLayer(shape=(784,)), keras.layers.Dense(64, "relu"),
             keras.layers.Dense(emb_size), keras.layers.UnitNormalization()],
            name="embedding",
        )
        """,
    ),
    # wrong
    _answer(
        "05",
        "embedding_original_sigmoid",
        _sequential(_RELU, 'keras.layers.Dense(emb_size, activation="sigmoid")'),
        "ends with a sigmoid, the original course's recipe",
    ),
    _answer(
        "05",
        "embedding_course_convnet",
        "embedding_model = helpers.build_embedding_model(emb_size=emb_size)",
        "a convnet, like the course's helpers.build_embedding_model()",
    ),
    _answer(
        "05",
        "embedding_course_mlp",
        'embedding_model = helpers.build_embedding_model(emb_size=emb_size, kind="mlp")',
        "Dense(256, relu) → Dense(64)",
    ),
    _answer(
        "05",
        "embedding_frozen_layer",
        """
        hidden = keras.layers.Dense(64, activation="relu")
        embedding_model = keras.Sequential(
            [keras.Input(shape=(784,)), hidden, keras.layers.Dense(emb_size),
             keras.layers.UnitNormalization()],
            name="embedding",
        )
        hidden.trainable = False  # "keep the first layer as it is"
        """,
        "are frozen (trainable=False)",
    ),
    _answer(
        "05",
        "embedding_no_nonlinearity",
        _sequential("keras.layers.Dense(64)", _PROJECT, _UNIT),
        "no nonlinearity",
    ),
    _answer(
        "05",
        "embedding_normalised_across_batch",
        _sequential(
            _RELU, _PROJECT, "keras.layers.Lambda(lambda t: keras.ops.normalize(t, axis=0))"
        ),
        "other images of its batch change",
    ),
    _answer(
        "05",
        "embedding_divided_by_batch_norm",
        _sequential(_RELU, _PROJECT, "keras.layers.Lambda(lambda t: t / keras.ops.norm(t))"),
        "other images of its batch change",
    ),
    _answer("05", "embedding_unnormalised", _sequential(_RELU, _PROJECT), "unbounded"),
    _answer(
        "05",
        "embedding_softmax",
        _sequential(_RELU, 'keras.layers.Dense(emb_size, activation="softmax")'),
        "ends with a softmax",
    ),
    _answer(
        "05",
        "embedding_unnamed",
        _sequential(_RELU, _PROJECT, _UNIT, name="my_model"),
        "name it 'embedding'",
    ),
    _answer(
        "05",
        "embedding_wider_hidden_layer",
        _sequential('keras.layers.Dense(128, activation="relu")', _PROJECT, _UNIT),
        "Dense(128, relu) → Dense(64)",
    ),
    _answer(
        "05",
        "embedding_hidden_without_bias",
        _sequential('keras.layers.Dense(64, activation="relu", use_bias=False)', _PROJECT, _UNIT),
        "Dense(64, relu, no bias)",
    ),
    _answer(
        "05",
        "embedding_relu_projection",
        _sequential(_RELU, 'keras.layers.Dense(emb_size, activation="relu")', _UNIT),
        "has an activation (relu)",
    ),
    _answer(
        "05",
        "embedding_tanh_hidden",
        _sequential('keras.layers.Dense(64, activation="tanh")', _PROJECT, _UNIT),
        "uses a tanh",
    ),
    _answer(
        "05",
        "embedding_dropout",
        _sequential(_RELU, "keras.layers.Dropout(0.2)", _PROJECT, _UNIT),
        "computes something else in training",
    ),
    _answer(
        "05",
        "embedding_epsilon_in_the_norm",
        _sequential(
            _RELU,
            _PROJECT,
            "keras.layers.Lambda(lambda t: t / (keras.ops.norm(t, axis=-1, keepdims=True) + 1e-3))",
        ),
        "instead of exactly 1",
    ),
    _answer(
        "05",
        "embedding_hard_coded_width",
        _sequential(_RELU, "keras.layers.Dense(32)", _UNIT),
        "outputs shape (None, 32)",
    ),
]

# ----------------------------------------------------------------------------------------
# 06: build_siamese_network(embedding_model), after input_shape = embedding_model.input_shape[1:]
# ----------------------------------------------------------------------------------------

_INPUTS = """
anchor = keras.Input(shape=input_shape, name="anchor")
positive = keras.Input(shape=input_shape, name="positive")
negative = keras.Input(shape=input_shape, name="negative")
"""


_EMBED = "e_a, e_p, e_n = (embedding_model(t) for t in (anchor, positive, negative))"


def _siamese(outputs: str, *, embed: str = _EMBED) -> str:
    return (
        _INPUTS
        + textwrap.dedent(embed).strip("\n")
        + "\n"
        + f"output = {outputs}\n"
        + 'return keras.Model([anchor, positive, negative], output, name="siamese")\n'
    )


_CONCAT = "keras.layers.Concatenate(axis=-1)([e_a, e_p, e_n])"

SIAMESE = [
    _answer(
        "06",
        "siamese_solution",
        """
        anchor = keras.Input(shape=input_shape, name="anchor")
        positive = keras.Input(shape=input_shape, name="positive")
        negative = keras.Input(shape=input_shape, name="negative")
        embeddings = [embedding_model(image) for image in (anchor, positive, negative)]
        output = keras.layers.Concatenate(axis=-1)(embeddings)
        return keras.Model([anchor, positive, negative], output, name="siamese")
        """,
    ),
    _answer(
        "06",
        "siamese_separate_calls",
        _siamese(
            "keras.layers.Concatenate()([e_a, e_p, e_n])",
            embed="e_a = embedding_model(anchor)\ne_p = embedding_model(positive)\n"
            "e_n = embedding_model(negative)",
        ),
    ),
    _answer(
        "06", "siamese_ops_concatenate", _siamese("keras.ops.concatenate([e_a, e_p, e_n], axis=-1)")
    ),
    _answer(
        "06", "siamese_layers_concatenate", _siamese("keras.layers.concatenate([e_a, e_p, e_n])")
    ),
    _answer(
        "06",
        "siamese_axis_1",
        _siamese("keras.layers.Concatenate(axis=1, name='embeddings')([e_a, e_p, e_n])"),
    ),
    _answer(
        "06",
        "siamese_roles_loop",
        """
        roles = ("anchor", "positive", "negative")
        inputs = [keras.Input(shape=input_shape, name=role) for role in roles]
        output = keras.layers.Concatenate(axis=-1)([embedding_model(t) for t in inputs])
        return keras.Model(inputs=inputs, outputs=output, name="siamese")
        """,
    ),
    _answer(
        "06",
        "siamese_shape_from_inputs",
        """
        shape = tuple(embedding_model.inputs[0].shape[1:])
        a, p, n = (keras.Input(shape=shape, name=r) for r in ["anchor", "positive", "negative"])
        joined = keras.layers.Concatenate(axis=-1)(
            [embedding_model(a), embedding_model(p), embedding_model(n)]
        )
        return keras.Model([a, p, n], joined, name="siamese")
        """,
    ),
    _answer(
        "06",
        "siamese_dict_of_inputs",
        """
        roles = ["anchor", "positive", "negative"]
        images = {role: keras.Input(shape=input_shape, name=role) for role in roles}
        embeddings = {role: embedding_model(image) for role, image in images.items()}
        output = keras.layers.Concatenate(axis=-1)(list(embeddings.values()))
        return keras.Model(list(images.values()), output, name="siamese")
        """,
    ),
    _answer(
        "06",
        "siamese_ops_concatenate_tuple",
        _siamese(
            "keras.ops.concatenate((e_a, e_p, e_n), axis=1)",
            embed="e_a, e_p, e_n = map(embedding_model, [anchor, positive, negative])",
        ),
    ),
    # wrong
    _answer(
        "06",
        "siamese_negative_cut_from_gradient",
        _siamese(
            _CONCAT,
            embed="e_a, e_p = embedding_model(anchor), embedding_model(positive)\n"
            "e_n = keras.ops.stop_gradient(embedding_model(negative))",
        ),
        "No gradient flows from the negative branch",
    ),
    _answer(
        "06",
        "siamese_dropout_after_concatenation",
        _siamese(f"keras.layers.Dropout(0.1)({_CONCAT})"),
        "computes something else in training",
    ),
    _answer(
        "06",
        "siamese_noise_after_concatenation",
        _siamese(f"keras.layers.GaussianNoise(0.01)({_CONCAT})"),
        "computes something else in training",
    ),
    _answer(
        "06",
        "siamese_freezes_a_layer",
        "embedding_model.layers[-2].trainable = False  # keep the projection fixed\n"
        + _siamese(_CONCAT),
        "inside your Siamese network are frozen",
    ),
    _answer(
        "06",
        "siamese_uses_a_global_model",
        _siamese(_CONCAT, embed="e_a, e_p, e_n = model(anchor), model(positive), model(negative)"),
        "still uses the global embedding_model",
        extra_cell="model = embedding_model  # a shorter name",
    ),
    _answer(
        "06",
        "siamese_three_clones",
        _siamese(
            _CONCAT,
            embed="""
            copies = []
            for role in ("anchor", "positive", "negative"):
                clone = keras.models.clone_model(embedding_model)
                copies.append(keras.Model(clone.input, clone.output, name=f"embedding_{role}"))
            e_a, e_p, e_n = (m(t) for m, t in zip(copies, (anchor, positive, negative)))
            """,
        ),
        "3× the embedding model's weights",
    ),
    _answer(
        "06",
        "siamese_builds_its_own_model",
        _siamese(
            _CONCAT,
            embed="own = helpers.build_embedding_model(emb_size=64)\n"
            "e_a, e_p, e_n = own(anchor), own(positive), own(negative)",
        ),
        "does not use this embedding_model",
    ),
    _answer(
        "06",
        "siamese_extra_dense",
        _siamese(f"keras.layers.Dense(192)({_CONCAT})"),
        "besides the embedding model's",
    ),
    _answer(
        "06",
        "siamese_wrong_order",
        _siamese("keras.layers.Concatenate()([e_p, e_a, e_n])"),
        "[e(positive), e(anchor), e(negative)]",
    ),
    _answer("06", "siamese_list_of_outputs", _siamese("[e_a, e_p, e_n]"), "3 separate outputs"),
    _answer(
        "06",
        "siamese_anchor_three_times",
        _siamese("keras.layers.Concatenate()([e_a, e_a, e_a])"),
        "embeds the anchor 3 times",
    ),
    _answer(
        "06",
        "siamese_axis_0",
        _siamese("keras.layers.Concatenate(axis=0)([e_a, e_p, e_n])"),
        "not axis=0",
    ),
    _answer(
        "06",
        "siamese_unnamed_inputs",
        """
        anchor, positive, negative = (keras.Input(shape=input_shape) for _ in range(3))
        embeddings = [embedding_model(t) for t in (anchor, positive, negative)]
        output = keras.layers.Concatenate()(embeddings)
        return keras.Model([anchor, positive, negative], output, name="siamese")
        """,
        "name them",
    ),
]

# ----------------------------------------------------------------------------------------
# 07: triplet_loss(y_true, y_pred, alpha=0.2)
# ----------------------------------------------------------------------------------------

_SLICES = """
emb_size = y_pred.shape[-1] // 3
anchor = y_pred[:, :emb_size]
positive = y_pred[:, emb_size : 2 * emb_size]
negative = y_pred[:, 2 * emb_size :]
"""


def _loss(
    pos="ops.sum(ops.square(anchor - positive), axis=-1)",
    neg="ops.sum(ops.square(anchor - negative), axis=-1)",
    result="ops.maximum(pos_dist - neg_dist + alpha, 0.0)",
    slices=_SLICES,
) -> str:
    slices = textwrap.dedent(slices).strip("\n") + "\n"
    return f"{slices}pos_dist = {pos}\nneg_dist = {neg}\nreturn {result}\n"


LOSSES = [
    _answer("07", "loss_solution", _loss()),
    _answer(
        "07",
        "loss_split_relu",
        _loss(
            result="ops.relu(pos_dist - neg_dist + alpha)",
            slices="anchor, positive, negative = ops.split(y_pred, 3, axis=-1)\n",
        ),
    ),
    _answer(
        "07",
        "loss_tensorflow_ops",
        """
        import tensorflow as tf

        emb_size = y_pred.shape[-1] // 3
        anchor, positive, negative = tf.split(y_pred, 3, axis=1)
        pos_dist = tf.reduce_sum(tf.square(anchor - positive), axis=1)
        neg_dist = tf.reduce_sum(tf.square(anchor - negative), axis=1)
        return tf.maximum(pos_dist - neg_dist + alpha, 0.0)
        """,
        elsewhere=_REFUSED_OFF_TENSORFLOW,  # right on TensorFlow only: tf ops, not keras.ops
    ),
    _answer(
        "07",
        "loss_power_and_int_zero",
        _loss(
            pos="ops.sum((anchor - positive) ** 2, axis=1)",
            neg="ops.sum((anchor - negative) ** 2, axis=1)",
            result="ops.maximum(pos_dist - neg_dist + alpha, 0)",
        ),
    ),
    _answer(
        "07",
        "loss_dot_products",
        _loss(
            pos="ops.sum(anchor * anchor, axis=-1) - 2 * ops.sum(anchor * positive, axis=-1)"
            " + ops.sum(positive * positive, axis=-1)",
            neg="ops.sum(anchor * anchor, axis=-1) - 2 * ops.sum(anchor * negative, axis=-1)"
            " + ops.sum(negative * negative, axis=-1)",
        ),
    ),
    _answer(
        "07",
        "loss_where",
        _loss(
            result="ops.where(pos_dist - neg_dist + alpha > 0, pos_dist - neg_dist + alpha, 0.0)"
        ),
    ),
    _answer(
        "07",
        "loss_reshape_triplets",
        """
        emb_size = y_pred.shape[-1] // 3
        triplets = ops.reshape(y_pred, (-1, 3, emb_size))
        anchor, positive, negative = triplets[:, 0, :], triplets[:, 1, :], triplets[:, 2, :]
        pos_dist = ops.sum(ops.square(anchor - positive), axis=-1)
        neg_dist = ops.sum(ops.square(anchor - negative), axis=-1)
        return ops.maximum(pos_dist - neg_dist + alpha, 0.0)
        """,
    ),
    _answer(
        "07",
        "loss_ops_shape",
        _loss(
            slices="""
            emb_size = ops.shape(y_pred)[-1] // 3
            anchor = y_pred[..., :emb_size]
            positive = y_pred[..., emb_size : 2 * emb_size]
            negative = y_pred[..., 2 * emb_size :]
            """
        ),
    ),
    _answer(
        "07",
        "loss_function_style_ops",
        _loss(
            pos="ops.sum(ops.square(ops.subtract(anchor, positive)), axis=-1)",
            neg="ops.sum(ops.square(ops.subtract(anchor, negative)), axis=-1)",
            result="ops.maximum(ops.add(ops.subtract(pos_dist, neg_dist), alpha), 0.0)",
        ),
    ),
    _answer(
        "07",
        "loss_difference_first",
        """
        size = y_pred.shape[-1] // 3
        anchor, positive, negative = y_pred[:, :size], y_pred[:, size:-size], y_pred[:, -size:]
        difference = ops.sum(ops.square(anchor - positive) - ops.square(anchor - negative), axis=-1)
        return ops.maximum(difference + alpha, 0.0)
        """,
    ),
    # wrong
    _answer(
        "07",
        "loss_mean_over_embedding",
        _loss(
            pos="ops.mean(ops.square(anchor - positive), axis=-1)",
            neg="ops.mean(ops.square(anchor - negative), axis=-1)",
        ),
        "averaged the squared differences over the embedding dimension",
    ),
    _answer(
        "07", "loss_no_max", _loss(result="pos_dist - neg_dist + alpha"), "forgot the max(·, 0)"
    ),
    _answer(
        "07",
        "loss_no_alpha",
        _loss(result="ops.maximum(pos_dist - neg_dist, 0.0)"),
        "forgot to add the margin alpha",
    ),
    _answer(
        "07",
        "loss_sqrt_distances",
        _loss(
            pos="ops.norm(anchor - positive, axis=-1)", neg="ops.norm(anchor - negative, axis=-1)"
        ),
        "SQUARED distance",
    ),
    _answer(
        "07",
        "loss_sqrt_then_square",
        _loss(
            pos="(ops.sum(ops.square(anchor - positive), axis=-1) ** 0.5) ** 2",
            neg="(ops.sum(ops.square(anchor - negative), axis=-1) ** 0.5) ** 2",
        ),
        "gradient is NaN",
    ),
    _answer(
        "07",
        "loss_scalar_mean",
        _loss(result="ops.mean(ops.maximum(pos_dist - neg_dist + alpha, 0.0))"),
        "averaged the losses over the batch",
    ),
    _answer(
        "07",
        "loss_numpy",
        _loss(
            pos="np.sum(np.square(anchor - positive), axis=-1)",
            neg="np.sum(np.square(anchor - negative), axis=-1)",
            result="np.maximum(pos_dist - neg_dist + alpha, 0.0)",
        ),
        "cannot compute the gradient",
    ),
    _answer(
        "07",
        "loss_interleaved_split",
        _loss(
            slices="anchor, positive, negative = y_pred[:, ::3], y_pred[:, 1::3], y_pred[:, 2::3]"
        ),
        "Split y_pred into three equal parts",
    ),
    _answer(
        "07",
        "loss_len_of_a_row",
        _loss(slices=_SLICES.replace("y_pred.shape[-1] // 3", "len(y_pred[0]) // 3")),
        "fails inside model.compile",
        # JAX's traced arrays and PyTorch's tensors have static shapes: len() works there
        elsewhere=(("jax", None), ("torch", None)),
    ),
    _answer(
        "07",
        "loss_numpy_shape",
        _loss(slices=_SLICES.replace("y_pred.shape[-1] // 3", "y_pred.numpy().shape[1] // 3")),
        "fails inside model.compile",
        # PyTorch refuses .numpy() on a tensor that requires grad, in the gradient check
        elsewhere=(("torch", "cannot compute the gradient"),),
    ),
    _answer(
        "07",
        "loss_stop_gradient_negative_distance",
        _loss(neg="ops.stop_gradient(ops.sum(ops.square(anchor - negative), axis=-1))"),
        "no gradient flows through the term ‖a−n‖²",
    ),
    _answer(
        "07",
        "loss_stop_gradient_positive_distance",
        _loss(pos="ops.stop_gradient(ops.sum(ops.square(anchor - positive), axis=-1))"),
        "no gradient flows through the term ‖a−p‖²",
    ),
    _answer(
        "07",
        "loss_stop_gradient_negative",
        _loss(neg="ops.sum(ops.square(anchor - ops.stop_gradient(negative)), axis=-1)"),
        "gradient with respect to the negative is not FaceNet's",
    ),
    _answer(
        "07",
        "loss_swapped",
        _loss(result="ops.maximum(neg_dist - pos_dist + alpha, 0.0)"),
        "swapped the positive and the negative",
    ),
    _answer(
        "07",
        "loss_uses_y_true",
        _loss(slices=_SLICES.replace("y_pred[", "y_true[")),
        "you used y_true",
    ),
    _answer(
        "07",
        "loss_sum_over_batch_axis",
        _loss(
            pos="ops.sum(ops.square(anchor - positive), axis=0)",
            neg="ops.sum(ops.square(anchor - negative), axis=0)",
        ),
        "axis=0",
    ),
    _answer(
        "07",
        "loss_hard_coded_emb_size",
        _loss(slices=_SLICES.replace("y_pred.shape[-1] // 3", "64")),
        "emb_size = y_pred.shape[-1] // 3",
    ),
    _answer(
        "07",
        "loss_fixed_margin",
        _loss(result="ops.maximum(pos_dist - neg_dist + 0.2, 0.0)"),
        "use the alpha argument",
    ),
    _answer(
        "07",
        "loss_floor_above_zero",
        _loss(result="ops.maximum(pos_dist - neg_dist + alpha, 1e-3)"),
        "get 0.001 instead of 0",
    ),
    _answer(
        "07",
        "loss_l1_distance",
        _loss(
            pos="ops.sum(ops.abs(anchor - positive), axis=-1)",
            neg="ops.sum(ops.abs(anchor - negative), axis=-1)",
        ),
        "absolute differences",
    ),
]


# ----------------------------------------------------------------------------------------
# 07, exercise 7.2: class MarginTripletLoss(keras.losses.Loss), registered, with get_config
# ----------------------------------------------------------------------------------------

_REGISTER = '@keras.saving.register_keras_serializable(package="learner")'
_INIT = """
def __init__(self, alpha=0.2, name="margin_triplet_loss", **kwargs):
    super().__init__(name=name, **kwargs)
    self.alpha = alpha
"""
_CALL = """
def call(self, y_true, y_pred):
    return triplet_loss(y_true, y_pred, alpha=self.alpha)
"""
_GET_CONFIG = """
def get_config(self):
    return {**super().get_config(), "alpha": self.alpha}
"""


def _margin_class(
    register=_REGISTER,
    init=_INIT,
    call=_CALL,
    get_config=_GET_CONFIG,
    header="class MarginTripletLoss(keras.losses.Loss):",
    after="",
) -> str:
    """The source of a MarginTripletLoss class; each part replaced to make a variant."""
    methods = [textwrap.dedent(m).strip("\n") for m in (init, call, get_config) if m]
    body = "\n\n".join(textwrap.indent(m, "    ") for m in methods) or "    pass"
    after = textwrap.dedent(after).strip("\n")
    return (
        (f"{register}\n" if register else "")
        + f"{header}\n{body}\n"
        + (f"\n\n{after}\n" if after else "")
    )


def _margin(name, source, rejected_with=None, extra_cell=""):
    return _answer("07", name, source, rejected_with, extra_cell, exercise="7.2")


MARGIN_LOSSES = [
    _margin("margin_solution", _margin_class()),
    _margin(
        "margin_stored_as_margin",
        _margin_class(
            init="""
            def __init__(self, alpha=0.2, name="margin_triplet_loss", **kwargs):
                super().__init__(name=name, **kwargs)
                self.margin = alpha
            """,
            call="""
            def call(self, y_true, y_pred):
                return triplet_loss(y_true, y_pred, alpha=self.margin)
            """,
            get_config="""
            def get_config(self):
                config = super().get_config()
                config.update({"alpha": self.margin})
                return config
            """,
        ),
    ),
    _margin(
        "margin_own_package_and_name_keyword_only",
        _margin_class(
            register="@keras.saving.register_keras_serializable("
            'package="my_course", name="Margin")',
            init="""
            def __init__(self, alpha=0.2, *, name="margin_triplet_loss", **kwargs):
                super(MarginTripletLoss, self).__init__(name=name, **kwargs)
                self.alpha = float(alpha)
            """,
            get_config="""
            def get_config(self):
                return dict(super().get_config(), alpha=self.alpha)
            """,
        ),
    ),
    _margin(
        "margin_default_package_and_from_config",
        _margin_class(
            register="@keras.saving.register_keras_serializable()",
            get_config="""
            def get_config(self):
                base = super().get_config()
                return {**base, "alpha": self.alpha}

            @classmethod
            def from_config(cls, config):
                return cls(**config)
            """,
        ),
    ),
    _margin(
        "margin_registered_after_the_class",
        _margin_class(
            register="",
            after="""
            MarginTripletLoss = keras.saving.register_keras_serializable(package="learner")(
                MarginTripletLoss
            )
            """,
        ),
    ),
    _margin(
        "margin_name_inside_kwargs",
        _margin_class(
            init="""
            def __init__(self, alpha=0.2, **kwargs):
                kwargs.setdefault("name", "margin_triplet_loss")
                super().__init__(**kwargs)
                self.alpha = alpha
            """,
        ),
    ),
    _margin(
        "margin_own_keras_ops_in_call",
        _margin_class(
            call="""
            def call(self, y_true, y_pred):
                anchor, positive, negative = ops.split(y_pred, 3, axis=-1)
                pos_dist = ops.sum(ops.square(anchor - positive), axis=-1)
                neg_dist = ops.sum(ops.square(anchor - negative), axis=-1)
                return ops.relu(pos_dist - neg_dist + self.alpha)
            """,
        ),
    ),
    # wrong
    _margin(
        "margin_no_get_config",
        _margin_class(get_config=""),
        "reloads with the default margin 0.2: you did not write get_config",
    ),
    _margin(
        "margin_config_without_alpha",
        _margin_class(
            get_config="""
            def get_config(self):
                return super().get_config()
            """
        ),
        "reloads with the default margin 0.2: your get_config does not keep alpha",
    ),
    _margin(
        "margin_not_registered",
        _margin_class(register=""),
        "Keras cannot find your class when loading the model",
    ),
    _margin(
        "margin_call_ignores_alpha",
        _margin_class(
            call="def call(self, y_true, y_pred):\n    return triplet_loss(y_true, y_pred)"
        ),
        "your call ignores self.alpha",
    ),
    _margin(
        "margin_call_fixed_margin",
        _margin_class(
            call="def call(self, y_true, y_pred):\n"
            "    return triplet_loss(y_true, y_pred, alpha=0.5)"
        ),
        "with the margin 0.5: your call ignores self.alpha",
    ),
    _margin(
        "margin_call_returns_a_sum",
        _margin_class(
            call="def call(self, y_true, y_pred):\n"
            "    return ops.sum(triplet_loss(y_true, y_pred, alpha=self.alpha))"
        ),
        "single number for the batch (their sum) instead of one loss per triplet",
    ),
    _margin(
        "margin_call_returns_a_mean",
        _margin_class(
            call="def call(self, y_true, y_pred):\n"
            "    return ops.mean(triplet_loss(y_true, y_pred, alpha=self.alpha))"
        ),
        "single number for the batch (their mean)",
    ),
    _margin(
        "margin_no_super_init",
        _margin_class(
            init="""
            def __init__(self, alpha=0.2, name="margin_triplet_loss", **kwargs):
                self.alpha = alpha
            """
        ),
        "Your __init__ does not call the parent's",
    ),
    _margin(
        "margin_kwargs_not_passed_on",
        _margin_class(
            init=_INIT.replace(
                "super().__init__(name=name, **kwargs)", "super().__init__(name=name)"
            )
        ),
        "does not pass **kwargs on to keras.losses.Loss",
    ),
    _margin(
        "margin_no_kwargs_in_signature",
        _margin_class(
            init="""
            def __init__(self, alpha=0.2, name="margin_triplet_loss"):
                super().__init__(name=name)
                self.alpha = alpha
            """
        ),
        "Keep the signature def __init__(self, alpha=0.2, name=..., **kwargs)",
    ),
    _margin(
        "margin_fixed_name",
        _margin_class(
            init=_INIT.replace("name=name, **kwargs)", 'name="margin_triplet_loss", **kwargs)')
        ),
        "pass the name argument on to the parent",
    ),
    _margin(
        "margin_wrong_default",
        _margin_class(init=_INIT.replace("alpha=0.2", "alpha=0.5")),
        "should use the default margin 0.2",
    ),
    _margin(
        "margin_config_drops_the_parent",
        _margin_class(get_config='def get_config(self):\n    return {"alpha": self.alpha}'),
        "your get_config drops the parent's config",
    ),
    _margin(
        "margin_config_under_another_key",
        _margin_class(
            get_config=_GET_CONFIG.replace('"alpha": self.alpha', '"margin": self.alpha')
        ),
        "every key of get_config must be an argument of __init__",
    ),
    _margin(
        "margin_not_a_keras_loss",
        _margin_class(
            header="class MarginTripletLoss:",
            init=_INIT.replace(
                "    super().__init__(name=name, **kwargs)\n", "    self.name = name\n"
            ),
        ),
        "is not a keras.losses.Loss",
    ),
    _margin(
        "margin_helpers_package",
        _margin_class(register=_REGISTER.replace('"learner"', '"helpers"')),
        "in the package 'helpers'",
    ),
    _margin(
        "margin_functools_partial",
        """
        import functools

        MarginTripletLoss = functools.partial(triplet_loss, alpha=0.5)
        """,
        "expects a class, got a function",
    ),
    _margin(
        "margin_dunder_call_instead_of_call",
        _margin_class(
            call="""
            def __call__(self, y_true, y_pred, sample_weight=None):
                return ops.mean(triplet_loss(y_true, y_pred, alpha=self.alpha))
            """
        ),
        "has no method call(self, y_true, y_pred)",
    ),
    _margin(
        "margin_on_a_wrong_triplet_loss",
        _margin_class(),
        "your triplet_loss of exercise 7.1 is not right yet",
        extra_cell="""
        def triplet_loss(y_true, y_pred, alpha=0.2):  # 7.1 with the mean, not the sum
            anchor, positive, negative = ops.split(y_pred, 3, axis=-1)
            pos_dist = ops.mean(ops.square(anchor - positive), axis=-1)
            neg_dist = ops.mean(ops.square(anchor - negative), axis=-1)
            return ops.maximum(pos_dist - neg_dist + alpha, 0.0)
        """,
    ),
]

ANSWERS: list[Answer] = [
    *IMAGES,
    *PLOTS,
    *BATCHES,
    *EMBEDDINGS,
    *SIAMESE,
    *LOSSES,
    *MARGIN_LOSSES,
]
BY_NAME: dict[str, Answer] = {answer.name: answer for answer in ANSWERS}
