"""gradcheck must pass correct backwards and catch wrong ones, saying where and by how much."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn import Function
from minicnn.gradcheck import GradcheckError


class ForgetfulSigmoid(Function):
    """y = sigmoid(x), with a backward that forgets the (1 - y) factor of y (1 - y)."""

    def forward(self, x):
        y = 1 / (1 + np.exp(-x))
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        return gy * y  # wrong: should be gy * y * (1 - y)


BAD = (1, 2)


class SquareWrongAtOneIndex(Function):
    """y = x^2, with a backward that is 10% too large at the single index BAD."""

    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, gy):
        (x,) = self.saved
        g = 2 * x * gy
        g[BAD] *= 1.1
        return g


def x34() -> np.ndarray:
    return np.random.default_rng(0).uniform(0.5, 1.5, (3, 4))


@pytest.mark.parametrize("mode", ["full", "sparse", "directional"])
def test_correct_backward_passes_in_every_mode(mode):
    x = np.random.default_rng(1).standard_normal((20, 30))
    w = np.random.default_rng(2).standard_normal((30, 5))
    report = minicnn.gradcheck(lambda a, b: minicnn.tanh(a @ b).sum(), [x, w], mode=mode, k=15)
    assert report.ok and [r.ok for r in report.inputs] == [True, True]
    expected_checked = {"full": [600, 150], "sparse": [15, 15], "directional": [1, 1]}[mode]
    assert [r.checked for r in report.inputs] == expected_checked
    assert all(r.max_abs_error < 1e-6 for r in report.inputs)


@pytest.mark.parametrize("mode", ["full", "sparse", "directional"])
def test_wrong_sigmoid_backward_is_caught_in_every_mode(mode):
    with pytest.raises(GradcheckError, match="FAILED: max relative error") as info:
        minicnn.gradcheck(ForgetfulSigmoid.apply, [x34()], mode=mode, k=5)
    (worst,) = info.value.report.inputs
    assert not worst.ok and worst.max_rel_error > 0.1


def test_wrong_value_at_one_index_is_located():
    report = minicnn.gradcheck(SquareWrongAtOneIndex.apply, [x34()], raise_exception=False)
    (r,) = report.inputs
    assert not report.ok
    assert r.worst_index == BAD
    # analytic = 1.1 * numerical there:  |1.1n - n| / (1.1n + n) = 0.1 / 2.1
    assert r.max_rel_error == pytest.approx(0.1 / 2.1, rel=1e-4)
    assert r.analytic == pytest.approx(1.1 * r.numerical, rel=1e-6)
    message = str(report)
    assert "FAILED" in message and f"at index {BAD}" in message and "4.76e-02" in message


def test_only_the_wrong_input_fails():
    def f(x, y):
        return SquareWrongAtOneIndex.apply(x) * y

    report = minicnn.gradcheck(f, [x34(), x34()], names=["x", "y"], raise_exception=False)
    assert [(r.name, r.ok) for r in report.inputs] == [("x", False), ("y", True)]


def test_float32_inputs_are_checked_in_float64_and_integers_pass_through():
    x = np.random.default_rng(3).standard_normal((4, 3)).astype(np.float32)
    labels = np.array([0, 2, 1, 1])
    report = minicnn.gradcheck(lambda a, idx: (a[np.arange(4), idx] ** 2).sum(), [x, labels])
    (r,) = report.inputs  # only the float input is checked
    assert r.shape == (4, 3) and r.checked == 12 and report.ok


def test_bad_mode_is_rejected():
    with pytest.raises(ValueError, match="mode must be 'full', 'sparse' or 'directional'"):
        minicnn.gradcheck(minicnn.exp, [x34()], mode="fast")


def test_numerical_gradient_of_sum_of_squares_is_2x():
    x = np.random.default_rng(4).standard_normal((3, 4))
    before = x.copy()
    g = minicnn.numerical_gradient(lambda v: float((v**2).sum()), x)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-7, atol=1e-8)
    np.testing.assert_array_equal(x, before)  # restored after the sweep


def test_numerical_gradient_of_a_non_contiguous_array():
    x = np.random.default_rng(5).standard_normal((4, 3)).T  # a transposed view
    g = minicnn.numerical_gradient(lambda v: float((v**3).sum()), x)
    np.testing.assert_allclose(g, 3 * x**2, rtol=1e-7, atol=1e-8)
