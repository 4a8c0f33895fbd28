"""One grader per graded TODO; each is called from the hidden block of a test cell::

    from hw11_grading import grade
    grade.inner_step(inner_step)

Every grader first isolates the student's function (calls to *other* TODOs go to the reference, so
each mistake costs only its own points), then compares it with the reference in ``solutions`` on
seeded inputs and checks its behaviour (gradients, invariants); a failure raises ``AssertionError``
saying what was expected. The graders live in one module per section and are collected here:

* ``common_graders``: ``discounted_returns``, ``paired_difference``
* ``maml_graders``: ``inner_loss``, ``inner_step``, ``meta_loss``, ``adapt``; ``maml_training``
  (a short seeded training run of the reference loop with the student's functions)
* ``rl2_graders``: ``rl2_inputs``, ``rl2_policy_step``, ``rl2_trial_forward``, ``rl2_loss``;
  ``rl2_training``
* ``pearl_graders``: ``product_of_gaussians``, ``kl_to_standard_normal``, ``infer_posterior``,
  ``sample_latent``, ``sac_critic_loss``, ``sac_actor_loss``; ``pearl_training``

The ``*_training`` graders run the reference training loop (QUICK budget, seeded, a few seconds)
with the student's functions patched in and require an improvement over the initial policy.

To grade a new TODO: write a function named after it in its section's module (seeded cases, a
comparison with the reference, behavioural checks) and import it here.
"""

from __future__ import annotations

from hw11_grading.common_graders import DISCOUNTED_RETURNS_CASES, discounted_returns, paired_difference
from hw11_grading.maml_graders import adapt, inner_loss, inner_step, maml_training, meta_loss
from hw11_grading.pearl_graders import (
    infer_posterior,
    kl_to_standard_normal,
    pearl_training,
    product_of_gaussians,
    sac_actor_loss,
    sac_critic_loss,
    sample_latent,
)
from hw11_grading.rl2_graders import rl2_inputs, rl2_loss, rl2_policy_step, rl2_training, rl2_trial_forward

__all__ = [
    "DISCOUNTED_RETURNS_CASES",
    "adapt",
    "discounted_returns",
    "infer_posterior",
    "inner_loss",
    "inner_step",
    "kl_to_standard_normal",
    "maml_training",
    "meta_loss",
    "paired_difference",
    "pearl_training",
    "product_of_gaussians",
    "rl2_inputs",
    "rl2_loss",
    "rl2_policy_step",
    "rl2_training",
    "rl2_trial_forward",
    "sac_actor_loss",
    "sac_critic_loss",
    "sample_latent",
]
