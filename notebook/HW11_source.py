# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown] role="readonly" grade_id="title"
# # HW11: Meta-Learning in Reinforcement Learning

# %% [markdown]
# > - Full Name: **[Your Full Name]**
# > - Student ID: **[Your Student ID]**

# %% [markdown] role="readonly" grade_id="overview"
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({{COLAB_URL}})
# [![Open in Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)]({{KAGGLE_URL}})
#
# In this homework you build three meta-reinforcement-learning algorithms and measure, on held-out
# tasks, whether they really *learn to adapt*:
#
# 1. **Task distributions** over a parameterised CartPole, and a test of when adaptation is needed at all.
# 2. **MAML**: learn an initialisation from which one policy-gradient step solves a new task.
# 3. **RL²**: a recurrent policy whose hidden state *is* the learning algorithm.
# 4. **PEARL**: infer a probabilistic task embedding from context and act on it.
# 5. **Few-shot adaptation**: compare everything against task-agnostic and oracle baselines.
#
# Each section explains the idea, then has `TODO` functions to complete (`YOUR CODE HERE`). Right
# after each TODO, a **visible check** runs small hand-computed cases and tells you what is wrong. The
# autograder runs further **hidden tests** that compare your function with a reference on random
# inputs. Written questions (`YOUR ANSWER HERE`) are graded by hand. Points are shown on every graded
# cell and add up to **100**: 85 autograded, 15 written.
#
# | section | autograded | written | total |
# |---|---|---|---|
# | 1. Task distributions | | Q1: 3 | 3 |
# | 2. MAML | returns 5, `inner_loss` 5, `inner_step` 7, `meta_loss` 6, `adapt` 5, training 2 | Q2: 3 | 33 |
# | 3. RL² | `rl2_inputs` 4, `rl2_policy_step` 7, `rl2_trial_forward` 6, `rl2_loss` 5, training 2 | Q3: 3 | 27 |
# | 4. PEARL | product 6, KL 3, `infer_posterior` 5, `sample_latent` 3, critic 4, actor 4, training 2 | Q4: 3 | 30 |
# | 5. Few-shot evaluation | `paired_difference` 4 | Q5: 3 | 7 |
# | **total** | **85** | **15** | **100** |
#
# **Rules.** Keep function names and signatures; the grader calls them. Do not edit the read-only
# cells. Each TODO is graded on its own: when the grader tests one function, it uses the reference
# versions of the *other* TODOs, so one mistake costs only its own points.
#
# **Budgets.** At the default budget, every training cell runs in a few minutes on a free Colab CPU.
# Set `HW11_QUICK=1` in the environment for a two-minute smoke run; this is what the autograder uses.
# Set `LOAD_PRETRAINED = True` below to load the provided trained models instead of training.

# %% role="readonly" grade_id="setup"
# Setup: installs the course package hw11_utils when it is missing (Colab, Kaggle); otherwise does nothing.
# To install it from somewhere else (a fork, a local clone), set HW11_STUDENT_REPO_URL before running this
# cell, e.g. `%env HW11_STUDENT_REPO_URL=/content/hw11`: a git URL (https://..., git+https://...,
# git+file:///...) or a local folder.
import importlib
import importlib.util
import os
import subprocess
import sys

REPO_URL = os.environ.get("HW11_STUDENT_REPO_URL", "").strip() or "{{STUDENT_REPO_URL}}"


def pip_requirement(location: str) -> str:
    """What pip installs for a repository: a local folder as it is, a git URL with one `git+` in front."""
    if os.path.exists(os.path.expanduser(location)):
        return os.path.abspath(os.path.expanduser(location))
    return location if location.startswith("git+") else f"git+{location}"


if importlib.util.find_spec("hw11_utils") is None:
    print(f"Installing hw11_utils from {pip_requirement(REPO_URL)} ...")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", pip_requirement(REPO_URL)],
                         capture_output=True, text=True)
    if pip.returncode != 0:
        print("\n".join((pip.stderr or pip.stdout).strip().splitlines()[-6:]))  # the end of pip's own message
        print(f"\nCould not install hw11_utils from {REPO_URL!r}. What to do:\n"
              "  - On Kaggle: turn the internet on (Settings > Internet), then run this cell again.\n"
              "  - Check the address: set the right one with `%env HW11_STUDENT_REPO_URL=<git URL or local folder>`\n"
              "    in a cell above this one, then run this cell again.\n"
              "  - On your own machine: in the cloned repository, run `pip install -r requirements.txt && pip install -e .`")
        raise ModuleNotFoundError("hw11_utils could not be installed: see the message above") from None
    importlib.invalidate_caches()

from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import display

import hw11_utils
from hw11_utils import checks
from hw11_utils.animation import adaptation_animation, episode_states
from hw11_utils.todos import describe, install_todo_hints, missing_todos, todos_done
from hw11_utils.evaluation import few_shot_table, print_table, score_reference_policies, summary_table
from hw11_utils.plots import plot_adaptation_curves, plot_learning_curves, plot_reference_policies, show_frames
from hw11_utils import ParameterizedCartPoleEnv, TaskDistribution
from hw11_utils.tasks import ADAPTIVE_FAMILIES, FAMILIES, Task

# The names the reference code of each section uses (the same imports as the course's modules).
# include-imports: solutions.common
# include-imports: solutions.maml
# include-imports: solutions.rl2
# include-imports: solutions.pearl
# include-imports: solutions.baselines

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
QUICK = os.environ.get("HW11_QUICK", "0") == "1"  # short runs: used by the autograder and CI
CHECKPOINTS = Path(hw11_utils.__file__).parent / "checkpoints"  # trained models shipped with hw11_utils
FIGURES_DIR = os.environ.get("HW11_FIGURES_DIR")  # if set, every figure is also saved there as PNG
NUM_EVAL_TASKS = 20 if QUICK else 200  # held-out tasks per evaluation
torch.manual_seed(0)
# CPU threads: torch's default (one per core) unless HW11_TORCH_THREADS is set. On a 2-core CPU the default ran
# this notebook in 200 s (one thread took 9-14% longer with the earlier GRU version of RL²); the count changes
# trained numbers slightly (the provided models were trained on one thread).
if device.type == "cpu" and os.environ.get("HW11_TORCH_THREADS"):
    torch.set_num_threads(int(os.environ["HW11_TORCH_THREADS"]))


def save_figure(fig, name: str) -> None:
    """Show a figure, and save it as FIGURES_DIR/name.png when FIGURES_DIR is set."""
    if FIGURES_DIR:
        Path(FIGURES_DIR).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(FIGURES_DIR) / f"{name}.png", dpi=120, bbox_inches="tight")
    plt.show()


install_todo_hints()  # a TODO that you have not written yet shows as one line that names it
print(f"device: {device}, QUICK: {QUICK}")

# %%
# Options you may change: load the provided trained models instead of training them yourself.
LOAD_PRETRAINED = os.environ.get("HW11_LOAD_PRETRAINED", "0") == "1"

# %% [markdown] role="readonly" grade_id="tasks_intro"
# ## 1. Task distributions over parameterised CartPole
#
# A **task** $\mathcal{T}$ is one CartPole MDP. `ParameterizedCartPoleEnv(task_params)` is the course's
# CartPole: its physics has a pole half-length $l$, a pole mass $m_p$, a cart mass $m_c$ and gravity $g$
# (defaults `pole_length=0.5`, `pole_mass=0.1`, `cart_mass=1.0`, `gravity=9.8`), and every step pays
#
# $$r_t = \big(1 - 0.1\,\lvert x_t\rvert - 0.1\,\lvert\theta_t\rvert\big)\cdot \texttt{reward\_scale},$$
#
# computed on the state after the step: staying upright and centred pays most. An episode ends when
# $\lvert x\rvert > 2.4$ or $\lvert\theta\rvert > 0.2095$ (about 12°), and is truncated after `max_steps = 200`
# steps; it starts from a state drawn from $U(-0.1, 0.1)^4$. A **task family** is a distribution
# $p(\mathcal{T})$: `TaskDistribution(task_type).param_ranges` lists the uniform ranges, and
# `sample_task()` returns a `ParameterizedCartPoleEnv` of a new task (its immutable value is `env.task`).
# Meta-RL trains on tasks $\mathcal{T}_i \sim p(\mathcal{T})$ and is judged on *new* tasks from the same
# distribution, after a little experience in each.
#
# | family | what varies (uniform ranges) | does the best behaviour change per task? |
# |---|---|---|
# | `pole_length` | `pole_length` $[0.3, 0.8]$ m, `reward_scale` $[0.8, 1.2]$ | no |
# | `mass` | `pole_mass` $[0.05, 0.2]$ kg, `cart_mass` $[0.8, 1.5]$ kg, `reward_scale` $[0.8, 1.2]$ | no |
# | `gravity` | `gravity` $[8, 12]$ m/s², `reward_scale` $[0.8, 1.2]$ | no |
# | `mixed` | `pole_length`, `pole_mass`, `gravity`, `reward_scale` (ranges as above) | no |
# | `flip` | the physics of `mixed`, and the push direction `action_sign` $= \pm 1$ with $p=\tfrac12$ | **yes**: identifiable from one push |
# | `target` | reward $r_t = e^{-\lvert x_t-x^\ast\rvert}\cdot$`reward_scale` for a hidden $x^\ast \in [-1.5, 1.5]$ m, `reward_scale` $[0.8, 1.2]$ | **yes**: identifiable only from rewards |
#
# The first four are the course's families; `flip` and `target` are built on the same environment.
# We score a policy by its **normalised return** $\bar R = \frac{1}{T\cdot\texttt{reward\_scale}}\sum_{t<T} r_t \le 1$
# over episodes of $T=200$ steps (after a fall the episode pays nothing more), and count an episode as a
# **success** when its return reaches `success_threshold` $=195$ in units of `reward_scale`.
#
# Three reference policies tell us what adaptation could gain:
# - **random**;
# - a **task-agnostic** controller: an LQR designed for the default task, which keeps the cart at $x=0$;
# - an **oracle** that is told the task.
#
# If the task-agnostic controller already scores like the oracle, no amount of meta-learning can help.

# %% role="readonly" grade_id="tasks_explore"
distribution = TaskDistribution("flip", rng=0)
print("flip's param_ranges:", distribution.param_ranges, "and choices:", distribution.param_choices)
flip_tasks = distribution.sample_tasks(6)
for env in sorted(flip_tasks, key=lambda env: env.task.action_sign)[::2]:  # both push directions
    print(env.params)
print("families:", FAMILIES, "| families that need adaptation:", ADAPTIVE_FAMILIES)

frames = [ParameterizedCartPoleEnv(task_params=t, render_mode="rgb_array") for t in
          ({}, {"pole_length": 0.8}, {"action_sign": -1.0}, {"target_x": 1.2})]
for env in frames:
    env.reset(seed=0)
fig = show_frames([env.render() for env in frames],
                  titles=["default task", "long pole", "flipped push (blue pole)", "target x*=1.2 (red line)"])
save_figure(fig, "tasks")

# %% [markdown] role="readonly" grade_id="draft_env_intro"
# The course's own test of the environment, as the instructors wrote it: three random tasks of each of
# the four course families, ten random actions each.

# %% role="readonly" grade_id="draft_env_test"
# Test the environment
print("Testing Parameterized CartPole Environment...")

# Test different task types
task_types = ['pole_length', 'mass', 'gravity', 'mixed']
for task_type in task_types:
    print(f"\nTesting {task_type} tasks:")
    task_dist = TaskDistribution(task_type)
    
    # Sample a few tasks
    for i in range(3):
        task = task_dist.sample_task()
        obs, _ = task.reset()
        
        # Run a few steps
        total_reward = 0
        for step in range(10):
            action = task.action_space.sample()
            obs, reward, terminated, truncated, _ = task.step(action)
            total_reward += reward
            
            if terminated or truncated:
                break
        
        print(f"  Task {i+1}: Reward = {total_reward:.2f}, Params = {task.params}")

print("\nEnvironment test completed!")

# %% role="readonly" grade_id="tasks_reference"
reference_scores = score_reference_policies(num_tasks=NUM_EVAL_TASKS, episodes=2 if QUICK else 4)
groups = {key: g["normalised_return"].to_numpy() for key, g in reference_scores.groupby(["family", "policy"])}
print_table(summary_table(groups, key_names=("family", "policy")), index="policy", columns="family",
            title=f"Reference policies on {NUM_EVAL_TASKS} held-out tasks per family (mean ± 95% CI)")
fig = plot_reference_policies(reference_scores, title="What could adaptation gain?")
save_figure(fig, "reference_policies")

# %% [markdown] role="readonly" grade_id="q_tasks_prompt"
# **Question 1 (3 points).** Quote from your table above the task-agnostic and the oracle scores
# (with their intervals) on `mass` and on `flip`, and the largest oracle − task-agnostic gap among the
# four course families. Explain the pattern you measured, and say what it means for the gain that MAML,
# RL² or PEARL can show on the course's four original families. What property must a task family have
# for meta-learning to be measurable?

# %% [markdown] role="answer" grade_id="q_tasks" points=3
# (Numbers of the solution run at the homework budget; a student quotes their own table.) On `mass` the
# task-agnostic LQR and the oracle both score ≈ 1.00 (intervals of width ≈ 0), and the largest gap over the
# four course families is ≈ 0; on `flip` the task-agnostic controller scores ≈ 0.5 (± ≈ 0.07) against the
# oracle's 1.00. The four physics families only change the pole's dynamics inside a range where a single feedback
# law (the nominal LQR, i.e. "push toward the side the pole leans") stabilises every task: the
# optimal *action* for a given state is the same in every task, so a robust task-agnostic policy is
# already optimal and adaptation has nothing to gain (≈ 0 by construction; any measured gain is noise).
# In `flip` the same state requires opposite actions in the two kinds of task, and in `target` the
# best position differs per task; a policy that ignores the task must average over them and gets
# ~0.5. Meta-learning is measurable only on a family whose optimal behaviour differs between tasks and
# where the task can be inferred from a little experience (a push reveals the sign; rewards reveal x*).

# %% [markdown] role="readonly" grade_id="maml_intro"
# ## 2. MAML: learning an initialisation that adapts in one step
#
# MAML (Finn et al., 2017) learns meta-parameters $\theta$ such that **one** policy-gradient step on a
# new task's own experience gives a good policy for that task. For each task $\mathcal{T}_i$ of a
# meta-batch:
#
# 1. **Inner step.** Sample trajectories $\mathcal{D}_i$ with $\pi_\theta$ and take a gradient step on
#    the REINFORCE loss
#    $$\mathcal{L}_{\mathcal{T}_i}(\theta;\mathcal{D}) = -\frac{1}{\sum_t m_t}\sum_{t} m_t \,\log\pi_\theta(a_t\mid s_t)\,\hat A_t,
#    \qquad \hat A_t = \mathrm{normalise}(G_t - b_t),$$
#    $$\theta_i' = \theta - \alpha\,\nabla_\theta \mathcal{L}_{\mathcal{T}_i}(\theta;\mathcal{D}_i).$$
#    Here $m_t$ masks the steps after a fall, and $b_t$ is a baseline: the mean return at step $t$
#    over the task's episodes.
# 2. **Outer (meta) step.** Sample new trajectories $\mathcal{D}_i'$ with the *adapted* policy
#    $\pi_{\theta_i'}$, then update the meta-parameters on the post-adaptation loss:
#    $$\theta \leftarrow \theta - \beta\,\nabla_\theta \frac1N\sum_i \mathcal{L}_{\mathcal{T}_i}\big(\theta_i'(\theta);\mathcal{D}_i'\big).$$
#
# The meta-gradient differentiates **through the inner step**. By the chain rule,
# $\nabla_\theta \mathcal{L}(\theta_i') = \big(I - \alpha \nabla^2_\theta \mathcal{L}(\theta;\mathcal{D}_i)\big)\,\nabla_{\theta'}\mathcal{L}(\theta_i';\mathcal{D}_i')$.
# The Hessian term is what makes MAML *second order*. Dropping it gives first-order MAML (FOMAML).
#
# **Two bugs to avoid.** Both were in this course's first draft.
# * Writing the adapted weights into the module with `param.data = param - lr * grad`. Autograd
#   cannot see `.data`, so the meta-gradient never reaches $\theta$, and the outer optimiser
#   silently updates nothing.
# * Adapting at meta-test time with a fresh `torch.optim.Adam` at every step. Adam's first step has
#   size `lr` in every coordinate, whatever the gradient, so it is not the inner update that MAML
#   meta-learned.
#
# Here, adapted parameters are **values**: a dict `name -> tensor` that we pass to
# `functional_forward(policy, params, obs)`, a thin wrapper of `torch.func.functional_call`.
#
# First, the return $G_t$, shared by every algorithm. Rollouts are tensors shaped
# `[tasks, episodes, time]`, with time last. The return restarts at every episode boundary:
# $$G_t = r_t + \gamma \, G_{t+1} \, (1 - d_t), \qquad G_T = 0,$$
# where $d_t = 1$ if step $t$ is the last step of an episode.

# %% role="solution" grade_id="discounted_returns"
# include: solutions.common.discounted_returns

# %% role="tests" grade_id="discounted_returns_tests" points=5
checks.check_discounted_returns(discounted_returns)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.discounted_returns(discounted_returns)
### END HIDDEN TESTS

# %% [markdown] role="readonly" grade_id="maml_given_intro"
# The given code below holds MAML's configuration, the meta-learned policy $\pi_\theta$ (an MLP
# with two actions) and two batching helpers. `per_task_feedforward` runs every task of a batch with
# *its own* adapted parameters, in one `torch.func.vmap` call. Read it, then write the four TODOs.

# %% role="readonly" grade_id="maml_given"
# include: solutions.maml.MAMLConfig

# include: solutions.maml.MAML_HOMEWORK
# include: solutions.maml.MAML_QUICK


# include: solutions.maml.MAMLPolicy


# include: solutions.maml.split_by_task


# include: solutions.maml.per_task_feedforward

# %% role="solution" grade_id="inner_loss"
# include: solutions.maml.inner_loss

# %% role="tests" grade_id="inner_loss_tests" points=5
checks.check_inner_loss(inner_loss)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.inner_loss(inner_loss)
### END HIDDEN TESTS

# %% role="solution" grade_id="inner_step"
# include: solutions.maml.inner_step

# %% role="tests" grade_id="inner_step_tests" points=7
checks.check_inner_step(inner_step)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.inner_step(inner_step)
### END HIDDEN TESTS

# %% role="solution" grade_id="meta_loss"
# include: solutions.maml.meta_loss

# %% role="tests" grade_id="meta_loss_tests" points=6
checks.check_meta_loss(meta_loss)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.meta_loss(meta_loss)
### END HIDDEN TESTS

# %% role="solution" grade_id="adapt"
# include: solutions.maml.adapt

# %% role="tests" grade_id="adapt_tests" points=5
checks.check_adapt(adapt)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.adapt(adapt)
### END HIDDEN TESTS

# %% [markdown] role="readonly" grade_id="maml_train_intro"
# ### Meta-training
# The given loop samples a meta-batch of `flip` tasks, collects pre-update episodes with
# $\pi_\theta$, adapts with your `inner_step`, collects post-update episodes with the adapted
# policies, and takes an Adam step on your `meta_loss`. The held-out evaluation uses your `adapt`.

# %% role="readonly" grade_id="maml_train_given"
# include: solutions.maml.meta_step


# include: solutions.maml.multi_step_meta_loss


# include: solutions.maml.train_maml


# include: solutions.maml.maml_adaptation_curve


# include: solutions.maml.save_maml


# include: solutions.maml.load_maml

# %% role="tests" grade_id="maml_training_tests" points=2
# Hidden test: a short, seeded meta-training run of the given loop with YOUR functions must learn to adapt:
# after it, one adaptation step must raise the return on held-out flip tasks. The training cell below shows
# the same thing at the full budget.
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.maml_training(inner_step, meta_loss)
### END HIDDEN TESTS

# %% [markdown] role="readonly" grade_id="maml_agent_intro"
# ### The course's MAML API: `PolicyNetwork` and `MAMLAgent`
# The course's first draft had a `MAMLAgent` class. Here it is again, with the same methods and
# arguments, built on your functions: `meta_update(tasks)` is one `meta_step` (the meta-gradient
# reaches `meta_network` through your `inner_step`), and `adapt_to_task(task, k)` runs your `adapt`
# (k explicit inner steps, no optimiser). Tasks are the environments that `TaskDistribution.sample_tasks`
# returns. Below the class is the draft's own test, unchanged (with `inner_lr=0.01` one step barely
# moves the policy: it tests the plumbing, not the learning).

# %% role="readonly" grade_id="maml_agent_given"
# include: solutions.maml.PolicyNetwork


# include: solutions.maml.MAMLAgent


# The draft's test below stores its result in the name `meta_loss`: keep your function under a second name.
meta_loss_function = meta_loss

# %% role="readonly" grade_id="draft_maml_test"
# Test MAML implementation
print("Testing MAML Implementation...")

# Create task distribution
task_dist = TaskDistribution('pole_length')
state_dim = 4  # CartPole state dimension
action_dim = 2  # CartPole action dimension

# Create MAML agent
maml_agent = MAMLAgent(state_dim, action_dim, meta_lr=0.001, inner_lr=0.01)

# Test meta-update
print("Testing meta-update...")
tasks = task_dist.sample_tasks(4)
meta_loss = maml_agent.meta_update(tasks)
print(f"Meta-loss: {meta_loss:.4f}")

# Test adaptation
print("Testing task adaptation...")
new_task = task_dist.sample_task()
adapted_network = maml_agent.adapt_to_task(new_task, num_adaptation_steps=3)

# Test adapted network
obs, _ = new_task.reset()
state_tensor = torch.FloatTensor(obs).unsqueeze(0)
action, value = adapted_network.get_action(state_tensor)
print(f"Adapted network action: {action.item()}, value: {value.item():.4f}")

print("MAML test completed!")

# %% role="readonly" grade_id="draft_maml_restore"
meta_loss = meta_loss_function  # the name is your function again: the given training code calls it by name

# %%
maml_config = MAML_QUICK if QUICK else MAML_HOMEWORK
maml_model = maml_history = None
if LOAD_PRETRAINED:
    maml_model = load_maml(str(CHECKPOINTS / "maml_flip.pt"))
elif todos_done(globals(), "train_maml", doing="MAML's meta-training"):
    maml_model, maml_history = train_maml(maml_config, seed=0, device=device)
    fig = plot_learning_curves({"MAML (post-adaptation)": maml_history}, title="MAML on flip: meta-training")
    save_figure(fig, "maml_learning_curve")

if maml_model is not None and todos_done(globals(), "maml_adaptation_curve", doing="MAML's held-out evaluation"):
    maml_curve = maml_adaptation_curve(maml_model, meta_test_tasks("flip", n=NUM_EVAL_TASKS), device=device)
    print("MAML on held-out flip tasks, normalised return after 0, 1, 2, 3 inner steps:",
          maml_curve.mean(axis=0).round(3))

# %% [markdown] role="readonly" grade_id="maml_steps_note"
# **Why the curve dips after the first step.** MAML was meta-trained for *one* inner step: $\theta$ is
# an initialisation from which one step of size $\alpha = 2$ (on normalised advantages) lands on a good
# policy. A second and third step of the same size start from that adapted policy, which MAML never
# optimised for, and overshoot a little (with the provided model: 0.98 after one step, 0.94 after
# three). Meta-training through several steps fixes that: `MAMLConfig(inner_steps=3)` differentiates
# the meta-loss through three inner steps (`multi_step_meta_loss`), and in our run its curve kept rising
# with every step, from a lower first step. Try it if you have a few spare minutes:
# `train_maml(dataclasses.replace(MAML_HOMEWORK, inner_steps=3))`.

# %% [markdown] role="readonly" grade_id="maml_data_intro"
# **An experiment for Question 2(a).** The cell below takes one meta-update of a fresh `MAMLAgent` on four
# `flip` tasks twice: with your `inner_step`, and with a copy of it whose adapted weights are cut from
# $\theta$, exactly what `param.data = param - inner_lr * grad` does. It prints how far each update moved $\theta$.

# %% role="readonly" grade_id="maml_data_experiment"
if todos_done(globals(), "train_maml", doing="the meta-gradient experiment"):
    your_inner_step = inner_step

    def inner_step_with_data_writes(policy, params, *args, **kwargs):
        """Your inner step, with the adapted weights cut from theta (what `.data = ...` writes do)."""
        return {name: value.detach().requires_grad_() for name, value in
                your_inner_step(policy, params, *args, **kwargs).items()}

    experiment_tasks = meta_train_tasks("flip", n=4, seed=1)
    try:
        for label, inner_step in (("your inner_step", your_inner_step), ("`.data` writes", inner_step_with_data_writes)):
            torch.manual_seed(0)  # the same initial theta for both
            agent = MAMLAgent(4, 2, meta_lr=1e-3, inner_lr=0.5, seed=0)
            before = torch.cat([p.detach().flatten().clone() for p in agent.meta_network.policy.parameters()])
            agent.meta_update(experiment_tasks)
            after = torch.cat([p.detach().flatten() for p in agent.meta_network.policy.parameters()])
            print(f"one meta-update with {label:16s}: |theta_new - theta| = {(after - before).norm():.3e}")
    finally:
        inner_step = your_inner_step  # the given code calls your function by this name

# %% [markdown] role="readonly" grade_id="q_maml_prompt"
# **Question 2 (3 points).** (a) Report the two distances that the experiment cell printed. Explain the
# second one with the chain rule: what is the gradient of the meta-loss with respect to $\theta$ when the
# adapted weights are written with `.data`, and what would happen to the policy over a whole
# meta-training run? (b) From your MAML evaluation above, report the held-out `flip` return before
# adaptation and after one inner step, and compare them with the task-agnostic controller's score in your
# section 1 table. Why can a pre-adaptation policy that is *worse* than the task-agnostic one be a good
# initialisation for MAML?

# %% [markdown] role="answer" grade_id="q_maml" points=3
# (a) In the solution run, one meta-update with a correct `inner_step` moved θ by 5.8e-2 (Adam at lr 1e-3
# over a few thousand weights); with `.data` writes it moved θ by exactly 0.
# `.data` writes bypass autograd: the adapted weights are leaves with no history, so the
# post-update loss has no path back to θ. Its meta-gradient is zero (or only the direct term if the
# module's parameters are reused), the outer Adam step changes nothing, and meta-training silently
# does not learn to adapt. (b) In the solution run (provided model), MAML scores ≈ 0.11 before adaptation
# and ≈ 0.98 after one step, against ≈ 0.5 for the task-agnostic controller. MAML optimises the return *after* one inner step, not before. A
# pre-update policy that pushes in a consistent, informative way makes the sign of the task visible
# in its rollouts, and puts θ where one large gradient step moves the policy to the correct
# balancing controller for *either* sign; a policy that already balances half of the tasks would be
# a worse starting point for the other half.

# %% [markdown] role="readonly" grade_id="rl2_intro"
# ## 3. RL²: a recurrent policy as the learning algorithm
#
# RL² (Duan et al., 2016; Wang et al., 2016) gives a recurrent policy everything it needs to learn
# *inside its hidden state*. At every step the recurrent network (here an LSTM) sees
# $$x_t = \big[\,s_t,\ \mathrm{onehot}(a_{t-1}),\ r_{t-1},\ d_{t-1}\,\big],$$
# that is, the observation plus the previous action, the previous reward, and an "episode just
# ended" flag.
#
# A **trial** is $E$ consecutive episodes of the *same* task. The hidden state (for an LSTM the pair
# $(h_t, c_t)$, which the given network keeps side by side in one tensor) is **carried
# across the episode boundaries** of a trial; that is how what the agent learned in episode 1 helps in
# episode 2. It is **reset to zero between trials**, because a new trial is a new task.
#
# The policy is trained with PPO to maximise the return of the whole trial,
# $\mathbb{E}\big[\sum_{e=1}^{E}\sum_{t} r^{(e)}_t\big]$, so it is rewarded for exploring early if
# that pays off later. At meta-test time there are no gradient steps at all: adaptation is just
# running the LSTM forward.
#
# The sampler in `hw11_utils.rollouts` calls a *policy function* once per time step with a
# `StepInput`: the observation, the previous action, reward and done flag, and `state`, which is
# whatever the policy returned at the previous step (`None` at the start of a trial). What the
# policy does with its state across episode boundaries is up to you.
#
# On `target` the task shows only in how the reward changes from step to step, by a few hundredths.
# The given network can amplify the reward entry of $x_t$ before the LSTM (`RL2Config.reward_input_gain`,
# a fixed factor inside `make_rl2_core`'s network; your `rl2_inputs` stays as specified): the provided
# `target` checkpoint uses 10, and without it RL² did not learn to use the reward at all.

# %% role="readonly" grade_id="rl2_given"
# include: solutions.rl2.RL2Config

# include: solutions.rl2.RL2_QUICK
# include: solutions.rl2.RL2_HOMEWORK


# include: solutions.rl2.make_rl2_core

# %% role="solution" grade_id="rl2_inputs"
# include: solutions.rl2.rl2_inputs

# %% role="tests" grade_id="rl2_inputs_tests" points=4
checks.check_rl2_inputs(rl2_inputs)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.rl2_inputs(rl2_inputs)
### END HIDDEN TESTS

# %% role="solution" grade_id="rl2_policy_step"
# include: solutions.rl2.rl2_policy_step

# %% role="tests" grade_id="rl2_policy_step_tests" points=7
checks.check_rl2_policy_step(rl2_policy_step)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.rl2_policy_step(rl2_policy_step)
### END HIDDEN TESTS

# %% role="solution" grade_id="rl2_trial_forward"
# include: solutions.rl2.rl2_trial_forward

# %% role="tests" grade_id="rl2_trial_forward_tests" points=6
checks.check_rl2_trial_forward(rl2_trial_forward)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.rl2_trial_forward(rl2_trial_forward)
### END HIDDEN TESTS

# %% role="solution" grade_id="rl2_loss"
# include: solutions.rl2.rl2_loss

# %% role="tests" grade_id="rl2_loss_tests" points=5
checks.check_rl2_loss(rl2_loss)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.rl2_loss(rl2_loss)
### END HIDDEN TESTS

# %% [markdown] role="readonly" grade_id="rl2_train_intro"
# ### Training RL² with PPO on whole trials
# Every iteration samples a batch of trials, each on its own meta-training task, with your
# `rl2_policy_step`. It computes GAE advantages over the whole trial, then takes PPO steps on your
# `rl2_loss`, using the logits of your `rl2_trial_forward`.

# %% role="readonly" grade_id="rl2_train_given"
# include: solutions.rl2.rl2_policy


# include: solutions.rl2.trial_advantages


# include: solutions.rl2.select_trials


# include: solutions.rl2.train_rl2


# include: solutions.rl2.rl2_adaptation_curve


# include: solutions.rl2.save_rl2


# include: solutions.rl2.load_rl2

# %% role="tests" grade_id="rl2_training_tests" points=2
# Hidden test: a short, seeded PPO training run of the given loop with YOUR functions must learn to adapt:
# it must balance the held-out flip tasks of both action signs, which a policy without memory cannot. The
# training cell below shows the same thing at the full budget.
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.rl2_training(rl2_policy_step, rl2_trial_forward, rl2_loss)
### END HIDDEN TESTS

# %%
rl2_config = RL2_QUICK if QUICK else RL2_HOMEWORK
rl2_model = rl2_history = None
if LOAD_PRETRAINED:
    rl2_model = load_rl2(str(CHECKPOINTS / "rl2_flip.pt"))
elif todos_done(globals(), "train_rl2", doing="RL²'s training"):
    rl2_model, rl2_history = train_rl2(rl2_config, "flip", seed=0, device=device)
    fig = plot_learning_curves({"RL²": rl2_history}, title="RL² on flip: PPO on trials")
    save_figure(fig, "rl2_learning_curve")

if rl2_model is not None and todos_done(globals(), "rl2_adaptation_curve", doing="RL²'s held-out evaluation"):
    rl2_curve = rl2_adaptation_curve(rl2_model, meta_test_tasks("flip", n=NUM_EVAL_TASKS), device=device)
    print("RL² on held-out flip tasks, normalised return of episodes 1-4 of a trial:",
          rl2_curve.mean(axis=0).round(3))

# %% [markdown] role="readonly" grade_id="q_rl2_prompt"
# **Question 3 (3 points).** Suppose `rl2_policy_step` resets the hidden state whenever
# `prev_done == 1`. Which numbers in the adaptation curve would change, and why? On `target`, the
# reward reveals $x^\ast$ only through $e^{-|x-x^\ast|}$. Why does RL² have to *explore* in the first
# episode, and what in its training objective rewards it for doing so?

# %% [markdown] role="answer" grade_id="q_rl2" points=3
# With a reset at every episode boundary, each episode starts from a blank memory: episode 2, 3, ...
# would score like episode 1 (a flat curve, no gain from context), and training could only learn a
# within-episode adaptation. On `target`, one reward value gives |x − x*| but not the side, so the
# agent must move the cart (and see whether the reward rises or falls) to locate x*; that costs
# reward in the first episode. RL² maximises the return of the *whole trial*, so information gathered
# in episode 1 that raises the returns of episodes 2..E is credited through the carried hidden state
# and the trial-long advantages: exploration is learned because it pays later in the same trial.

# %% [markdown] role="readonly" grade_id="pearl_intro"
# ## 4. PEARL: probabilistic context embeddings
#
# PEARL (Rakelly et al., 2019) separates *inferring the task* from *acting*. A context encoder
# $\phi$ maps each transition $c_n = (s_n, a_n, r_n, s'_n)$ of the current task to a Gaussian factor
# $\Psi_\phi(z \mid c_n) = \mathcal{N}(\mu_n, \sigma_n^2)$. The posterior over the task latent is
# their **product**:
# $$q_\phi(z \mid c_{1:N}) \propto \prod_{n=1}^N \mathcal{N}(z;\mu_n,\sigma_n^2)
#   = \mathcal{N}\!\Big(\sigma^2 \sum_n \frac{\mu_n}{\sigma_n^2},\ \sigma^2\Big),\qquad
#   \sigma^2 = \Big(\sum_n \sigma_n^{-2}\Big)^{-1}.$$
# The product is permutation invariant: the order of the context does not matter. It also sharpens
# as evidence accumulates, because every factor adds precision. Averaging the means would do
# neither: ten identical observations would leave the variance where one left it.
#
# The encoder is regularised towards the prior with
# $\mathrm{KL}\big(\mathcal{N}(\mu,\sigma^2)\,\|\,\mathcal{N}(0,I)\big) = \tfrac12\sum_j\big(\mu_j^2+\sigma_j^2-\log\sigma_j^2-1\big)$.
# The latent is sampled as $z = \mu + \sigma\odot\varepsilon$ (the reparameterisation trick), so the
# critic's loss can train the encoder.
#
# The agent is a **soft actor-critic for discrete actions** conditioned on $z$. With twin critics
# and target critics $\bar Q_j$:
# $$y = r + \gamma(1-d)\,\textstyle\sum_{a'}\pi(a'\mid s',z)\big(\min_j \bar Q_j(s',z)_{a'} - \alpha\log\pi(a'\mid s',z)\big),
# \qquad \mathcal{L}_Q = \textstyle\sum_j \mathbb{E}\big[(Q_j(s,z)_a - y)^2\big],$$
# $$\mathcal{L}_\pi = \mathbb{E}\Big[\textstyle\sum_a \pi(a\mid s,z)\big(\alpha\log\pi(a\mid s,z) - \min_j Q_j(s,z)_a\big)\Big].$$
#
# At meta-test time PEARL explores by **posterior sampling**. The first episode acts on $z$ drawn
# from the prior. After each episode, the context collected so far gives a sharper posterior to
# sample from. (`PEARLConfig.exploration_scale` $= s$ widens that first draw to $\mathcal{N}(0, s^2 I)$.)
#
# A random first hypothesis is not always an informative one. On `target` a transition's reward
# $e^{-|x - x^*|}$ says how far $x^*$ is, not on which side, unless the cart is far out on the track. So the
# homework configs choose the first episode's $z$ once, after meta-training (`choose_exploration_latent`):
# among 64 draws of $\mathcal{N}(0, s^2 I)$, the one after which the agent adapts best on meta-*training*
# tasks (episodes 2-4 of the meta-test protocol; episode 1's own return does not count). Every held-out task
# then starts with that $z$: a small piece of *learned* exploration on top of posterior sampling.

# %% role="readonly" grade_id="pearl_given"
# include: solutions.pearl.PEARLConfig

# include: solutions.pearl.PEARL_QUICK
# include: solutions.pearl.PEARL_HOMEWORK


# include: solutions.pearl.PEARLAgent


# include: solutions.pearl.latent_policy

# %% role="solution" grade_id="product_of_gaussians"
# include: solutions.pearl.product_of_gaussians

# %% role="tests" grade_id="product_of_gaussians_tests" points=6
checks.check_product_of_gaussians(product_of_gaussians)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.product_of_gaussians(product_of_gaussians)
### END HIDDEN TESTS

# %% role="solution" grade_id="kl_to_standard_normal"
# include: solutions.pearl.kl_to_standard_normal

# %% role="tests" grade_id="kl_to_standard_normal_tests" points=3
checks.check_kl_to_standard_normal(kl_to_standard_normal)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.kl_to_standard_normal(kl_to_standard_normal)
### END HIDDEN TESTS

# %% role="solution" grade_id="infer_posterior"
# include: solutions.pearl.infer_posterior

# %% role="tests" grade_id="infer_posterior_tests" points=5
checks.check_infer_posterior(infer_posterior)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.infer_posterior(infer_posterior)
### END HIDDEN TESTS

# %% role="solution" grade_id="sample_latent"
# include: solutions.pearl.sample_latent

# %% role="tests" grade_id="sample_latent_tests" points=3
checks.check_sample_latent(sample_latent)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.sample_latent(sample_latent)
### END HIDDEN TESTS

# %% role="solution" grade_id="sac_critic_loss"
# include: solutions.pearl.sac_critic_loss

# %% role="tests" grade_id="sac_critic_loss_tests" points=4
checks.check_sac_critic_loss(sac_critic_loss)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.sac_critic_loss(sac_critic_loss)
### END HIDDEN TESTS

# %% role="solution" grade_id="sac_actor_loss"
# include: solutions.pearl.sac_actor_loss

# %% role="tests" grade_id="sac_actor_loss_tests" points=4
checks.check_sac_actor_loss(sac_actor_loss)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.sac_actor_loss(sac_actor_loss)
### END HIDDEN TESTS

# %% [markdown] role="readonly" grade_id="pearl_train_intro"
# ### Meta-training PEARL
# Data is collected from many meta-training tasks at once into per-task replay buffers. Each
# update infers every task's posterior from a batch of its own context with your
# `infer_posterior`, samples $z$ with your `sample_latent`, and trains the critics with your
# `sac_critic_loss` plus $\beta\cdot$ your KL; gradients from the critic train the encoder. The
# actor is trained with your `sac_actor_loss`, with $z$ detached.

# %% role="readonly" grade_id="pearl_train_given"
# include: solutions.pearl.MultiTaskReplay


# include: solutions.pearl.batch_context


# include: solutions.pearl.posterior_from_batch


# include: solutions.pearl.collect


# include: solutions.pearl.sac_update


# include: solutions.pearl.make_pearl_optimizers


# include: solutions.pearl.train_pearl


# include: solutions.pearl.pearl_adaptation_curve


# include: solutions.pearl.EncodedContext


# include: solutions.pearl.choose_exploration_latent


# include: solutions.pearl.save_pearl


# include: solutions.pearl.load_pearl

# %% role="tests" grade_id="pearl_training_tests" points=2
# Hidden test: a short, seeded meta-training run of the given loop with YOUR functions must learn to infer
# the task: on held-out flip tasks, z inferred from the task's own episode must beat z inferred from another
# task's episode. The training cell below shows the same thing at the full budget.
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.pearl_training(infer_posterior, sample_latent, kl_to_standard_normal, sac_critic_loss, sac_actor_loss)
### END HIDDEN TESTS

# %%
pearl_config = PEARL_QUICK if QUICK else PEARL_HOMEWORK
pearl_model = pearl_history = None
if LOAD_PRETRAINED:
    pearl_model = load_pearl(str(CHECKPOINTS / "pearl_flip.pt"))
elif todos_done(globals(), "train_pearl", doing="PEARL's meta-training"):
    pearl_model, pearl_history = train_pearl(pearl_config, "flip", seed=0, device=device)
    fig = plot_learning_curves({"PEARL": pearl_history}, title="PEARL on flip: meta-training")
    save_figure(fig, "pearl_learning_curve")

if pearl_model is not None and todos_done(globals(), "pearl_adaptation_curve", doing="PEARL's held-out evaluation"):
    pearl_curve = pearl_adaptation_curve(pearl_model, meta_test_tasks("flip", n=NUM_EVAL_TASKS), device=device)
    print("PEARL on held-out flip tasks, normalised return of episodes 1-4:", pearl_curve.mean(axis=0).round(3))

# %% [markdown] role="readonly" grade_id="pearl_posterior_intro"
# **An experiment for Question 4(a).** The cell below plays one episode with $z = 0$ in each of eight held-out
# `flip` tasks, then infers the posterior with your `infer_posterior` from the first $n$ transitions of
# each task's episode, and once more from all of them in a shuffled order.

# %% role="readonly" grade_id="pearl_posterior_experiment"
if pearl_model is not None and todos_done(globals(), "infer_posterior", doing="the posterior experiment"):
    posterior_tasks = meta_test_tasks("flip", n=8)
    latent = torch.zeros(len(posterior_tasks), 1, pearl_model.latent_dim, device=device)
    posterior_batch = collect(pearl_model, posterior_tasks, latent, 1, seed=0)
    context, context_mask = batch_context(pearl_model, posterior_batch, device)
    with torch.no_grad():
        for n in (1, 5, 25, 100):
            first_n = context_mask.clone()
            first_n[:, n:] = 0.0
            mu, var = infer_posterior(pearl_model.encoder, context, first_n, pearl_model.config.min_variance)
            print(f"{n:3d} transitions: mean posterior variance {var.mean():.2e}")
        mu, var = infer_posterior(pearl_model.encoder, context, context_mask, pearl_model.config.min_variance)
        order = torch.randperm(context.shape[1], generator=torch.Generator().manual_seed(0))
        mu_shuffled, var_shuffled = infer_posterior(pearl_model.encoder, context[:, order], context_mask[:, order],
                                                    pearl_model.config.min_variance)
    print(f"all transitions, shuffled: largest change of the mean {(mu - mu_shuffled).abs().max():.1e}, "
          f"of the variance {(var - var_shuffled).abs().max():.1e}")

# %% [markdown] role="readonly" grade_id="q_pearl_prompt"
# **Question 4 (3 points).** (a) Report what the posterior experiment printed: the mean posterior
# variance after 1, 5, 25 and 100 transitions, and how much the posterior changed when the context was
# shuffled. Explain both measurements from the formula of the product of Gaussians, and say what the
# variance column would look like if the posterior *averaged* the factors' variances instead. (b) Posterior
# sampling's first meta-test episode acts on $z$ from the prior. Why is that a sensible way to explore on `flip`,
# and why is it a weaker strategy on `target` than RL²'s learned exploration? What does `choose_exploration_latent`
# learn, and what can it not learn that RL² can?

# %% [markdown] role="answer" grade_id="q_pearl" points=3
# (a) In the solution run the mean variance fell from ≈ 2.4 (1 transition) to ≈ 0.51 (5), ≈ 0.27 (25) and
# ≈ 0.24 (100): fast at first, then slowly, because later transitions of a balanced cart carry little new
# information (factors with large σ_n² add little precision). Shuffling changed the posterior only by
# float rounding (≈ 5e-7 in the mean). The posterior's precision is Σ_n σ_n⁻² and its mean is σ² Σ_n μ_n/σ_n²: both are sums over the
# context, which do not depend on order, and each added factor adds positive precision, so σ² can
# only shrink. An average keeps the variance at the typical factor's variance however much evidence
# arrives (the variance column would stay flat), so the agent never becomes confident, and it weights
# uncertain and certain transitions equally. (b) On `flip` a prior sample is a plausible hypothesis ("sign +1" or "sign −1"); acting on
# it for one episode immediately produces transitions that reveal the true sign, so the posterior
# collapses on the right task. On `target`, acting optimally for a sampled x* only tests that one
# hypothesis (and only a little about the others); posterior sampling does not plan information
# gathering, while RL² can learn a deliberate sweep that locates x* in one episode.
# `choose_exploration_latent` learns *one* good first episode for the whole family (on `target`: drive far
# out, where a reward leaves no doubt about the side of x*), chosen by how well the agent adapts after it
# on meta-training tasks. It cannot react to what it observes during that episode, as RL²'s recurrent
# policy can, and it only chooses among behaviours the policy already has for some z.

# %% [markdown] role="readonly" grade_id="fewshot_intro"
# ## 5. Few-shot adaptation on held-out tasks
#
# The protocol: on **held-out** meta-test tasks (200 at the default budget), measure the normalised
# return after $k = 0, 1, 2, 3$ *adaptation units*. For MAML and fine-tuning a unit is an inner
# gradient step; for RL² and PEARL it is an episode of experience. Report the mean with a 95%
# confidence interval over tasks. Units are not equal amounts of experience: one MAML step uses 20
# episodes of 50 steps (1000 env steps of the new task), one fine-tuning step, RL² episode or PEARL
# episode uses 200. The plots therefore put every method on one axis, the **env steps of experience
# in the new task**.
#
# The same protocol runs the baselines:
# - a **task-agnostic** policy: one PPO policy trained on the whole family;
# - **fine-tuning**: that policy, adapted with ordinary policy-gradient steps on the new task;
# - a task-conditioned **oracle**, which is told the task.
#
# The given code below loads the provided trained baselines. In `QUICK` mode, or with
# `LOAD_PRETRAINED`, this section evaluates the provided models trained at the homework budget, so
# the comparison means something. Otherwise it evaluates the models you trained above.
#
# A method whose TODOs are not finished yet is left out of the tables, and a line says what to finish;
# the baselines need none of your code.
#
# Two methods evaluated on the *same* tasks should be compared **task by task**. The paired
# differences $d_i = a_i - b_i$ remove the task-to-task variation that both methods share, which
# gives a much tighter interval than comparing two independent means. With several training seeds
# (curves `[seeds, tasks, units + 1]`), the tasks of one seed share that seed's trained model: average
# the differences over the tasks within each seed, and take the interval over the seed means, so that
# it includes the seed-to-seed variation.

# %% role="solution" grade_id="paired_difference"
# include: solutions.common.paired_difference

# %% role="tests" grade_id="paired_difference_tests" points=4
checks.check_paired_difference(paired_difference)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.paired_difference(paired_difference)
### END HIDDEN TESTS

# %% role="readonly" grade_id="baselines_given"
# include: solutions.baselines.METHODS

# include: solutions.baselines.BaselineConfig

# include: solutions.baselines.BASELINE_HOMEWORK


# include: solutions.baselines.ActorCritic


# include: solutions.baselines.policy_inputs


# include: solutions.baselines.task_features


# include: solutions.baselines.model_policy


# include: solutions.baselines.batch_advantages


# include: solutions.baselines.evaluate


# include: solutions.baselines.per_task_policy


# include: solutions.baselines.finetune_curve


# include: solutions.baselines.baseline_adaptation_curve


# include: solutions.baselines.load_baseline

# %%
# Every method whose TODOs are finished gets a row; the baselines need none of your code.
use_provided = QUICK or LOAD_PRETRAINED
META_METHODS = {  # method -> (its adaptation curve, the trained model of this notebook, the provided checkpoints)
    "MAML": ("maml_adaptation_curve", globals().get("maml_model"), {"flip": "maml_flip.pt"}),
    "RL²": ("rl2_adaptation_curve", globals().get("rl2_model"), {f: f"rl2_{f}.pt" for f in ADAPTIVE_FAMILIES}),
    "PEARL": ("pearl_adaptation_curve", globals().get("pearl_model"), {f: f"pearl_{f}.pt" for f in ADAPTIVE_FAMILIES}),
}
LOADERS = {"MAML": load_maml, "RL²": load_rl2, "PEARL": load_pearl}
ready_methods = [m for m, (curve_name, _, _) in META_METHODS.items() if not missing_todos(globals(), [curve_name])]
for method, (curve_name, _, _) in META_METHODS.items():
    if method not in ready_methods:
        print(f"{method} is not in the tables yet: finish {describe(missing_todos(globals(), [curve_name]))}.")


def fewshot_model(method: str, family: str):
    """The model a method is evaluated with: yours (trained on flip above), else the provided one."""
    _, trained, checkpoints = META_METHODS[method]
    if family == "flip" and trained is not None and not use_provided:
        return trained
    return LOADERS[method](str(CHECKPOINTS / checkpoints[family]))


fewshot_curves, fewshot_tasks = {}, {}
for family in ADAPTIVE_FAMILIES:
    tasks = meta_test_tasks(family, n=NUM_EVAL_TASKS)
    agnostic = load_baseline(str(CHECKPOINTS / f"baseline_agnostic_{family}.pt"))
    oracle = load_baseline(str(CHECKPOINTS / f"baseline_oracle_{family}.pt"))
    curves = {
        "task-agnostic": baseline_adaptation_curve(agnostic, tasks, device=device),
        "fine-tuning": baseline_adaptation_curve(agnostic, tasks, device=device, method="finetune"),
        "oracle": baseline_adaptation_curve(oracle, tasks, device=device),
    }
    # env steps of new-task experience one unit consumes: the common axis of the plot
    steps_per_unit = {"task-agnostic": 0, "oracle": 0, "fine-tuning": 200 * agnostic.config.finetune_episodes}
    for method in ready_methods:
        curve_name, _, checkpoints = META_METHODS[method]
        if family in checkpoints:
            model = fewshot_model(method, family)
            curves[method] = globals()[curve_name](model, tasks, device=device)
            steps_per_unit[method] = (model.config.inner_episodes * model.config.inner_episode_length
                                      if method == "MAML" else 200)
    fewshot_curves[family], fewshot_tasks[family] = curves, tasks
    table = few_shot_table({name: curve[None] for name, curve in curves.items()}, steps_per_unit=steps_per_unit)
    print_table(table, title=f"{family}: normalised return after k adaptation units "
                f"({len(tasks)} held-out tasks, mean ± 95% CI); env steps per unit: {steps_per_unit}")
    fig = plot_adaptation_curves(table, title=f"Few-shot adaptation on held-out {family} tasks")
    save_figure(fig, f"adaptation_{family}")

# The control case: a course family where one robust policy already solves every task.
if "MAML" in ready_methods:
    mass_tasks = meta_test_tasks("mass", n=NUM_EVAL_TASKS)
    mass_curve = maml_adaptation_curve(load_maml(str(CHECKPOINTS / "maml_mass.pt")), mass_tasks, device=device)
    print("MAML on held-out mass tasks after 0..3 inner steps:", mass_curve.mean(axis=0).round(3),
          "(adaptation gains nothing: the task-agnostic policy is already optimal)")

# %%
if todos_done(globals(), "paired_difference", doing="the paired comparison"):
    for family, curves in fewshot_curves.items():
        for method in ("RL²", "PEARL", "MAML"):
            if method in curves:
                mean, half_width = paired_difference(curves[method], curves["task-agnostic"], unit=1)
                print(f"{family}: {method} − task-agnostic after 1 unit: {mean:+.3f} ± {half_width:.3f}")


# %% [markdown] role="readonly" grade_id="fewshot_animation_intro"
# ### What adaptation does
# The animation below plays one `flip` task and one `target` task (the red line marks the hidden $x^\ast$; a blue
# pole means the push is flipped). For each method, the left episode is *before* adaptation: MAML's $\theta$,
# the first episode of RL²'s and PEARL's trials. The right one is *after* one unit: MAML after one inner
# step on the task, RL² and PEARL in the second episode, with one episode of context. Press play.

# %% role="readonly" grade_id="fewshot_animation"
def before_after_states(method: str, model, task, seed: int = 0) -> tuple:
    """The states of one episode before and one after one adaptation unit of ``method`` in ``task``."""
    if method == "MAML":
        config, theta = model.config, param_dict(model.policy)
        adapted = adapt(model.policy, theta, [task], 1, config.inner_lr, config.gamma, config.inner_episodes,
                        config.inner_episode_length, seed=seed)[0]
        return tuple(episode_states(sample_rollouts(per_task_feedforward(model.policy, [params], 1), [task], 1,
                                                    200, seed=seed + 1000)) for params in (theta, adapted))
    if method == "RL²":
        with torch.no_grad():
            trial = sample_rollouts(rl2_policy(model), [task], 2, episode_length=200, seed=seed, carry_state=True)
        return episode_states(trial, episode=0), episode_states(trial, episode=1)
    generator = torch.Generator().manual_seed(seed)  # PEARL: the first episode's z, then z from the posterior
    first_z = sample_latent(torch.zeros(1, model.latent_dim),
                            torch.full((1, model.latent_dim), model.config.exploration_scale**2), generator)
    if model.exploration_z is not None:  # chosen on meta-training tasks (choose_exploration_latent)
        first_z = model.exploration_z.unsqueeze(0)
    first = collect(model, [task], first_z.unsqueeze(1).to(device), 1, seed=seed, greedy=model.config.greedy_evaluation)
    mu, var = posterior_from_batch(model, first, device)
    posterior_z = sample_latent(mu.cpu(), var.cpu(), generator)
    second = collect(model, [task], posterior_z.unsqueeze(1).to(device), 1, seed=seed + 1,
                     greedy=model.config.greedy_evaluation)
    return episode_states(first), episode_states(second)


for family, tasks in fewshot_tasks.items():
    task = next((t for t in tasks if t.action_sign < 0), tasks[0]) if family == "flip" else tasks[0]
    rows = {method: before_after_states(method, fewshot_model(method, family), task)
            for method in ready_methods if family in META_METHODS[method][2]}
    if rows:
        display(adaptation_animation(rows, task, title=f"a held-out {family} task: before and after adaptation"))
    else:
        print(f"No animation of {family} yet: finish the TODOs of at least one method.")

# %% [markdown] role="readonly" grade_id="q_fewshot_prompt"
# **Question 5 (3 points).** Use your tables and your paired differences (quote them). Which methods
# beat the task-agnostic baseline on `flip`, and on `target`? After how many units? In the animation,
# what does the cart do differently after adaptation on the `flip` task? Why does fine-tuning the task-agnostic policy
# gain almost nothing in three steps, while MAML gains a lot after one step? What does the `mass`
# control case show?

# %% [markdown] role="answer" grade_id="q_fewshot" points=3
# On `flip`, RL², PEARL and MAML all reach ≈ 0.93-0.99 after one unit versus ≈ 0.45 for the task-agnostic
# policy (paired differences of about +0.5 with intervals of ±0.06); RL² is already high in the first
# episode because it identifies the sign within a few steps. On `target`, RL² (the provided model) beats the
# agnostic policy by ≈ 0.23 after one episode and closes ≈ 87% of the gap to the oracle after two; PEARL
# scores only ≈ 0.29 in its first episode (its chosen exploration z drives the cart far out, below the
# agnostic ≈ 0.53), then beats the agnostic policy by ≈ 0.27 after one episode and stays at ≈ 0.78 after two
# (≈ 86% of the gap to the oracle's ≈ 0.83); MAML does not beat the agnostic policy. Fine-tuning
# starts from a nearly deterministic policy trained for the *average* task: on flipped tasks the
# probability of the correct action is tiny, so policy-gradient steps barely move it. MAML's
# initialisation was meta-trained so that one step flips the behaviour. On `mass`, MAML's curve is
# flat at ≈ 1.0: where no adaptation is needed, there is nothing to gain.
