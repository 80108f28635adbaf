"""Learners that are not "loss.backward(); optimizer.step()": the perceptron rule and friends.

Each algorithm here has its own update rule from the course (Rosenblatt's error-driven rule,
Hebbian storage, contrastive divergence, ...), written out in NumPy rather than through
autograd. Algorithms that can stop short of their stopping rule warn with
:class:`ConvergenceWarning`.
"""

from lucidnn.algorithms.perceptron import ConvergenceWarning, Perceptron, PerceptronResult

__all__ = ["ConvergenceWarning", "Perceptron", "PerceptronResult"]
