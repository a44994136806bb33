"""The self-checks that learners run after each exercise.

Each ``check_*`` function calls the learner's code on small synthetic data and
compares it with an independent numpy reference written here (never with the
rest of ``helpers``, which could share the same bug). On success it prints one
friendly line and returns ``None``. On failure it raises ``AssertionError``
whose message names the likely mistake and how to fix it, e.g.::

    AssertionError: You averaged the squared differences over the embedding
    dimension; FaceNet sums them: use ops.sum(ops.square(anchor - positive), axis=-1)

If the learner's code itself raises, the check raises ``AssertionError`` that
says so (chained ``from`` the original error); the unfilled stub's
``NotImplementedError`` becomes "You have not implemented ... yet".

Each check runs the learner's code the way the lesson will use it, not only on
one input: a loss inside ``model.compile`` for one training step, compared with
a numpy gradient of the formula; a model on batches with different batch mates,
in training and in inference mode; a Siamese network's gradient through each
branch, and its builder called on another model; a sampler over many seeds,
until every example has had its chance in every role; a plot however it was shown.
Gradients come from the active backend's autodiff through one function,
``_shared.gradients`` (TensorFlow today).

Every check is deterministic (fixed seeds) and fast. One module per notebook:
``images`` (02), ``plots`` (03), ``batches`` (04), ``embedding`` (05),
``siamese`` (06), ``loss`` (07), ``retrieval`` and ``training`` (08); ``_shared``
holds what they have in common.
"""

from .batches import check_create_batch
from .embedding import check_embedding_model
from .images import check_normalized_images
from .loss import check_margin_loss, check_triplet_loss
from .plots import check_plot_triplets
from .retrieval import check_precision_at_1
from .siamese import check_siamese_network
from .training import (
    check_compile_siamese,
    check_small_test_set,
    check_training,
    check_triplet_stream,
)

__all__ = [
    "check_compile_siamese",
    "check_create_batch",
    "check_embedding_model",
    "check_margin_loss",
    "check_normalized_images",
    "check_plot_triplets",
    "check_precision_at_1",
    "check_siamese_network",
    "check_small_test_set",
    "check_training",
    "check_triplet_loss",
    "check_triplet_stream",
]
