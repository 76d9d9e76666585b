"""``save_torch_state_dict``: a .pth written without torch that ``torch.load(weights_only=True)``
reads and torch.nn models load, giving the same outputs."""
from __future__ import annotations

import pickletools
import struct
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import minicnn as mc
from minicnn.io import read_torch
from minicnn.models import vgg11_bn
from minicnn.models.vgg import CONFIGS
from minicnn.torch_export import save_torch_state_dict, to_torch_state_dict

from onnx_helpers import relative_error


def mixed_state() -> OrderedDict:
    rng = np.random.default_rng(0)
    return OrderedDict([
        ("conv.weight", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
        ("bn.num_batches_tracked", np.array(7, dtype=np.int64)),            # 0-d
        ("half", rng.standard_normal((2, 5)).astype(np.float16)),
        ("double", rng.standard_normal(3)),
        ("mask", np.array([True, False, True])),
        ("bytes", np.arange(6, dtype=np.uint8).reshape(2, 3)),
        ("empty", np.zeros((0, 4), np.float32)),
        ("transposed", rng.standard_normal((3, 4)).astype(np.float32).T),   # not C-contiguous
    ])


def test_torch_load_weights_only_reads_every_array(tmp_path):
    torch = pytest.importorskip("torch")
    state = mixed_state()
    path = tmp_path / "state.pth"
    save_torch_state_dict(state, path)
    for mmap in (False, True):                               # mmap needs the 64-byte alignment
        loaded = torch.load(path, weights_only=True, mmap=mmap)
        assert isinstance(loaded, OrderedDict) and list(loaded) == list(state)
        for key, array in state.items():
            assert tuple(loaded[key].shape) == array.shape, key
            assert loaded[key].numpy().dtype == array.dtype, key
            np.testing.assert_array_equal(loaded[key].numpy(), array, err_msg=key)


def test_minicnn_reads_it_back_without_torch(tmp_path):
    state = mixed_state()
    save_torch_state_dict(state, tmp_path / "state.pth")
    arrays = read_torch(tmp_path / "state.pth").arrays
    assert list(arrays) == list(state)
    for key, array in state.items():
        np.testing.assert_array_equal(arrays[key], array, err_msg=key)


def test_file_layout_is_torchs(tmp_path):
    save_torch_state_dict(mixed_state(), tmp_path / "state.pth")
    with open(tmp_path / "state.pth", "rb") as f:
        raw = f.read()
    with zipfile.ZipFile(tmp_path / "state.pth") as zf:
        names = zf.namelist()
        assert names[0] == "archive/data.pkl" and "archive/byteorder" in names and "archive/version" in names
        assert zf.read("archive/byteorder") == b"little"
        for info in zf.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
            assert (info.header_offset + 30 + name_len + extra_len) % 64 == 0, info.filename
        pickle_bytes = zf.read("archive/data.pkl")
    globals_used = {arg for op, arg, _ in pickletools.genops(pickle_bytes) if op.name == "GLOBAL"}
    assert globals_used == {"collections OrderedDict", "torch._utils _rebuild_tensor_v2", "torch FloatStorage",
                            "torch LongStorage", "torch HalfStorage", "torch DoubleStorage", "torch BoolStorage",
                            "torch ByteStorage"}
    assert pickle_bytes[:2] == b"\x80\x02"                       # protocol 2, as torch.save


def test_vgg_weights_load_into_torch_and_give_the_same_features(tmp_path):
    """minicnn's VGG keys are torchvision's: load_state_dict(strict=True) works as is."""
    torch = pytest.importorskip("torch")
    model = vgg11_bn(include_top=False, rng=0)
    for m in model.modules():                                   # non-trivial BatchNorm statistics
        if isinstance(m, mc.nn.BatchNorm2d):
            m.running_mean.data[...] = np.linspace(-0.5, 0.5, m.num_features, dtype=np.float32)
            m.running_var.data[...] = np.linspace(0.5, 2.0, m.num_features, dtype=np.float32)
            m.num_batches_tracked.data[...] = 12
    path = tmp_path / "vgg11_bn_features.pth"
    save_torch_state_dict(model, path)

    layers, c = [], 3
    for v in CONFIGS["A"]:
        if v == "M":
            layers.append(torch.nn.MaxPool2d(2, 2))
        else:
            layers += [torch.nn.Conv2d(c, v, 3, padding=1), torch.nn.BatchNorm2d(v), torch.nn.ReLU()]
            c = v
    torch_model = torch.nn.Module()
    torch_model.features = torch.nn.Sequential(*layers)
    torch_model.load_state_dict(torch.load(path, weights_only=True), strict=True)
    torch_model.eval()
    for key, value in torch_model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), model.state_dict()[key], err_msg=key)

    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        theirs = torch_model.features(torch.from_numpy(x)).numpy()
    assert relative_error(model.eval()(x).numpy(), theirs) < 1e-4


def test_to_torch_state_dict_and_its_errors():
    state = to_torch_state_dict({"w": mc.Tensor(np.ones((2, 2), np.float32)), "s": np.array(3)})
    assert state["w"].flags.c_contiguous and state["s"].shape == ()
    with pytest.raises(TypeError, match="complex64"):
        to_torch_state_dict({"z": np.zeros(2, np.complex64)})
    with pytest.raises(TypeError, match="keys must be strings"):
        to_torch_state_dict({0: np.zeros(2)})
    with pytest.raises(TypeError, match="expected a Module or a dict"):
        to_torch_state_dict([np.zeros(2)])
