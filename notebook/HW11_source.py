# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown] role="readonly" grade_id="title"
# # HW11: Meta-Reinforcement Learning on Parameterised CartPole
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({{COLAB_URL}})
# [![Open in Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)]({{KAGGLE_URL}})
#
# *Placeholder notebook: it proves the build and grading pipeline end to end; the homework's
# sections (MAML, RL², PEARL) come later.*
#
# Fill in every cell that says `YOUR CODE HERE` or `YOUR ANSWER HERE`. Do not change the read-only
# cells, and keep function names and signatures: the grader calls them.

# %% role="readonly" grade_id="setup"
# Setup: installs the course package hw11_utils when it is missing (Colab, Kaggle); otherwise does nothing.
import importlib
import importlib.util
import os
import subprocess
import sys

REPO_URL = "{{STUDENT_REPO_URL}}"
if importlib.util.find_spec("hw11_utils") is None:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", f"git+{REPO_URL}"])
    importlib.invalidate_caches()

import torch

from hw11_utils import checks

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
QUICK = os.environ.get("HW11_QUICK", "0") == "1"  # short runs: used by the autograder
print(f"device: {device}, QUICK: {QUICK}")

# %% [markdown] role="readonly" grade_id="returns_intro"
# ## Part 0: discounted returns
#
# Rollouts are tensors shaped `[tasks, episodes, time]`, time last. The discounted return of
# step $t$ restarts at every episode boundary:
#
# $$G_t = r_t + \gamma \, G_{t+1} \, (1 - d_t), \qquad G_T = 0,$$
#
# where $d_t = 1$ if step $t$ is the last step of an episode. Implement `discounted_returns`
# with a loop over time (backwards) that works for any leading batch dimensions.

# %% role="solution" grade_id="discounted_returns"
# include: solutions.common.discounted_returns

# %% role="tests" grade_id="discounted_returns_tests" points=5
# Visible check on hand-computed cases. The grader also runs hidden tests on random inputs.
checks.check_discounted_returns(discounted_returns)
### BEGIN HIDDEN TESTS
from hw11_grading import grade

grade.discounted_returns(discounted_returns)
### END HIDDEN TESTS

# %% [markdown]
# Try it on a small example of your own (this cell is not graded):

# %%
example_rewards = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
example_dones = torch.tensor([[0.0, 1.0, 0.0, 1.0]])
print(discounted_returns(example_rewards, example_dones, gamma=0.9))

# %% [markdown] role="readonly" grade_id="returns_question_prompt"
# **Question (2 points).** Why does the recursion multiply by $(1 - d_t)$? What would go wrong
# in a batch of several episodes laid end to end without it?

# %% [markdown] role="answer" grade_id="returns_question" points=2
# The factor stops the return of one episode from leaking into the previous one: without it, the
# last step of an episode would bootstrap from the first step of the next, unrelated episode.
