"""Every layer module against torch.nn's same layer, with the weights copied over.

For each case: the same constructor arguments in both libraries, torch's state dict loaded
into ours (so the state-dict names match too), then forward values, dL/dx and dL/dparams.
"""
import numpy as np
import pytest

import minicnn
from minicnn import Tensor, nn

torch = pytest.importorskip("torch")


def assert_close(actual, expected, rtol=1e-4, atol=1e-5, err_msg=""):
    """float32 sums: the absolute tolerance grows with the size of the values."""
    scale = max(1.0, float(np.abs(expected).max(initial=0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=err_msg)


def compare(make, x_shape, train=True, rtol=1e-4, atol=1e-5, seed=0):
    """Build ``make(nn)`` and ``make(torch.nn)``, share weights, compare forward and backward."""
    torch.manual_seed(seed)
    ref, ours = make(torch.nn), make(nn)
    ref.train(train), ours.train(train)
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    rng = np.random.default_rng(seed)
    x_np = rng.standard_normal(x_shape).astype(np.float32)
    x, xt = Tensor(x_np.copy(), requires_grad=True), torch.tensor(x_np, requires_grad=True)
    y, yt = ours(x), ref(xt)
    assert y.dtype == np.float32 and y.shape == tuple(yt.shape)
    assert_close(y.numpy(), yt.detach().numpy(), rtol, atol)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(gy)
    yt.backward(torch.from_numpy(gy))
    assert_close(x.grad.numpy(), xt.grad.numpy(), rtol, atol)
    ref_params = dict(ref.named_parameters())
    assert [n for n, _ in ours.named_parameters()] == list(ref_params)
    for name, p in ours.named_parameters():
        assert_close(p.grad.numpy(), ref_params[name].grad.numpy(), rtol, atol, err_msg=name)
    return ours, ref


@pytest.mark.parametrize("make, x_shape", [
    (lambda nn: nn.Conv2d(3, 4, 3), (2, 3, 7, 7)),
    (lambda nn: nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 8, 8)),
    (lambda nn: nn.Conv2d(2, 4, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2)), (2, 2, 9, 9)),
    (lambda nn: nn.Conv2d(4, 6, 3, groups=2, bias=False), (2, 4, 6, 6)),
    (lambda nn: nn.Conv2d(3, 3, 4, padding="same"), (1, 3, 6, 6)),
    (lambda nn: nn.Conv2d(3, 10, 5, padding=2), (1, 3, 32, 32)),
], ids=["plain", "stride2-pad1", "rect-dilated", "groups-nobias", "same-even", "lecture-10x5x5"])
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_conv2d(make, x_shape):
    compare(make, x_shape)


@pytest.mark.parametrize("make, x_shape", [
    (lambda nn: nn.MaxPool2d(2), (2, 3, 8, 8)),
    (lambda nn: nn.MaxPool2d(3, stride=2, padding=1), (2, 3, 9, 9)),
    (lambda nn: nn.MaxPool2d(2, ceil_mode=True), (1, 2, 7, 7)),
    (lambda nn: nn.AvgPool2d(2), (2, 3, 8, 8)),
    (lambda nn: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (2, 3, 9, 9)),
    (lambda nn: nn.AdaptiveAvgPool2d(7), (2, 3, 10, 10)),
    (lambda nn: nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 8, 9)),
    (lambda nn: nn.AdaptiveMaxPool2d(3), (2, 3, 7, 7)),
], ids=["max2", "max3s2p1", "max-ceil", "avg2", "avg-no-pad-count", "adaptive-avg-7", "adaptive-avg-2x3",
        "adaptive-max"])
def test_pooling(make, x_shape):
    compare(make, x_shape)


@pytest.mark.parametrize("make, x_shape", [
    (lambda nn: nn.Linear(5, 3), (4, 5)),
    (lambda nn: nn.Linear(5, 3, bias=False), (2, 4, 5)),
    (lambda nn: nn.Flatten(), (2, 3, 4, 4)),
    (lambda nn: nn.Flatten(0, 2), (2, 3, 4, 4)),
    (lambda nn: nn.Identity(), (2, 3)),
    (lambda nn: nn.ReLU(), (3, 4)),
    (lambda nn: nn.LeakyReLU(0.2), (3, 4)),
    (lambda nn: nn.Sigmoid(), (3, 4)),
    (lambda nn: nn.Tanh(), (3, 4)),
    (lambda nn: nn.Softmax(dim=1), (3, 5)),
    (lambda nn: nn.LogSoftmax(dim=-1), (2, 3, 5)),
], ids=["linear", "linear-nobias-3d", "flatten", "flatten-0-2", "identity", "relu", "leaky", "sigmoid",
        "tanh", "softmax", "log-softmax"])
def test_linear_flatten_and_activations(make, x_shape):
    compare(make, x_shape)


@pytest.mark.parametrize("make, x_shape", [
    (lambda nn: nn.BatchNorm2d(3), (4, 3, 5, 5)),
    (lambda nn: nn.BatchNorm2d(3, momentum=None), (4, 3, 5, 5)),
    (lambda nn: nn.BatchNorm2d(3, affine=False), (4, 3, 5, 5)),
    (lambda nn: nn.BatchNorm2d(3, track_running_stats=False), (4, 3, 5, 5)),
    (lambda nn: nn.BatchNorm1d(6, eps=1e-3, momentum=0.3), (8, 6)),
    (lambda nn: nn.BatchNorm1d(2), (4, 2, 7)),
], ids=["bn2d", "bn2d-cumulative", "bn2d-no-affine", "bn2d-no-running", "bn1d", "bn1d-3d"])
def test_batchnorm_training_and_running_stats(make, x_shape):
    ours, ref = compare(make, x_shape, train=True)
    for step in range(2):  # more batches: running averages, and momentum=None's 1/n factor
        x = np.random.default_rng(10 + step).standard_normal(x_shape).astype(np.float32) * 2 + 1
        ours(Tensor(x)), ref(torch.from_numpy(x))
    ref_buffers = dict(ref.named_buffers())
    assert [n for n, _ in ours.named_buffers()] == list(ref_buffers)
    for name, b in ours.named_buffers():
        np.testing.assert_allclose(b.numpy(), ref_buffers[name].numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
        assert b.dtype == ref_buffers[name].numpy().dtype
    # evaluation mode uses the running statistics (or the batch's, without them)
    ours.eval(), ref.eval()
    x = np.random.default_rng(99).standard_normal(x_shape).astype(np.float32)
    np.testing.assert_allclose(ours(Tensor(x)).numpy(), ref(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_batchnorm_eval_gradients():
    def make(nn):
        bn = nn.BatchNorm2d(3)
        bn.running_mean.data[...] = np.array([0.5, -1.0, 2.0], np.float32) if nn is minicnn.nn else torch.tensor([0.5, -1.0, 2.0])
        return bn

    compare(make, (2, 3, 4, 4), train=False)


def test_batchnorm_wrong_input_is_explained():
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected an input of shape \(N, C\) or \(N, C, L\), "
                                         r"got \(2, 3, 4, 4\).*use BatchNorm2d"):
        nn.BatchNorm1d(3)(minicnn.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"the input has 5 channels.*use BatchNorm2d\(5\)"):
        nn.BatchNorm2d(3)(minicnn.randn(2, 5, 4, 4))


def test_dropout_in_eval_is_identity_like_torch():
    ours, ref = compare(lambda nn: nn.Dropout(0.5), (4, 6), train=False)
    assert not ours.training and not ref.training


def test_dropout_in_training_zeroes_p_and_scales_the_rest():
    drop = nn.Dropout(p=0.25, rng=0)
    x = Tensor(np.ones((200, 200), np.float32), requires_grad=True)
    y = drop(x)
    kept = y.numpy() != 0
    assert abs(1 - kept.mean() - 0.25) < 0.01
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.75, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())  # dL/dx = mask / (1 - p)
    assert not np.array_equal(drop(x).numpy(), y.numpy())  # a fresh mask on every call


def test_dropout_follows_manual_seed():
    x = minicnn.ones(10, 10)
    minicnn.manual_seed(5)
    a = nn.Dropout()(x).numpy()
    minicnn.manual_seed(5)
    np.testing.assert_array_equal(nn.Dropout()(x).numpy(), a)


def test_dropout_rejects_bad_p():
    with pytest.raises(ValueError, match=r"must be in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)


LOSSES = {
    "ce": (lambda nn: nn.CrossEntropyLoss(), "classes"),
    "ce-weight-ignore-smooth": (lambda nn, w=[1.0, 2.0, 0.5, 1.0]: nn.CrossEntropyLoss(
        weight=torch.tensor(w) if nn is torch.nn else np.array(w, np.float32), ignore_index=1,
        label_smoothing=0.1), "classes"),
    "ce-sum": (lambda nn: nn.CrossEntropyLoss(reduction="sum"), "classes"),
    "ce-none": (lambda nn: nn.CrossEntropyLoss(reduction="none"), "classes"),
    "nll": (lambda nn: nn.NLLLoss(), "classes"),
    "mse": (lambda nn: nn.MSELoss(), "values"),
    "smooth-l1": (lambda nn: nn.SmoothL1Loss(beta=0.5), "values"),
    "bce-logits": (lambda nn: nn.BCEWithLogitsLoss(
        pos_weight=torch.tensor([1.0, 3.0, 0.5, 2.0]) if nn is torch.nn else Tensor([1.0, 3.0, 0.5, 2.0])), "binary"),
}


@pytest.mark.parametrize("case", list(LOSSES))
def test_loss_modules(case):
    make, kind = LOSSES[case]
    ours, ref = make(nn), make(torch.nn)
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal((6, 4)).astype(np.float32)
    if kind == "classes":
        t_np = np.array([0, 1, 2, 3, 1, 0], dtype=np.int64)
    elif kind == "binary":
        t_np = rng.integers(0, 2, (6, 4)).astype(np.float32)
    else:
        t_np = rng.standard_normal((6, 4)).astype(np.float32)
    x, xt = Tensor(x_np.copy(), requires_grad=True), torch.tensor(x_np, requires_grad=True)
    loss, loss_t = ours(x, Tensor(t_np)), ref(xt, torch.from_numpy(t_np))
    np.testing.assert_allclose(loss.numpy(), loss_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    loss.sum().backward()
    loss_t.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_loss_rejects_unknown_reduction():
    with pytest.raises(ValueError, match="'mean', 'sum' or 'none', got 'avg'"):
        nn.MSELoss(reduction="avg")


def test_layer_argument_errors_are_explained():
    with pytest.raises(ValueError, match="in_channels=3 is not divisible by groups=2"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        nn.Conv2d(3, 4, (3, 3, 3))
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
