"""load_weights / read_weights: format detection by content, and failure modes shared by
all formats (empty, random, truncated files); no reader imports torch or TensorFlow."""
from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from minicnn.io import (
    WeightFileError, detect_format, load_weights, read_weights, save_npz, save_safetensors,
)


@pytest.fixture
def arrays(rng):
    return {"conv.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
            "conv.bias": rng.standard_normal(4).astype(np.float32)}


def write_all_formats(folder, arrays, write_keras2, write_keras3):
    """One file per format, all named *.bin so the extension cannot help."""
    files = {}
    files["npz"] = folder / "npz.bin"
    save_npz(files["npz"], arrays)
    files["safetensors"] = folder / "st.bin"
    save_safetensors(files["safetensors"], arrays)
    pytest.importorskip("h5py")
    kernel = arrays["conv.weight"].transpose(2, 3, 1, 0)  # HWIO
    files["keras_h5"] = folder / "k2.bin"
    write_keras2(files["keras_h5"], [("conv", [("conv/kernel:0", kernel),
                                               ("conv/bias:0", arrays["conv.bias"])])])
    k3 = folder / "k3.weights.h5"
    write_keras3(k3, [("layers/conv", [kernel, arrays["conv.bias"]])])
    files["keras"] = folder / "keras.bin"
    with zipfile.ZipFile(files["keras"], "w") as zf:
        zf.writestr("metadata.json", "{}")
        zf.writestr("config.json", '{"class_name": "Sequential", "config": {"layers": '
                                   '[{"class_name": "Conv2D", "config": {"name": "conv"}}]}}')
        zf.write(k3, "model.weights.h5")
    onnx = pytest.importorskip("onnx")
    from onnx import helper, numpy_helper
    graph = helper.make_graph([], "g", [], [], initializer=[
        numpy_helper.from_array(v, k) for k, v in arrays.items()])
    files["onnx"] = folder / "onnx.bin"
    onnx.save_model(helper.make_model(graph), str(files["onnx"]))
    torch = pytest.importorskip("torch")
    sd = {k: torch.from_numpy(v) for k, v in arrays.items()}
    files["torch"] = folder / "zip.bin"
    torch.save(sd, files["torch"])
    files["torch-legacy"] = folder / "legacy.bin"
    torch.save(sd, files["torch-legacy"], _use_new_zipfile_serialization=False)
    return files


def test_every_format_is_detected_and_read_exactly(tmp_path, arrays, write_keras2, write_keras3):
    files = write_all_formats(tmp_path, arrays, write_keras2, write_keras3)
    for fmt, path in files.items():
        assert detect_format(path) == fmt.split("-")[0], fmt
        got = load_weights(path)
        if fmt.startswith("keras"):  # Keras names and HWIO layout
            key = "conv/kernel"
            np.testing.assert_array_equal(got[key].transpose(3, 2, 0, 1), arrays["conv.weight"])
            np.testing.assert_array_equal(got["conv/bias"], arrays["conv.bias"])
        else:
            assert list(got) == list(arrays), fmt
            for key, value in arrays.items():
                np.testing.assert_array_equal(got[key], value, err_msg=f"{fmt} {key}")
    wf = read_weights(files["keras"])
    assert wf.meta["variant"] == "keras3" and wf.meta["layers"][0]["class"] == "Conv2D"


def test_unknown_content_lists_the_supported_formats(tmp_path, rng):
    path = tmp_path / "weights.pth"
    cases = {
        b"": "empty file",
        rng.integers(0, 256, 1000, dtype=np.uint8).tobytes(): "supported formats",
        b"just some text, not weights\n": "unrecognized content",
        pickle.dumps({"w": [1.0, 2.0]}): "arbitrary pickles can run code",
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "hello")
    cases[buf.getvalue()] = "a zip archive with members \\['readme.txt'\\]"
    for content, message in cases.items():
        path.write_bytes(content)
        with pytest.raises(WeightFileError, match=message):
            load_weights(path)


def test_random_bytes_never_escape_as_other_errors(tmp_path, rng):
    path = tmp_path / "noise"
    for size in (1, 7, 8, 9, 64, 4096):
        for _ in range(5):
            path.write_bytes(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
            with pytest.raises(WeightFileError):
                load_weights(path)


def test_truncated_files_of_every_format(tmp_path, arrays, write_keras2, write_keras3):
    files = write_all_formats(tmp_path, arrays, write_keras2, write_keras3)
    cut = tmp_path / "cut"
    for fmt, path in files.items():
        data = path.read_bytes()
        for n in (1, 9, len(data) // 4, len(data) // 2, 3 * len(data) // 4, len(data) - 1):
            cut.write_bytes(data[:n])
            with pytest.raises(WeightFileError, match="cut"):
                load_weights(cut)


def _modules_after(code: str) -> set[str]:
    """Run ``code`` in a fresh interpreter; return the heavy modules it left imported."""
    code += ("\nimport sys\nheavy = ('torch', 'tensorflow', 'keras', 'h5py', 'onnx')\n"
             "print(','.join(m for m in heavy if m in sys.modules))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(filter(None, result.stdout.strip().split(",")))


def test_readers_do_not_import_torch_or_tensorflow(tmp_path, arrays, write_keras2,
                                                   write_keras3):
    files = write_all_formats(tmp_path, arrays, write_keras2, write_keras3)
    # Importing every reader module pulls in none of the optional packages...
    assert _modules_after(
        "import minicnn.io, minicnn.io.torch_pth, minicnn.io.torch_pickle\n"
        "import minicnn.io.keras_h5, minicnn.io.safetensors_io, minicnn.io.onnx_weights\n"
        "import minicnn.io.npz, minicnn.io.safe_pickle, minicnn.io.keras_layouts\n"
        f"minicnn.io.load_weights({str(files['npz'])!r})") == set()
    # ...and reading every format (torch files included) never imports torch.
    reads = "".join(f"minicnn.io.load_weights({str(p)!r})\n" for p in files.values())
    assert _modules_after("import minicnn.io\n" + reads) == {"h5py", "onnx"}


def test_corrupted_bytes_fail_as_weight_file_errors(tmp_path, arrays, write_keras2, write_keras3):
    """Seeded byte flips / inserts in every format: a clean error or a clean read, never
    another exception type (a small, fast version of the fuzzing done during development)."""
    files = write_all_formats(tmp_path, arrays, write_keras2, write_keras3)
    rng = np.random.default_rng(1234)
    bad = tmp_path / "corrupt"
    for fmt, path in files.items():
        data = path.read_bytes()
        for _ in range(25):
            mutated = bytearray(data)
            for _ in range(int(rng.integers(1, 4))):
                mutated[int(rng.integers(0, len(mutated)))] = int(rng.integers(0, 256))
            bad.write_bytes(bytes(mutated))
            try:
                load_weights(bad)  # a flip inside float data is still a valid file
            except WeightFileError:
                pass
