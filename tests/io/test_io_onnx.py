"""ONNX initializers: exact values from torch.onnx.export and onnx.helper models."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from minicnn.io import WeightFileError, read_onnx

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def test_torch_export_initializers_match_state_dict(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 6 * 6, 2))
    path = tmp_path / "tiny.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated
        torch.onnx.export(model, torch.zeros(1, 3, 8, 8), str(path), dynamo=False)
    wf = read_onnx(path)
    assert wf.format == "onnx" and wf.meta["producer"] == "pytorch"
    sd = model.state_dict()
    assert list(wf.arrays) == list(sd)
    for key, tensor in sd.items():
        assert wf.arrays[key].dtype == np.float32
        np.testing.assert_array_equal(wf.arrays[key], tensor.numpy(), err_msg=key)


def make_model(initializers: list) -> "onnx.ModelProto":
    node = helper.make_node("Identity", ["x"], ["y"])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([node], "g", [x], [y], initializer=initializers)
    return helper.make_model(graph)


def test_helper_model_dtypes_including_bfloat16(tmp_path, rng):
    w = rng.standard_normal((2, 3)).astype(np.float32)
    steps = np.array([1, -7], dtype=np.int64)
    bf16 = helper.make_tensor("bf16", TensorProto.BFLOAT16, [3], [1.0, -2.5, 0.15625])
    model = make_model([numpy_helper.from_array(w, "w"), numpy_helper.from_array(steps, "steps"),
                        bf16])
    path = tmp_path / "m.onnx"
    onnx.save_model(model, str(path))
    wf = read_onnx(path)
    np.testing.assert_array_equal(wf.arrays["w"], w)
    assert wf.arrays["steps"].dtype == np.int64 and list(wf.arrays["steps"]) == [1, -7]
    assert wf.arrays["bf16"].dtype == np.float32
    np.testing.assert_array_equal(wf.arrays["bf16"], np.array([1.0, -2.5, 0.15625], np.float32))
    assert wf.arrays["w"].flags.writeable


def test_external_data_is_read_and_checked(tmp_path, rng):
    w = rng.standard_normal((64, 64)).astype(np.float32)
    model = make_model([numpy_helper.from_array(w, "big")])
    path = tmp_path / "ext.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, location="ext.data",
                    size_threshold=0)
    wf = read_onnx(path)
    np.testing.assert_array_equal(wf.arrays["big"], w)
    assert wf.meta["external_files"] == ["ext.data"]
    with pytest.raises(WeightFileError, match="allow_external_data=True"):
        read_onnx(path, allow_external_data=False)

    (tmp_path / "ext.data").write_bytes((tmp_path / "ext.data").read_bytes()[:100])
    with pytest.raises(WeightFileError, match="expected 16384 bytes"):
        read_onnx(path)


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "sub/../../secret.bin"])
def test_external_data_outside_the_model_folder_is_refused(tmp_path, location):
    tensor = numpy_helper.from_array(np.zeros(4, np.float32), "w")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\0" * 16)
    path = folder / "m.onnx"
    path.write_bytes(make_model([tensor]).SerializeToString())
    with pytest.raises(WeightFileError, match="inside the model's folder"):
        read_onnx(path)


def test_wrong_raw_size_truncated_and_empty(tmp_path):
    tensor = numpy_helper.from_array(np.zeros(4, np.float32), "w")
    tensor.dims[:] = [1000, 1000]  # claims 4 MB, holds 16 bytes
    path = tmp_path / "lie.onnx"
    path.write_bytes(make_model([tensor]).SerializeToString())
    with pytest.raises(WeightFileError, match="has 16 bytes of data; dims \\[1000, 1000\\]"):
        read_onnx(path)

    good = tmp_path / "good.onnx"
    onnx.save_model(make_model([numpy_helper.from_array(np.ones(50, np.float32), "w")]),
                    str(good))
    data = good.read_bytes()
    cut = tmp_path / "cut.onnx"
    for n in (0, 5, len(data) // 2, len(data) - 1):
        cut.write_bytes(data[:n])
        with pytest.raises(WeightFileError, match="cut.onnx"):
            read_onnx(cut)
