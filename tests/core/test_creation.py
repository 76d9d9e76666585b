"""Making tensors (tensor, zeros, ones, full, randn, rand, arange) and reproducible randomness."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn


def test_tensor_copies_its_data_and_infers_dtype():
    a = np.array([1.0, 2.0])
    t = minicnn.tensor(a)
    a[0] = 99
    assert t.tolist() == [1.0, 2.0] and t.dtype == np.float64
    assert minicnn.tensor([1.5, 2]).dtype == np.float32
    assert minicnn.tensor([1, 2]).dtype == np.int64
    assert minicnn.tensor([1, 2], dtype="float64").dtype == np.float64
    w = minicnn.tensor([0.5], requires_grad=True)
    assert w.requires_grad and w.is_leaf


@pytest.mark.parametrize("make, value", [(minicnn.zeros, 0.0), (minicnn.ones, 1.0)])
def test_zeros_ones_shapes_and_dtype(make, value):
    for t in (make(2, 3), make((2, 3)), make([2, 3])):
        assert t.shape == (2, 3) and t.dtype == np.float32
        assert np.all(t.numpy() == value)
    assert make(4, dtype="float64").dtype == np.float64
    assert make(()).shape == ()
    assert make(2, requires_grad=True).requires_grad


def test_full_and_like_helpers():
    t = minicnn.full((2, 2), 7.5)
    assert t.dtype == np.float32 and t.tolist() == [[7.5, 7.5], [7.5, 7.5]]
    x = minicnn.Tensor(np.array([np.inf, -1.0, np.nan]))
    assert minicnn.zeros_like(x).tolist() == [0.0, 0.0, 0.0]   # not inf * 0 = nan
    assert minicnn.ones_like(x).tolist() == [1.0, 1.0, 1.0]
    assert minicnn.zeros_like(x).dtype == np.float64


def test_arange_follows_torch_dtypes():
    assert minicnn.arange(4).tolist() == [0, 1, 2, 3]
    assert minicnn.arange(4).dtype == np.int64
    assert minicnn.arange(1, 7, 2).tolist() == [1, 3, 5]
    f = minicnn.arange(0, 1, 0.25)
    assert f.dtype == np.float32 and f.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert minicnn.arange(3.0).dtype == np.float32


def test_randn_and_rand_shapes_dtypes_and_ranges():
    n = minicnn.randn(200, 50, rng=0)
    assert n.shape == (200, 50) and n.dtype == np.float32
    assert abs(float(n.numpy().mean())) < 0.02 and abs(float(n.numpy().std()) - 1) < 0.02
    u = minicnn.rand(1000, rng=1)
    assert u.dtype == np.float32 and 0 <= u.numpy().min() and u.numpy().max() < 1
    assert minicnn.randn(3, dtype="float64").dtype == np.float64
    assert minicnn.randn(2, 2, requires_grad=True).requires_grad


def test_manual_seed_reproduces_the_same_numbers():
    minicnn.manual_seed(123)
    a1, b1 = minicnn.randn(5), minicnn.rand(2, 2)
    minicnn.manual_seed(123)
    a2, b2 = minicnn.randn(5), minicnn.rand(2, 2)
    np.testing.assert_array_equal(a1.numpy(), a2.numpy())
    np.testing.assert_array_equal(b1.numpy(), b2.numpy())
    minicnn.manual_seed(124)
    assert not np.array_equal(minicnn.randn(5).numpy(), a1.numpy())


def test_explicit_rng_is_independent_of_the_default_generator():
    minicnn.manual_seed(0)
    default_next = minicnn.randn(4).numpy()
    minicnn.manual_seed(0)
    own = minicnn.randn(4, rng=np.random.default_rng(7)).numpy()
    np.testing.assert_array_equal(own, np.random.default_rng(7).standard_normal(4).astype(np.float32))
    np.testing.assert_array_equal(minicnn.randn(4).numpy(), default_next)  # default stream untouched
    np.testing.assert_array_equal(minicnn.rand(3, rng=5).numpy(), minicnn.rand(3, rng=5).numpy())
    with pytest.raises(TypeError, match="Generator"):
        minicnn.randn(2, rng="seed")


def test_get_rng_returns_the_generator_given():
    g = np.random.default_rng(3)
    assert minicnn.get_rng(g) is g
    seeded = minicnn.manual_seed(9)
    assert minicnn.get_rng() is seeded
