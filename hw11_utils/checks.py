"""Visible checks that students run right after a TODO: ``checks.check_<todo>(<todo>)``.

Each check calls the student's function on a few small cases whose answers were computed by hand
(no reference implementation here), prints ``PASS`` or what went wrong with a hint, and returns
``True``/``False``. A check never raises, stops after ``CHECK_TIME_LIMIT_S`` seconds, and shows warnings
as printed notes; a check of a TODO that calls other TODOs replaces them by stand-ins, so it tests that
TODO alone (see :mod:`hw11_utils.checks_core`). The hidden tests used for grading are stricter (random
inputs, compared with the reference).

The checks live in one module per notebook section:

* :mod:`hw11_utils.checks_common`: ``discounted_returns`` (section 2), ``paired_difference`` (section 5)
* :mod:`hw11_utils.checks_maml`: ``inner_loss``, ``inner_step``, ``meta_loss``, ``adapt``
* :mod:`hw11_utils.checks_rl2`: ``rl2_inputs``, ``rl2_policy_step``, ``rl2_trial_forward``, ``rl2_loss``
* :mod:`hw11_utils.checks_pearl`: ``product_of_gaussians``, ``kl_to_standard_normal``, ``infer_posterior``,
  ``sample_latent``, ``sac_critic_loss``, ``sac_actor_loss``

Adding a check: write it in its section's module, decorated with ``@visible_check("<todo>")``, from
hand-computed :class:`~hw11_utils.checks_core.Case` rows (:func:`~hw11_utils.checks_core.run_cases`) or
with :func:`~hw11_utils.checks_core.attempt`, ``fail`` and ``passed``; then import it here.
"""

from __future__ import annotations

from hw11_utils.checks_common import check_discounted_returns, check_paired_difference
from hw11_utils.checks_core import CHECK_TIME_LIMIT_S, Case, run_cases
from hw11_utils.checks_maml import check_adapt, check_inner_loss, check_inner_step, check_meta_loss
from hw11_utils.checks_pearl import (
    check_infer_posterior,
    check_kl_to_standard_normal,
    check_product_of_gaussians,
    check_sac_actor_loss,
    check_sac_critic_loss,
    check_sample_latent,
)
from hw11_utils.checks_rl2 import check_rl2_inputs, check_rl2_loss, check_rl2_policy_step, check_rl2_trial_forward

__all__ = [
    "CHECK_TIME_LIMIT_S",
    "Case",
    "run_cases",
    "check_discounted_returns",
    "check_paired_difference",
    "check_inner_loss",
    "check_inner_step",
    "check_meta_loss",
    "check_adapt",
    "check_rl2_inputs",
    "check_rl2_policy_step",
    "check_rl2_trial_forward",
    "check_rl2_loss",
    "check_product_of_gaussians",
    "check_kl_to_standard_normal",
    "check_infer_posterior",
    "check_sample_latent",
    "check_sac_critic_loss",
    "check_sac_actor_loss",
]
