"""PyTorch .pth reader: exact values from torch.save files, and refusal of hostile ones."""
from __future__ import annotations

import io
import os
import pickle
import time
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from minicnn.io import UnsafePickleError, WeightFileError, read_torch

torch = pytest.importorskip("torch")

FORMATS = {"zip": True, "legacy": False}  # variant -> _use_new_zipfile_serialization


def vgg_like_state_dict() -> "OrderedDict[str, torch.Tensor]":
    """A tiny state dict with torchvision VGG-BN names, plus awkward dtypes and views."""
    g = torch.Generator().manual_seed(0)
    sd: OrderedDict[str, torch.Tensor] = OrderedDict()
    sd["features.0.weight"] = torch.randn(8, 3, 3, 3, generator=g)
    sd["features.0.bias"] = torch.randn(8, generator=g)
    sd["features.1.weight"] = torch.rand(8, generator=g)          # BatchNorm2d(8)
    sd["features.1.bias"] = torch.randn(8, generator=g)
    sd["features.1.running_mean"] = torch.randn(8, generator=g)
    sd["features.1.running_var"] = torch.rand(8, generator=g)
    sd["features.1.num_batches_tracked"] = torch.tensor(1234)   # int64, 0-d
    sd["features.3.weight"] = torch.randn(16, 8, 3, 3, generator=g)
    sd["features.3.bias"] = torch.randn(16, generator=g)
    shared = torch.randn(24, 10, generator=g)                    # one storage, three views
    sd["classifier.0.weight"] = shared[:20]                      # offset 0, contiguous
    sd["classifier.0.bias"] = shared[20, :]                      # offset 200
    sd["classifier.3.weight"] = shared[21:].t()                  # strided: stride (1, 10)
    sd["classifier.6.weight"] = torch.randn(10, 12, generator=g)[:, ::3]  # stride (12, 3)
    sd["classifier.6.bias"] = torch.randn(10, generator=g).half()
    sd["extra.bf16"] = torch.randn(5, generator=g).bfloat16()
    sd["extra.f64"] = torch.randn(2, 2, generator=g, dtype=torch.float64)
    sd["extra.u8"] = torch.arange(7, dtype=torch.uint8)
    sd["extra.i8"] = torch.tensor([-3, 0, 5], dtype=torch.int8)
    sd["extra.i16"] = torch.tensor([-300, 7], dtype=torch.int16)
    sd["extra.i32"] = torch.tensor([[1, -2]], dtype=torch.int32)
    sd["extra.bool"] = torch.tensor([True, False, True])
    sd["extra.u16"] = torch.tensor([1, 65535]).to(torch.uint16)  # _rebuild_tensor_v3
    sd["extra.empty"] = torch.zeros(0, 4)
    return sd


def expected(t: "torch.Tensor") -> np.ndarray:
    if t.dtype == torch.bfloat16:
        return t.float().numpy()  # bf16 -> float32 is exact
    if t.dtype == torch.uint16:
        return t.to(torch.int32).numpy().astype(np.uint16)
    return t.numpy()


def assert_same(arrays: dict, sd: dict) -> None:
    assert list(arrays) == list(sd)
    for key, tensor in sd.items():
        want = expected(tensor)
        got = arrays[key]
        assert got.dtype == want.dtype and got.shape == want.shape, key
        np.testing.assert_array_equal(got, want, err_msg=key)
        assert got.flags.c_contiguous and got.flags.writeable, key


@pytest.mark.parametrize("variant", FORMATS)
def test_state_dict_values_dtypes_views_match_torch(tmp_path, variant):
    sd = vgg_like_state_dict()
    path = tmp_path / "vgg.pth"
    torch.save(sd, path, _use_new_zipfile_serialization=FORMATS[variant])
    wf = read_torch(path)
    assert wf.format == "torch" and wf.meta["variant"] == variant
    assert wf.meta["state_dict_key"] == ""
    assert_same(wf.arrays, sd)
    # Views of one storage come back as independent arrays.
    wf.arrays["classifier.0.weight"][0, 0] += 1.0
    assert wf.arrays["classifier.3.weight"][0, 0] == expected(sd["classifier.3.weight"])[0, 0]


@pytest.mark.parametrize("variant", FORMATS)
def test_module_state_dict_and_parameters(tmp_path, variant):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                                torch.nn.Flatten(), torch.nn.Linear(4, 2))
    path = tmp_path / "m.pt"
    # keep_vars=True pickles nn.Parameter objects (torch._utils._rebuild_parameter)
    sd = model.state_dict(keep_vars=True)
    torch.save(sd, path, _use_new_zipfile_serialization=FORMATS[variant])
    assert_same(read_torch(path).arrays, {k: v.detach() for k, v in sd.items()})


@pytest.mark.parametrize("variant", FORMATS)
def test_state_dict_is_found_inside_checkpoint(tmp_path, variant):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()  # the optimizer state now holds tensors too
    path = tmp_path / "ckpt.pth"
    checkpoint = {"epoch": 3, "model": model.state_dict(), "optimizer": opt.state_dict()}
    torch.save(checkpoint, path, _use_new_zipfile_serialization=FORMATS[variant])
    wf = read_torch(path)
    assert wf.meta["state_dict_key"] == "model"
    assert wf.meta["extras"] == {"epoch": 3}
    assert_same(wf.arrays, model.state_dict())

    torch.save({"state_dict": model.state_dict(), "ema": {"w": torch.ones(2)}}, path,
               _use_new_zipfile_serialization=FORMATS[variant])
    assert read_torch(path).meta["state_dict_key"] == "state_dict"


def test_ambiguous_checkpoint_needs_key(tmp_path):
    path = tmp_path / "two.pth"
    torch.save({"a": {"w": torch.ones(2)}, "b": {"w": torch.zeros(3)}}, path)
    with pytest.raises(WeightFileError, match="candidates: a, b"):
        read_torch(path)
    np.testing.assert_array_equal(read_torch(path, key="b").arrays["w"], np.zeros(3, np.float32))


@pytest.mark.parametrize("variant", FORMATS)
def test_whole_module_pickle_is_refused(tmp_path, variant):
    path = tmp_path / "model.pth"
    torch.save(torch.nn.Linear(2, 2), path, _use_new_zipfile_serialization=FORMATS[variant])
    with pytest.raises(WeightFileError, match="torch.nn.modules.linear.Linear|nn.Module"):
        read_torch(path)


# ----------------------------------------------------------------------------- hostile files
def write_zip(path, data_pkl: bytes, storages: dict[str, bytes] | None = None,
              byteorder: bytes = b"little", prefix: str = "archive") -> None:
    """A torch zip checkpoint with a hand-made data.pkl."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{prefix}/data.pkl", data_pkl)
        zf.writestr(f"{prefix}/byteorder", byteorder)
        for key, raw in (storages or {}).items():
            zf.writestr(f"{prefix}/data/{key}", raw)
        zf.writestr(f"{prefix}/version", b"3\n")


def write_legacy(path, main_pickle: bytes, keys: list[str] | None = None,
                 storages: bytes = b"") -> None:
    """A legacy torch file: magic, protocol, sys_info, main pickle, keys, storages."""
    sys_info = {"protocol_version": 1001, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}
    with open(path, "wb") as f:
        for obj in (0x1950A86A20F9469CFC6C, 1001, sys_info):
            f.write(pickle.dumps(obj, protocol=2))
        f.write(main_pickle)
        f.write(pickle.dumps(keys or [], protocol=2))
        f.write(storages)


class FakeStorage:
    def __init__(self, pid: tuple) -> None:
        self.pid = pid


class FakeTensor:
    """Pickles exactly like torch's tensor reduce, with the numbers we choose."""

    def __init__(self, storage, offset, size, stride) -> None:
        self.args = (storage, offset, size, stride, False, OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


def torch_pickle(obj) -> bytes:
    class Pickler(pickle.Pickler):
        def persistent_id(self, o):
            return o.pid if isinstance(o, FakeStorage) else None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def zip_storage(numel, key="0"):
    return FakeStorage(("storage", torch.FloatStorage, key, "cpu", numel))


@pytest.mark.parametrize("payload", ["os.system", "os.system-GLOBAL", "builtins.eval",
                                     "subprocess.Popen"])
@pytest.mark.parametrize("variant", FORMATS)
def test_code_execution_payloads_are_refused(tmp_path, evil_pickles, payload, variant):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    data = evil_pickles(marker)[payload]
    if variant == "zip":
        write_zip(path, data)
    else:
        write_legacy(path, data)
    with pytest.raises(UnsafePickleError, match="refused to load the Python global"):
        read_torch(path)
    assert not marker.exists()


def test_the_payload_is_live_under_plain_pickle(tmp_path, evil_pickles):
    """Guards the test above: the same bytes do run code when unpickled naively."""
    marker = tmp_path / "pwned"
    pickle.loads(evil_pickles(marker)["os.system"])
    assert marker.exists()


@pytest.mark.parametrize("variant", FORMATS)
def test_payload_next_to_real_tensors_is_refused(tmp_path, reduce_payload, variant):
    marker = tmp_path / "pwned"
    path = tmp_path / "mixed.pth"
    obj = {"w": torch.ones(3), "evil": reduce_payload(os.system, (f"touch {marker}",))}
    torch.save(obj, path, _use_new_zipfile_serialization=FORMATS[variant])
    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        read_torch(path)
    assert not marker.exists()


def test_big_endian_zip_is_byteswapped(tmp_path):
    values = np.arange(6, dtype=">f4")
    path = tmp_path / "be.pth"
    write_zip(path, torch_pickle({"w": FakeTensor(zip_storage(6), 0, (2, 3), (3, 1))}),
              {"0": values.tobytes()}, byteorder=b"big")
    got = read_torch(path).arrays["w"]
    assert got.dtype == np.float32 and got.dtype.isnative
    np.testing.assert_array_equal(got, np.arange(6, dtype=np.float32).reshape(2, 3))


@pytest.mark.parametrize("tensor, message", [
    (FakeTensor(zip_storage(4), 0, (5,), (1,)), "needs elements up to 5"),
    (FakeTensor(zip_storage(4), 2, (2, 2), (1, 1)), "needs elements up to 5"),
    (FakeTensor(zip_storage(4), 0, (2, 2), (3, 1)), "needs elements up to 5"),
    (FakeTensor(zip_storage(4), 0, (10**6,), (0,)), "expanded"),
    (FakeTensor(zip_storage(4), -1, (2,), (1,)), "expected non-negative ints"),
    (FakeTensor(zip_storage(4), 0, (2, 2), (1,)), "one stride per dim"),
    (FakeTensor(zip_storage(4), 0, "ab", (1,)), "expected non-negative ints"),
    (FakeTensor(zip_storage(10**11), 0, (10**11,), (1,)), "whole file has only"),
    (FakeTensor(zip_storage(4, key="9"), 0, (4,), (1,)), "no member 'archive/data/9'"),
    (FakeTensor(zip_storage(3), 0, (3,), (1,)), "should have 12 bytes"),
])
def test_lying_zip_headers_are_refused_quickly(tmp_path, tensor, message):
    path = tmp_path / "lie.pth"
    write_zip(path, torch_pickle({"w": tensor}), {"0": np.zeros(4, np.float32).tobytes()})
    start = time.perf_counter()
    with pytest.raises(WeightFileError, match=message):
        read_torch(path)
    assert time.perf_counter() - start < 5.0


def test_lying_legacy_sizes_are_refused(tmp_path):
    pid = ("storage", torch.FloatStorage, "k", "cpu", 4, None)
    main = torch_pickle({"w": FakeTensor(FakeStorage(pid), 0, (4,), (1,))})
    data = np.arange(4, dtype="<f4").tobytes()
    path = tmp_path / "legacy.pth"

    write_legacy(path, main, ["k"], (4).to_bytes(8, "little") + data)
    np.testing.assert_array_equal(read_torch(path).arrays["w"], np.arange(4, dtype=np.float32))

    write_legacy(path, main, ["k"], (5).to_bytes(8, "little") + data)
    with pytest.raises(WeightFileError, match="5 elements on disk but the pickle says 4"):
        read_torch(path)
    write_legacy(path, main, ["k"], (4).to_bytes(8, "little") + data[:10])
    with pytest.raises(WeightFileError, match="truncated"):
        read_torch(path)
    write_legacy(path, main, ["other"], b"")
    with pytest.raises(WeightFileError, match="never referenced"):
        read_torch(path)
    big = ("storage", torch.FloatStorage, "k", "cpu", 10**12, None)
    write_legacy(path, torch_pickle({"w": FakeTensor(FakeStorage(big), 0, (4,), (1,))}), ["k"])
    with pytest.raises(WeightFileError, match="whole file has only"):
        read_torch(path)


@pytest.mark.parametrize("variant", FORMATS)
def test_truncated_and_empty_files_fail_cleanly(tmp_path, variant):
    path = tmp_path / "full.pth"
    torch.save(vgg_like_state_dict(), path, _use_new_zipfile_serialization=FORMATS[variant])
    data = path.read_bytes()
    cut = tmp_path / "cut.pth"
    for n in (0, 1, 7, 20, 100, len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 1):
        cut.write_bytes(data[:n])
        with pytest.raises(WeightFileError, match="cut.pth"):
            read_torch(cut)


def test_many_views_of_one_storage_cannot_blow_up_memory(tmp_path):
    storage = zip_storage(4000)  # 16 KB stored once ...
    views = {f"w{i}": FakeTensor(storage, 0, (4000,), (1,)) for i in range(2000)}
    path = tmp_path / "views.pth"  # ... viewed 2000 times = 32 MB of arrays
    write_zip(path, torch_pickle(views), {"0": np.zeros(4000, np.float32).tobytes()})
    with pytest.raises(WeightFileError, match="more than 16x"):
        read_torch(path)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated
def test_torchscript_archive_is_refused(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises(WeightFileError, match="TorchScript archive"):
        read_torch(path)


class ModifiedTensor(FakeTensor):
    """Rebuilt, then modified by BUILD to claim a bigger view than was validated."""

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args, {"size": (10**9,)})


def test_build_cannot_modify_validated_objects_or_allowed_globals(tmp_path):
    path = tmp_path / "build.pth"
    data = np.zeros(4, np.float32).tobytes()
    write_zip(path, torch_pickle({"w": ModifiedTensor(zip_storage(4), 0, (4,), (1,))}),
              {"0": data})
    with pytest.raises(UnsafePickleError, match="tried to modify a TensorRef"):
        read_torch(path)
    # GLOBAL torch._utils._rebuild_tensor_v2, EMPTY_DICT, BUILD: patch the function itself
    write_zip(path, b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n}b.", {"0": data})
    with pytest.raises(UnsafePickleError, match="tried to modify a SafeGlobal"):
        read_torch(path)


def test_any_archive_prefix_and_legacy_storage_views(tmp_path):
    values = np.arange(8, dtype="<f4")
    path = tmp_path / "prefix.pth"  # torch 1.6-1.x used the file's stem as the folder
    write_zip(path, torch_pickle({"w": FakeTensor(zip_storage(8), 2, (3,), (2,))}),
              {"0": values.tobytes()}, prefix="my_model")
    np.testing.assert_array_equal(read_torch(path).arrays["w"], [2.0, 4.0, 6.0])

    # Old torch saved storage *views*: elements [3, 3 + 4) of root storage "r".
    view = ("storage", torch.FloatStorage, "r", "cpu", 8, ("v", 3, 4))
    main = torch_pickle({"w": FakeTensor(FakeStorage(view), 1, (2,), (1,))})
    write_legacy(path, main, ["r"], (8).to_bytes(8, "little") + values.tobytes())
    np.testing.assert_array_equal(read_torch(path).arrays["w"], [4.0, 5.0])
    bad = ("storage", torch.FloatStorage, "r", "cpu", 8, ("v", 6, 4))  # ends at 10 > 8
    write_legacy(path, torch_pickle({"w": FakeTensor(FakeStorage(bad), 0, (1,), (1,))}),
                 ["r"], (8).to_bytes(8, "little") + values.tobytes())
    with pytest.raises(WeightFileError, match="storage view"):
        read_torch(path)
