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

The ``*_training`` graders run the reference training loop (a small budget, seed 0, 3 to 13 s) with
the student's functions patched in and test what the method is for: MAML's adaptation step raises
the return, RL² balances the flip tasks of both action signs, PEARL's own context beats another
task's. Their thresholds come from 20 reference seeds (``python benchmarks/training_checks.py``).

Each grader is exported through :func:`hw11_grading.support.public_grader`: a time limit
(``GRADER_TIME_LIMIT_S``, ``TRAINING_TIME_LIMIT_S``), warnings printed as notes on standard output, and
any failure raised as one ``GradingFailure`` message with no traceback through the hidden code.

To grade a new TODO: write a function named after it in its section's module (seeded cases, a
comparison with the reference, behavioural checks) and export it here with ``public_grader``.
"""

from __future__ import annotations

from hw11_grading import common_graders, maml_graders, pearl_graders, rl2_graders
from hw11_grading.common_graders import DISCOUNTED_RETURNS_CASES
from hw11_grading.support import TRAINING_TIME_LIMIT_S, public_grader

discounted_returns = public_grader(common_graders.discounted_returns)
paired_difference = public_grader(common_graders.paired_difference)
inner_loss = public_grader(maml_graders.inner_loss)
inner_step = public_grader(maml_graders.inner_step)
meta_loss = public_grader(maml_graders.meta_loss)
adapt = public_grader(maml_graders.adapt)
maml_training = public_grader(maml_graders.maml_training, TRAINING_TIME_LIMIT_S)
rl2_inputs = public_grader(rl2_graders.rl2_inputs)
rl2_policy_step = public_grader(rl2_graders.rl2_policy_step)
rl2_trial_forward = public_grader(rl2_graders.rl2_trial_forward)
rl2_loss = public_grader(rl2_graders.rl2_loss)
rl2_training = public_grader(rl2_graders.rl2_training, TRAINING_TIME_LIMIT_S)
product_of_gaussians = public_grader(pearl_graders.product_of_gaussians)
kl_to_standard_normal = public_grader(pearl_graders.kl_to_standard_normal)
infer_posterior = public_grader(pearl_graders.infer_posterior)
sample_latent = public_grader(pearl_graders.sample_latent)
sac_critic_loss = public_grader(pearl_graders.sac_critic_loss)
sac_actor_loss = public_grader(pearl_graders.sac_actor_loss)
pearl_training = public_grader(pearl_graders.pearl_training, TRAINING_TIME_LIMIT_S)

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
