"""hw11_utils: environments, rollouts, RL maths, networks and evaluation for HW11 (meta-RL)."""
