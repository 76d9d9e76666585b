"""Sequential, ModuleList, ModuleDict: indexing, slicing, replacing and deleting like PyTorch."""
import numpy as np
import pytest

import minicnn
from minicnn import nn


def make(nn):
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2, 4))


def test_indexing_including_negative():
    model = make(nn)
    assert isinstance(model[0], nn.Conv2d) and isinstance(model[-1], nn.Linear)
    assert model[-5] is model[0]
    assert len(model) == 5 and [type(m).__name__ for m in model][:2] == ["Conv2d", "ReLU"]
    with pytest.raises(IndexError, match="index 5 is out of range for a Sequential of 5 modules"):
        model[5]


def test_slice_shares_layers_and_keeps_their_names_like_torch():
    torch = pytest.importorskip("torch")
    model = make(nn)
    part = model[1:4]
    assert isinstance(part, nn.Sequential) and part[0] is model[1]
    assert list(part._modules) == list(make(torch.nn)[1:4]._modules) == ["1", "2", "3"]
    assert list(model[::2]._modules) == ["0", "2", "4"]


def test_replacing_the_head_updates_parameters_and_state_dict():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1000))
    old_head = model[-1]
    model[-1] = nn.Linear(16, 10)
    assert model[-1] is not old_head and list(model._modules) == ["0", "1", "2"]  # same key, same place
    params = list(model.parameters())
    assert any(p is model[-1].weight for p in params) and not any(p is old_head.weight for p in params)
    sd = model.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert sd["2.weight"].shape == (10, 16)
    assert model(minicnn.randn(3, 8)).shape == (3, 10)


def test_nested_head_replacement_torchvision_style():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.classifier = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Dropout(), nn.Linear(4, 1000))

    net = Net()
    net.classifier[-1] = nn.Linear(4, 10)
    assert net.state_dict()["classifier.3.weight"].shape == (10, 4)


def test_del_renumbers_like_torch_and_append_extends():
    torch = pytest.importorskip("torch")
    ours, ref = make(nn), make(torch.nn)
    del ours[1]
    del ref[1]
    assert list(ours._modules) == list(ref._modules) == ["0", "1", "2", "3"]
    assert isinstance(ours[1], nn.MaxPool2d)
    assert ours.append(nn.ReLU()) is ours and list(ours._modules)[-1] == "4"
    del ours[1:3]
    assert [type(m).__name__ for m in ours] == ["Conv2d", "Linear", "ReLU"]
    ours.insert(1, nn.Tanh())
    assert [type(m).__name__ for m in ours] == ["Conv2d", "Tanh", "Linear", "ReLU"]


def test_sequential_forward_chains_layers():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    x = minicnn.randn(2, 3)
    np.testing.assert_array_equal(model(x).numpy(), model[1](model[0](x)).numpy())


def test_sequential_rejects_a_list():
    with pytest.raises(TypeError, match="argument 0 is a list, not a Module"):
        nn.Sequential([nn.ReLU()])


def test_module_list_registers_and_indexes():
    blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(blocks) == 3 and len(list(blocks.parameters())) == 6
    assert [n for n, _ in blocks.named_parameters()][:2] == ["0.weight", "0.bias"]
    blocks.append(nn.ReLU())
    blocks[0] = nn.Linear(2, 5)
    assert blocks[0].out_features == 5 and isinstance(blocks[-1], nn.ReLU)
    assert isinstance(blocks[1:], nn.ModuleList) and len(blocks[1:]) == 3
    del blocks[0]
    assert list(blocks._modules) == ["0", "1", "2"]
    blocks += [nn.Tanh()]
    assert len(blocks) == 4


def test_module_dict_registers_by_key():
    heads = nn.ModuleDict({"digit": nn.Linear(4, 10), "parity": nn.Linear(4, 2)})
    assert list(heads) == ["digit", "parity"] and "digit" in heads
    assert list(heads.state_dict())[:2] == ["digit.weight", "digit.bias"]
    heads["sign"] = nn.Linear(4, 1)
    assert list(heads.keys()) == ["digit", "parity", "sign"]
    assert isinstance(heads.pop("parity"), nn.Linear) and len(heads) == 2
    with pytest.raises(KeyError, match="no key 'colour'"):
        heads["colour"]
