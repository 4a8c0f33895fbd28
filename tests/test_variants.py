"""The corpus of correct-but-different implementations (tools/variants.py) passes every grader and every
visible check, prints nothing on standard error (nbgrader gives 0 to a cell that does), and covers every TODO
at least twice. The same corpus goes through real nbgrader in tests/test_feedback.py."""

from __future__ import annotations

import inspect

import pytest
from hw11_grading import grade

from hw11_utils import checks
from solutions import common, maml, pearl, rl2
from tools.variants import VARIANTS

TODOS = [name for module in (common, maml, rl2, pearl) for name in module.STUDENT_TODOS]
CASES = [(corpus, name) for corpus in sorted(VARIANTS) for name in TODOS]


def namespace_with(sources: dict[str, str]) -> dict:
    """The notebook's namespace (given code and imports), every TODO defined from ``sources``."""
    namespace: dict = {}
    for module in (common, maml, rl2, pearl):
        namespace.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
    for name, source in sources.items():
        exec(compile(source, f"<variant {name}>", "exec"), namespace)
    return namespace


def test_every_todo_has_two_variants():
    for name in TODOS:
        sources = [corpus[name] for corpus in VARIANTS.values() if name in corpus]
        assert len(sources) >= 2, name
        reference = inspect.getsource(
            next(getattr(m, name) for m in (common, maml, rl2, pearl) if name in m.STUDENT_TODOS)
        )
        assert all(source.strip() != reference.strip() for source in sources)


@pytest.mark.parametrize("corpus, name", CASES, ids=[f"{c}-{n}" for c, n in CASES])
def test_variant_passes_its_grader_and_visible_check(corpus, name, capfd):
    namespace = namespace_with(VARIANTS[corpus])
    assert getattr(checks, f"check_{name}")(namespace[name]) is True
    getattr(grade, name)(namespace[name])
    out, err = capfd.readouterr()
    assert out.startswith(f"PASS: {name}") and "FAIL" not in out, out
    assert err == "", err


@pytest.mark.parametrize("corpus", sorted(VARIANTS))
def test_variants_pass_the_training_graders(corpus, capfd):
    namespace = namespace_with(VARIANTS[corpus])
    grade.maml_training(namespace["inner_step"], namespace["meta_loss"])
    grade.rl2_training(namespace["rl2_policy_step"], namespace["rl2_trial_forward"], namespace["rl2_loss"])
    grade.pearl_training(
        *(
            namespace[n]
            for n in ("infer_posterior", "sample_latent", "kl_to_standard_normal", "sac_critic_loss", "sac_actor_loss")
        )
    )
    assert capfd.readouterr().err == ""


def test_a_warning_is_a_note_on_stdout(capfd):
    """torch warns about float(alpha) only once per process, so this student warns explicitly as well."""
    source = VARIANTS["variants_a"]["sac_actor_loss"].replace(
        "    alpha = float(alpha)",
        "    import warnings\n    warnings.warn('alpha is a tensor')\n    alpha = float(alpha)",
    )
    namespace = namespace_with({**VARIANTS["variants_a"], "sac_actor_loss": source})
    assert checks.check_sac_actor_loss(namespace["sac_actor_loss"]) is True
    grade.sac_actor_loss(namespace["sac_actor_loss"])
    out, err = capfd.readouterr()
    assert err == ""
    assert out.count("note: your code raised a warning (it does not cost points): UserWarning: alpha is a tensor") == 2
