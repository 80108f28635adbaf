"""Learners that are not "loss.backward(); optimizer.step()": the perceptron rule and friends.

Each algorithm here has its own update rule from the course (Rosenblatt's error-driven rule,
Hebbian storage, contrastive divergence, ...), written out in NumPy rather than through
autograd. Algorithms that can stop short of their stopping rule warn with
:class:`ConvergenceWarning`.
"""

from lucidnn.algorithms.boltzmann import BoltzmannMachine
from lucidnn.algorithms.dbn import DBN, sigmoid_mlp
from lucidnn.algorithms.hopfield import CapacityResult, HopfieldNetwork, RecallResult, capacity_curve
from lucidnn.algorithms.perceptron import ConvergenceWarning, Perceptron, PerceptronResult
from lucidnn.algorithms.rbm import RBM, CDStatistics, GaussianBernoulliRBM, RBMHistory, fit_rbm

__all__ = ["DBN", "RBM", "BoltzmannMachine", "CDStatistics", "CapacityResult", "ConvergenceWarning",
           "GaussianBernoulliRBM", "HopfieldNetwork", "Perceptron", "PerceptronResult", "RBMHistory", "RecallResult",
           "capacity_curve", "fit_rbm", "sigmoid_mlp"]
