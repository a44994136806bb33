"""Independent numpy references and sampler checks that several notebooks' self-checks share.

FaceNet's triplet loss in numpy (with its classic mistakes as options; from
:mod:`siamese_grading.references`, which the grader's judges share), a brute-force P@1,
and what any triplet sampler must do: valid triplets (Task 4's ``create_batch`` and Task 8's
``triplet_stream``) and every example drawn in every role it can take.
"""

from __future__ import annotations

# FaceNet's loss, its gradient, the brute-force P@1 and the sampler checks live with the grader,
# which judges answers with the same numbers outside the learner's kernel (and must not import
# helpers): one truth, two users.
from siamese_grading.references import (  # noqa: F401
    DISTANCES,
    brute_force_p_at_1,
    check_coverage,
    check_triplet_labels,
    reference_gradient,
    reference_loss,
)
