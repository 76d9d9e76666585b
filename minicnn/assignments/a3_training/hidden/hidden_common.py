"""Shared by the hidden tests of assignment 3: the student's module and the reference."""
import numpy as np

from minicnn.assignments.checks import load_reference
from minicnn.nn import Parameter

import cnn_training as student  # the submission's file; a broken file fails here

reference = load_reference(__file__, "cnn_training")


def parameter(values, grad=None) -> Parameter:
    """A minicnn Parameter with the given data and (optionally) gradient."""
    from minicnn import Tensor

    p = Parameter(Tensor(np.array(values)))
    p.grad = None if grad is None else Tensor(np.array(grad))
    return p
