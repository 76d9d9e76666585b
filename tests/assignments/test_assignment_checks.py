"""The checks used by the tests of the assignments: messages that say what, where, how much."""
from __future__ import annotations

import numpy as np
import pytest

from minicnn.assignments.checks import assert_close, case, check_gradient, numerical_gradient, unpack


def test_assert_close_reports_the_worst_index_and_values():
    expected = np.zeros((3, 2, 2, 2))
    expected[2, 0, 1, 1] = 0.7
    actual = expected.copy()
    actual[2, 0, 1, 1] = 0.1
    with pytest.raises(AssertionError) as info:
        assert_close("dW", actual, expected)
    assert str(info.value).startswith("dW wrong: max relative error 0.75 at index (2, 0, 1, 1): got 0.1, expected 0.7")
    assert "1 of 24 entries" in str(info.value)
    assert_close("dW", expected + 1e-9, expected)       # within tolerance: no error


@pytest.mark.parametrize("actual, message", [
    (None, "dx is None: expected an array of shape (2, 3)"),
    (np.zeros((3, 2)), "dx has shape (3, 2) but should have shape (2, 3)"),
    (np.array([[0.0, np.nan, 0.0], [0.0, 0.0, 0.0]]), "dx contains nan at index (0, 1)"),
])
def test_assert_close_explains_missing_misshaped_and_nan_results(actual, message):
    with pytest.raises(AssertionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        assert_close("dx", actual, np.zeros((2, 3)))


def test_check_gradient_finds_a_wrong_gradient_and_accepts_the_right_one():
    x = np.array([1.0, -2.0, 3.0])
    f = lambda v: float(np.sum(v ** 3))                     # noqa: E731  df/dv = 3 v^2
    assert_close("numerical", numerical_gradient(f, x), 3 * x ** 2, rtol=1e-7)
    check_gradient("dx", f, x, 3 * x ** 2)
    with pytest.raises(AssertionError, match=r"dx wrong: .* at index 1: got 6, expected 12"):
        check_gradient("dx", f, x, np.array([3.0, 6.0, 27.0]))
    assert x.tolist() == [1.0, -2.0, 3.0]                    # the input is not modified


def test_unpack_and_case_messages():
    with pytest.raises(AssertionError, match=r"conv_backward must return 3 values \(dx, dw, db\), got a NoneType"):
        unpack(None, ("dx", "dw", "db"), "conv_backward")
    with pytest.raises(AssertionError, match=r"^stride=2: out wrong"):
        with case("stride=2"):
            assert_close("out", np.ones(2), np.zeros(2))
