"""nn.init: PyTorch's formulas (gains, fans, bounds, stds), in place, float32 kept, seeded."""
import math

import numpy as np
import pytest

import minicnn
from minicnn import Tensor, nn
from minicnn.nn import init

torch = pytest.importorskip("torch")


def empty(*shape, dtype=np.float32):
    return Tensor(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None),
])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-12)


def test_calculate_gain_rejects_unknown_nonlinearity():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu'"):
        init.calculate_gain("gelu")


@pytest.mark.parametrize("shape", [(4, 3), (16, 3, 5, 5), (8, 2, 3, 1), (10, 7, 1, 1)])
def test_fan_in_and_fan_out_match_torch(shape):
    ours = init._calculate_fan_in_and_fan_out(empty(*shape))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_fan_needs_two_dimensions():
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*\(5,\)"):
        init._calculate_fan_in_and_fan_out(empty(5))


# (our init call, torch's init call, expected std from the formula) on a (128, 64, 3, 3) weight:
# fan_in = 64*9 = 576, fan_out = 128*9 = 1152.
FAN_IN, FAN_OUT = 576, 1152
CASES = {
    "kaiming_uniform a=sqrt5": (lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)),
                                lambda t: torch.nn.init.kaiming_uniform_(t, a=math.sqrt(5)),
                                1 / math.sqrt(FAN_IN) / math.sqrt(3)),
    "kaiming_uniform relu fan_out": (lambda t: init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"),
                                     lambda t: torch.nn.init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"),
                                     math.sqrt(2 / FAN_OUT)),
    "kaiming_normal relu": (lambda t: init.kaiming_normal_(t, nonlinearity="relu"),
                            lambda t: torch.nn.init.kaiming_normal_(t, nonlinearity="relu"),
                            math.sqrt(2 / FAN_IN)),
    "xavier_uniform gain2": (lambda t: init.xavier_uniform_(t, gain=2.0),
                             lambda t: torch.nn.init.xavier_uniform_(t, gain=2.0),
                             2.0 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "xavier_normal": (lambda t: init.xavier_normal_(t),
                      lambda t: torch.nn.init.xavier_normal_(t),
                      math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "uniform": (lambda t: init.uniform_(t, -0.5, 1.5), lambda t: torch.nn.init.uniform_(t, -0.5, 1.5),
                2 / math.sqrt(12)),
    "normal": (lambda t: init.normal_(t, 3.0, 0.25), lambda t: torch.nn.init.normal_(t, 3.0, 0.25), 0.25),
}


@pytest.mark.parametrize("case", list(CASES))
def test_random_init_has_torch_distribution(case):
    ours_fn, torch_fn, std = CASES[case]
    shape = (128, 64, 3, 3)  # 73,728 samples: the std is known to within ~0.5%
    t = empty(*shape)
    array_before = t.data
    assert ours_fn(t) is t
    assert t.data is array_before and t.dtype == np.float32  # filled in place, float32 kept
    ref = torch_fn(torch.empty(shape)).numpy()
    ours = t.numpy()
    assert ours.std() == pytest.approx(std, rel=0.02)
    assert ref.std() == pytest.approx(std, rel=0.02)
    assert float(ours.mean()) == pytest.approx(float(ref.mean()), abs=0.02 * std + 1e-3 * abs(float(ref.mean())))
    if "uniform" in case:  # same support [lo, hi), reached within 1%
        lo, hi = ref.min(), ref.max()
        width = hi - lo
        assert ours.min() >= lo - 0.01 * width and ours.max() <= hi + 0.01 * width
        assert ours.min() <= lo + 0.01 * width and ours.max() >= hi - 0.01 * width


def test_kaiming_uniform_bound_is_one_over_sqrt_fan_in_with_a_sqrt5():
    t = init.kaiming_uniform_(empty(10, 3, 5, 5), a=math.sqrt(5))
    bound = 1 / math.sqrt(3 * 5 * 5)
    assert np.abs(t.numpy()).max() <= bound
    assert np.abs(t.numpy()).max() > 0.9 * bound


def test_constant_zeros_ones_fill_in_place():
    t = empty(2, 3)
    assert np.all(init.constant_(t, 0.25).numpy() == np.float32(0.25))
    assert np.all(init.ones_(t).numpy() == 1) and np.all(init.zeros_(t).numpy() == 0)
    assert t.dtype == np.float32


def test_float64_tensors_stay_float64():
    t = init.kaiming_normal_(empty(8, 4, dtype=np.float64))
    assert t.dtype == np.float64 and t.numpy().std() > 0


def test_rng_argument_and_manual_seed_make_init_repeatable():
    a = init.normal_(empty(5, 5), rng=np.random.default_rng(7)).numpy().copy()
    b = init.normal_(empty(5, 5), rng=7).numpy().copy()
    np.testing.assert_array_equal(a, b)
    minicnn.manual_seed(3)
    w1 = nn.Conv2d(3, 4, 3).weight.numpy().copy()
    minicnn.manual_seed(3)
    w2 = nn.Conv2d(3, 4, 3).weight.numpy().copy()
    np.testing.assert_array_equal(w1, w2)
    assert not np.array_equal(w1, nn.Conv2d(3, 4, 3).weight.numpy())  # the stream moves on


def test_bad_mode_is_explained():
    with pytest.raises(ValueError, match="'fan_in'.*'fan_out'"):
        init.kaiming_uniform_(empty(3, 3), mode="fan_avg")


@pytest.mark.parametrize("make_ours, make_torch, fan_in", [
    (lambda: nn.Conv2d(16, 32, 3), lambda: torch.nn.Conv2d(16, 32, 3), 16 * 9),
    (lambda: nn.Conv2d(16, 32, (3, 5), groups=4), lambda: torch.nn.Conv2d(16, 32, (3, 5), groups=4), 4 * 15),
    (lambda: nn.Linear(300, 200), lambda: torch.nn.Linear(300, 200), 300),
])
def test_default_layer_init_matches_torch(make_ours, make_torch, fan_in):
    ours, ref = make_ours(), make_torch()
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) and the bias rule both give this
    for name in ("weight", "bias"):
        w, w_ref = getattr(ours, name), getattr(ref, name).detach().numpy()
        assert w.dtype == np.float32 and w.shape == tuple(w_ref.shape)
        assert np.abs(w.numpy()).max() <= bound and np.abs(w_ref).max() <= bound
        if name == "weight":
            assert w.numpy().std() == pytest.approx(bound / math.sqrt(3), rel=0.05)
            assert w.numpy().std() == pytest.approx(w_ref.std(), rel=0.07)


def test_batchnorm_init_is_ones_and_zeros():
    bn = nn.BatchNorm2d(4)
    np.testing.assert_array_equal(bn.weight.numpy(), np.ones(4, np.float32))
    np.testing.assert_array_equal(bn.bias.numpy(), np.zeros(4, np.float32))
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(4, np.float32))
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.item() == 0
