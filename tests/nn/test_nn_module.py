"""Module: registration, traversal, state_dict round trips and errors, modes, freezing, devices, repr."""
import copy
from collections import OrderedDict

import numpy as np
import pytest

import minicnn
from minicnn import Tensor, nn


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)
        self.fc2 = nn.Linear(3, 2)
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))
        self.register_buffer("steps", np.zeros((), dtype=np.int64))
        self.note = "plain attribute"

    def forward(self, x):
        return self.fc2(self.bn(self.fc1(x)).relu()) * self.scale


def test_setattr_registers_parameters_modules_and_buffers():
    m = TwoLayer()
    assert list(m._parameters) == ["scale"]
    assert list(m._modules) == ["fc1", "bn", "fc2"]
    assert list(m._buffers) == ["steps"]
    assert m.note == "plain attribute" and "note" not in m._parameters
    assert [n for n, _ in m.named_parameters()] == [
        "scale", "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "fc2.weight", "fc2.bias"]
    assert [n for n, _ in m.named_buffers()] == [
        "steps", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    # buffers are saved but are not parameters (no optimizer touches them)
    assert all(b is not p for b in m.buffers() for p in m.parameters())
    assert m.num_parameters() == 1 + (4 * 3 + 3) + (3 + 3) + (3 * 2 + 2)


def test_children_and_modules():
    m = TwoLayer()
    assert [n for n, _ in m.named_children()] == ["fc1", "bn", "fc2"]
    assert [n for n, _ in m.named_modules()] == ["", "fc1", "bn", "fc2"]
    assert list(m.children())[1] is m.bn and list(m.modules())[0] is m


def test_shared_parameter_is_listed_once():
    a = nn.Linear(3, 3)
    m = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(m.parameters())) == 2
    assert [n for n, _ in m.named_modules()] == ["", "0", "1"]


def test_assigning_a_plain_tensor_to_a_parameter_slot_is_refused():
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"parameter 'weight'.*nn.Parameter"):
        lin.weight = Tensor(np.zeros((2, 2), np.float32))
    lin.bias = None  # None is allowed (no bias)
    assert [n for n, _ in lin.named_parameters()] == ["weight"]


def test_forgetting_super_init_is_explained():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) first in Broken.__init__"):
        Broken()


def test_missing_forward_is_explained():
    with pytest.raises(NotImplementedError, match="no forward"):
        nn.Module()(Tensor([1.0]))


def test_state_dict_keys_match_torchvision_style(vgg_like):
    torch = pytest.importorskip("torch")
    ours, ref = vgg_like(nn), vgg_like(torch.nn)
    sd, ref_sd = ours.state_dict(), ref.state_dict()
    assert list(sd) == list(ref_sd)
    assert "features.0.weight" in sd and "features.1.num_batches_tracked" in sd and "classifier.6.bias" in sd
    for key in sd:
        assert sd[key].shape == tuple(ref_sd[key].shape), key
        assert isinstance(sd[key], np.ndarray)
    assert sd["features.0.weight"].dtype == np.float32
    assert sd["features.1.num_batches_tracked"].dtype == np.int64


def test_state_dict_is_a_snapshot():
    lin = nn.Linear(2, 2)
    sd = lin.state_dict()
    lin.weight.data += 1
    assert not np.array_equal(sd["weight"], lin.weight.numpy())


def test_round_trip_gives_identical_outputs(vgg_like):
    minicnn.manual_seed(0)
    a, b = vgg_like(nn), vgg_like(nn)
    x = minicnn.randn(2, 3, 16, 16)
    a.train()
    a(x)  # updates BatchNorm's running statistics, so buffers differ from a fresh model
    a.eval(), b.eval()
    assert not np.allclose(a(x).numpy(), b(x).numpy())
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    assert b.features[1].num_batches_tracked.item() == 1


def test_load_copies_in_place_and_converts_dtype():
    lin = nn.Linear(3, 2)
    weight, array = lin.weight, lin.weight.data
    new_w = np.arange(6, dtype=np.float64).reshape(2, 3)
    lin.load_state_dict({"weight": new_w, "bias": Tensor([1.0, 2.0])})
    assert lin.weight is weight and lin.weight.data is array  # an optimizer holding it still works
    assert lin.weight.dtype == np.float32
    np.testing.assert_array_equal(lin.weight.numpy(), new_w.astype(np.float32))
    np.testing.assert_array_equal(lin.bias.numpy(), [1.0, 2.0])


def test_strict_load_lists_every_problem_at_once_and_loads_nothing(vgg_like):
    model = vgg_like(nn, num_classes=10)
    sd = vgg_like(nn, num_classes=1000).state_dict()   # a checkpoint with a 1000-class head
    del sd["features.0.bias"]
    sd["fc.weight"] = np.zeros((3, 3))
    before = model.features[0].weight.numpy().copy()
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(sd)
    msg = str(info.value)
    assert 'Missing key(s) in state_dict: "features.0.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "fc.weight"' in msg
    assert "size mismatch for classifier.6.weight: expected (10, 32), found (1000, 32)" in msg
    assert "size mismatch for classifier.6.bias: expected (10,), found (1000,)" in msg
    assert "Nothing was loaded" in msg and "strict=False" in msg
    np.testing.assert_array_equal(model.features[0].weight.numpy(), before)


def test_non_strict_load_returns_missing_and_unexpected(vgg_like):
    model = vgg_like(nn)
    sd = vgg_like(nn, num_classes=1000).state_dict()
    for key in ("classifier.6.weight", "classifier.6.bias"):
        del sd[key]  # the fine-tuning recipe: drop the old head
    sd["extra.weight"] = np.zeros(2)
    result = model.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["classifier.6.weight", "classifier.6.bias"]
    assert result.unexpected_keys == ["extra.weight"]
    np.testing.assert_array_equal(model.features[0].weight.numpy(), sd["features.0.weight"])
    # shape mismatches are errors even when not strict
    sd["features.0.weight"] = np.zeros((1, 1))
    with pytest.raises(RuntimeError, match=r"size mismatch for features.0.weight: expected \(8, 3, 3, 3\)"):
        model.load_state_dict(sd, strict=False)


def test_loading_torch_weights_gives_torch_outputs(vgg_like):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = vgg_like(torch.nn).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        ref.features[1].running_mean.uniform_(-1, 1)
        ref.features[1].running_var.uniform_(0.5, 2)
    model = vgg_like(nn).eval()
    model.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(model(Tensor(x)).numpy(), ref(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_train_and_eval_propagate(vgg_like):
    model = vgg_like(nn)
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.classifier.eval()
    assert model.training and model.features[1].training and not model.classifier[2].training
    with pytest.raises(TypeError, match="True or False"):
        model.train("eval")


def test_freeze_unfreeze_and_requires_grad(vgg_like):
    model = vgg_like(nn)
    assert model.features.freeze() is model.features
    assert not any(p.requires_grad for p in model.features.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
    assert model.num_parameters(trainable_only=True) == sum(p.size for p in model.classifier.parameters())
    model.unfreeze()
    assert all(p.requires_grad for p in model.parameters())
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())


def test_apply_and_zero_grad():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    seen = []
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    assert seen == ["Linear", "ReLU", "Linear", "Sequential"]  # children first, then self
    model.apply(lambda m: nn.init.zeros_(m.bias) if isinstance(m, nn.Linear) else None)
    assert not model[0].bias.numpy().any()
    model(minicnn.randn(3, 2)).sum().backward()
    assert model[0].weight.grad is not None
    model.zero_grad(set_to_none=False)
    assert not model[0].weight.grad.numpy().any()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_to_cuda_without_gpu_raises_the_backend_error(vgg_like):
    if minicnn.cuda_is_available():
        pytest.skip("a GPU is present")
    model = vgg_like(nn)
    with pytest.raises(RuntimeError, match="cuda"):
        model.to("cuda")
    assert model.features[0].weight.device.type == "cpu"  # nothing moved


def test_to_dtype_casts_floats_and_keeps_counters():
    bn = nn.BatchNorm1d(3)
    weight = bn.weight
    assert bn.to("float64") is bn and bn.weight is weight
    assert bn.weight.dtype == np.float64 and bn.running_mean.dtype == np.float64
    assert bn.num_batches_tracked.dtype == np.int64
    bn.float()
    assert bn.weight.dtype == np.float32
    assert bn.to("cpu") is bn
    with pytest.raises(TypeError, match="floating dtype"):
        bn.to("int32")


def test_repr_matches_torch(vgg_like):
    torch = pytest.importorskip("torch")
    text = repr(vgg_like(nn))
    assert "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))" in text
    assert repr(nn.Conv2d(3, 64, 3, padding=1)) == "Conv2d(3, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    # line by line as torch prints the same model, except torch>=2.13's BatchNorm "bias=" field
    ref_lines = [line.replace(", bias=True, track", ", track") for line in repr(vgg_like(torch.nn)).splitlines()]
    assert text.splitlines() == ref_lines


@pytest.mark.parametrize("make", [
    lambda nn: nn.Conv2d(3, 6, (3, 5), stride=2, dilation=2, groups=3, bias=False),
    lambda nn: nn.Conv2d(4, 4, 3, padding="same"),
    lambda nn: nn.MaxPool2d(3, 2, 1, ceil_mode=True),
    lambda nn: nn.AvgPool2d(2),
    lambda nn: nn.AdaptiveAvgPool2d(7),
    lambda nn: nn.Linear(3, 4, bias=False),
    lambda nn: nn.Flatten(),
    lambda nn: nn.ReLU(inplace=True),
    lambda nn: nn.LeakyReLU(0.2),
    lambda nn: nn.Softmax(dim=1),
    lambda nn: nn.LogSoftmax(dim=1),
    lambda nn: nn.Dropout(0.3),
    lambda nn: nn.Identity(),
    lambda nn: nn.Sigmoid(),
    lambda nn: nn.CrossEntropyLoss(),
    lambda nn: nn.ModuleList([nn.ReLU(), nn.Tanh()]),
    lambda nn: nn.ModuleDict({"a": nn.ReLU()}),
    lambda nn: nn.Sequential(),
])
def test_layer_repr_matches_torch(make):
    torch = pytest.importorskip("torch")
    assert repr(make(nn)) == repr(make(torch.nn))


def test_forward_hook_sees_output_and_can_be_removed():
    lin = nn.Linear(2, 3)
    shapes = []
    handle = lin.register_forward_hook(lambda m, inputs, out: shapes.append(out.shape))
    lin(minicnn.randn(4, 2))
    handle.remove()
    lin(minicnn.randn(4, 2))
    assert shapes == [(4, 3)]


def test_deepcopy_gives_an_independent_model(vgg_like):
    model = vgg_like(nn)
    clone = copy.deepcopy(model)
    clone.features[0].weight.data += 1
    assert not np.array_equal(clone.features[0].weight.numpy(), model.features[0].weight.numpy())
    assert list(clone.state_dict()) == list(model.state_dict())


def test_register_buffer_rules():
    m = nn.Module()
    m.register_buffer("count", np.zeros(2, np.int64))
    m.register_buffer("scratch", np.zeros(2, np.float32), persistent=False)
    m.register_buffer("nothing", None)
    assert list(m.state_dict()) == ["count"]
    m.count = np.ones(2, np.int64)  # re-assigning a buffer keeps it a buffer
    assert isinstance(m._buffers["count"], Tensor) and m.state_dict()["count"].tolist() == [1, 1]
    with pytest.raises(KeyError, match="without '.'"):
        m.register_buffer("a.b", np.zeros(1))
    with pytest.raises(TypeError, match="register_parameter"):
        m.register_buffer("w", nn.Parameter(np.zeros(1, np.float32)))


def test_sequential_from_ordered_dict_names_its_layers():
    model = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 2, 3), act=nn.ReLU()))
    assert list(model.state_dict()) == ["conv.weight", "conv.bias"]
    assert model.conv is model[0]
