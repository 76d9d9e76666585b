"""Autograd semantics: when backward may run, how gradients accumulate, what the graph keeps."""
from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest

import minicnn
from minicnn import Function, Tensor


def leaf(values, dtype="float64") -> Tensor:
    return Tensor(np.array(values, dtype=dtype), requires_grad=True)


# ---------------------------------------------------------------- backward() and its gradient
def test_backward_without_grad_needs_a_one_element_tensor():
    x = leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    y = x * 2
    with pytest.raises(RuntimeError, match=r"scalar.*shape \(2, 3\)"):
        y.backward()
    (x * x).sum(dim=1, keepdim=True)[:1].backward()  # shape (1, 1): allowed, the seed is 1
    np.testing.assert_array_equal(x.grad.numpy(), [[2, 4, 6], [0, 0, 0]])


def test_backward_with_explicit_grad_is_a_vector_jacobian_product():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).backward(np.array([1.0, 10.0, 100.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 40.0, 600.0])


def test_backward_grad_of_wrong_shape_is_rejected():
    x = leaf([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        (x * 2).backward(np.ones(2))


def test_backward_on_a_tensor_without_grad_explains():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (Tensor([1.0, 2.0]) * 2).sum().backward()


# ---------------------------------------------------------------- accumulation
def test_gradients_accumulate_until_zero_grad():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3 + 2, 3 + 4])
    x.zero_grad()
    assert x.grad is None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 3])


def test_each_leaf_gets_its_own_writable_gradient_array():
    # a + b hands one array to both inputs and sum's backward is a read-only broadcast view;
    # neither may leak into .grad, or an in-place update of one grad would change the other
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x + y).sum().backward()
    assert not np.shares_memory(x.grad.data, y.grad.data)
    x.grad.data *= 10
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])
    seed = np.array([1.0, 1.0])
    z = leaf([5.0, 6.0])
    z.backward(seed)
    seed[0] = 99
    np.testing.assert_array_equal(z.grad.numpy(), [1.0, 1.0])


# ---------------------------------------------------------------- graph shapes
def test_tensor_used_by_several_ops_sums_their_gradients():
    x = leaf([1.0, -2.0, 3.0])
    y = x * x + x * 3 - x.exp()  # dy/dx = 2x + 3 - e^x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 3 - np.exp(x.numpy()))


def test_diamond_graph():
    #      x
    #    /   \
    #   a=2x  b=x^2
    #    \   /
    #   c = a * b = 2x^3   ->  dc/dx = 6x^2
    x = leaf([1.0, 2.0, -3.0])
    a, b = x * 2, x**2
    (a * b).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy() ** 2)


def test_nested_diamonds_count_every_path():
    x = leaf([0.5])
    y = x
    for _ in range(20):  # y <- y + y doubles the number of paths each time: dy/dx = 2^20
        y = y + y
    y.backward()
    assert x.grad.item() == 2.0**20


@pytest.mark.parametrize("length", [1_000, 100_000])
def test_long_chain_backward_does_not_recurse(length):
    limit = sys.getrecursionlimit()
    x = leaf([1.0])
    y = x
    for _ in range(length):
        y = y * 1.00001
    y.backward()
    assert sys.getrecursionlimit() == limit  # not raised to make it pass
    np.testing.assert_allclose(x.grad.numpy(), [1.00001**length], rtol=1e-9)


# ---------------------------------------------------------------- recording on and off
def test_no_grad_context_records_nothing():
    x = leaf([1.0, 2.0])
    with minicnn.no_grad():
        y = x * 2 + 1
        assert not minicnn.is_grad_enabled()
    assert minicnn.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_decorator_and_enable_grad_inside():
    @minicnn.no_grad()
    def predict(x):
        inside = x * 2
        with minicnn.enable_grad():
            recorded = x * 3
        return inside, recorded

    x = leaf([1.0])
    inside, recorded = predict(x)
    assert inside.grad_fn is None and recorded.grad_fn is not None
    assert minicnn.is_grad_enabled()


def test_no_grad_restores_recording_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with minicnn.no_grad():
            1 / 0
    assert minicnn.is_grad_enabled()


def test_detach_shares_data_but_cuts_the_graph():
    x = leaf([1.0, 2.0])
    d = x.detach()
    assert d.is_leaf and not d.requires_grad
    assert np.shares_memory(d.data, x.data)
    (d * x).sum().backward()  # d is a constant: dL/dx = d
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0])


def test_requires_grad_():
    x = Tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    x.requires_grad_(False)
    assert not (x * x).requires_grad
    with pytest.raises(TypeError, match="floating-point"):
        Tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf"):
        (leaf([1.0]) * 2).requires_grad_(False)


# ---------------------------------------------------------------- the freed graph
def test_second_backward_through_a_freed_graph_raises_clearly():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (np.exp(x.numpy()) * (1 + x.numpy())))


def test_backward_frees_the_activations_held_by_the_graph():
    x = leaf(np.ones(1000))
    hidden = x.exp()
    loss = (hidden * 2).sum()
    ref = weakref.ref(hidden)
    del hidden
    gc.collect()
    assert ref() is not None  # the graph keeps it alive for backward
    loss.backward()
    gc.collect()
    assert ref() is None      # ... and lets it go afterwards, while loss is still alive


# ---------------------------------------------------------------- which tensors get .grad
def test_non_leaf_gets_grad_only_with_retain_grad():
    x = leaf([1.0, 2.0])
    h = x * 3
    kept = (x * 4).retain_grad()
    (h * kept).sum().backward()
    assert h.grad is None
    np.testing.assert_array_equal(kept.grad.numpy(), h.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), 24 * x.numpy())


class CountingMul(Function):
    """y = a * b, recording which input gradients backward was asked for and computed."""

    calls: list[tuple[bool, ...]] = []

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, gy):
        a, b = self.saved
        CountingMul.calls.append(self.needs_input_grad)
        ga = gy * b if self.needs_input_grad[0] else None
        gb = gy * a if self.needs_input_grad[1] else None
        return ga, gb


def test_frozen_input_gets_no_grad_and_backward_is_told_to_skip_it():
    CountingMul.calls = []
    w = Tensor(np.array([2.0, 3.0]))           # frozen: requires_grad=False
    x = leaf([5.0, 7.0])
    CountingMul.apply(w, x).sum().backward()
    assert CountingMul.calls == [(False, True)]
    assert w.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 3.0])


def test_builtin_ops_skip_gradients_nobody_needs():
    a, b = Tensor(np.ones((2, 3))), leaf(np.ones((3, 4)))
    y = a @ b
    ga, gb = y.grad_fn.backward(np.ones((2, 4)))
    assert ga is None and gb.shape == (3, 4)


def test_function_returning_a_wrong_gradient_shape_is_reported():
    class Broken(Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return gy[:1]

    with pytest.raises(RuntimeError, match=r"Broken.*shape \(1,\).*shape \(3,\)"):
        Broken.apply(leaf([1.0, 2.0, 3.0])).sum().backward()


# ---------------------------------------------------------------- iteration
def test_iterating_a_tensor_walks_the_first_axis_and_is_differentiable():
    x = leaf([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    rows = list(x)
    assert len(rows) == len(x) == 3
    np.testing.assert_array_equal(rows[1].numpy(), [3.0, 4.0])
    (rows[0] * rows[2]).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[5, 6], [0, 0], [1, 2]])
    with pytest.raises(TypeError, match="0-d"):
        iter(Tensor(1.0))


class _Twice(Function):
    """y = 2x, backward hands out one array it keeps a handle on (to test ownership)."""

    fresh_gradients = True

    def forward(self, x):
        return 2 * x

    def backward(self, gy):
        _Twice.last = 2 * gy
        return _Twice.last


class _SharedAdd(Function):
    """a + b whose backward returns the same array for both inputs (not fresh)."""

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        g = gy * 1
        return g, g


def test_a_leaf_takes_a_fresh_gradient_without_copying_it():
    x = Tensor(np.ones(3), requires_grad=True)
    _Twice.apply(x).sum().backward()
    assert x.grad.data is _Twice.last                          # taken as it is
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_shared_gradients_are_copied_into_each_leaf():
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    _SharedAdd.apply(a, b).sum().backward()
    assert not np.shares_memory(a.grad.data, b.grad.data)
    a.grad.data[0] = 99.0                                      # one leaf's grad is its own
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0, 1.0])


def test_a_fresh_gradient_summed_with_another_path_is_still_right():
    x = Tensor(np.ones(3), requires_grad=True)
    (_Twice.apply(x) + x * 3).sum().backward()                 # 2 + 3 from the two paths
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 5.0, 5.0])
    x.grad = None
    y = _Twice.apply(x)
    (y * 1).sum().backward(retain_graph=True)
    first = x.grad.numpy().copy()
    (y * 1).sum().backward()                                   # accumulates, out of place
    np.testing.assert_array_equal(x.grad.numpy(), 2 * first)
