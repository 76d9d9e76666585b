"""Keras HDF5 reader (Keras 2 and Keras 3 layouts) and the layout conversion helpers."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from minicnn.io import (
    WeightFileError, conv_kernel_hwio_to_oihw, dense_in_out_to_out_in,
    permute_dense_rows_nhwc_to_nchw, read_keras_h5,
)

h5py = pytest.importorskip("h5py")


def vgg_notop_layers(rng):
    """Keras-Applications-style VGG layers: (layer, [(weight_name, array), ...])."""
    def conv(name, c_in, c_out):
        return (name, [(f"{name}/kernel:0", rng.standard_normal((3, 3, c_in, c_out), np.float32)),
                       (f"{name}/bias:0", rng.standard_normal(c_out).astype(np.float32))])
    return [("input_1", []), conv("block1_conv1", 3, 4), conv("block1_conv2", 4, 4),
            ("block1_pool", []), conv("block2_conv1", 4, 8), ("flatten", []),
            ("fc1", [("fc1/kernel:0", rng.standard_normal((32, 6), np.float32)),
                     ("fc1/bias:0", rng.standard_normal(6).astype(np.float32))])]


def expected_arrays(layers):
    return {f"{layer}/{w.split('/')[-1].split(':')[0]}": v
            for layer, weights in layers for w, v in weights}


def assert_arrays_equal(got, want):
    assert list(got) == list(want)
    for key in want:
        assert got[key].dtype == want[key].dtype, key
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


@pytest.mark.parametrize("model_weights", [False, True])
def test_keras2_weights_in_layer_order_with_layouts(tmp_path, rng, write_keras2, model_weights):
    layers = vgg_notop_layers(rng)
    path = tmp_path / "vgg16_notop.h5"
    write_keras2(path, layers, model_weights=model_weights)
    wf = read_keras_h5(path)
    assert wf.format == "keras_h5"
    assert wf.meta["variant"] == ("keras2_model" if model_weights else "keras2")
    assert_arrays_equal(wf.arrays, expected_arrays(layers))
    assert [layer["name"] for layer in wf.meta["layers"]] == [name for name, _ in layers]
    assert wf.meta["layers"][3] == {"name": "block1_pool", "class": None, "weights": []}
    assert wf.meta["layouts"]["block1_conv1/kernel"] == "HWIO"
    assert wf.meta["layouts"]["block1_conv1/bias"] == "(C,)"
    assert wf.meta["layouts"]["fc1/kernel"] == "(in, out)"
    assert wf.meta["original_names"]["fc1/bias"] == "fc1/bias:0"
    assert wf.meta["keras_version"] == "2.13.1"


def test_keras2_chunked_attributes_keras1_names_and_nested_model(tmp_path, rng, write_keras2):
    k = rng.standard_normal((3, 3, 3, 2), np.float32)
    b = rng.standard_normal(2).astype(np.float32)
    layers = [("conv1", [("conv1_W_1:0", k), ("conv1_b_1:0", b)]),   # Keras 1 names
              ("vgg16", [("block1_conv1/kernel:0", k), ("block1_conv1/bias:0", b)]),
              ("dense", [("dense/kernel:0", k[0, 0]), ("dense/bias:0", b)])]
    path = tmp_path / "w.h5"
    write_keras2(path, layers, chunk_layer_names=True)
    wf = read_keras_h5(path)
    assert list(wf.arrays) == ["conv1/kernel", "conv1/bias", "vgg16/block1_conv1/kernel",
                               "vgg16/block1_conv1/bias", "dense/kernel", "dense/bias"]
    np.testing.assert_array_equal(wf.arrays["vgg16/block1_conv1/kernel"], k)
    assert wf.meta["original_names"]["conv1/kernel"] == "conv1_W_1:0"


def test_keras2_model_config_gives_layer_classes(tmp_path, rng, write_keras2):
    config = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "Conv2DTranspose", "config": {"name": "up"}},
        {"class_name": "Dense", "config": {"name": "head"}}]}}
    layers = [("up", [("up/kernel:0", rng.standard_normal((2, 2, 5, 3), np.float32))]),
              ("head", [("head/kernel:0", rng.standard_normal((4, 2), np.float32))])]
    path = tmp_path / "m.h5"
    write_keras2(path, layers, model_weights=True, model_config=json.dumps(config))
    wf = read_keras_h5(path)
    assert wf.meta["layouts"]["up/kernel"] == "HWOI"  # transposed conv: (H, W, out, in)
    assert [layer["class"] for layer in wf.meta["layers"]] == ["Conv2DTranspose", "Dense"]


def test_keras3_layout_names_and_write_order(tmp_path, rng, write_keras3):
    kernel = rng.standard_normal((3, 3, 3, 4), np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    bn = [rng.standard_normal(4).astype(np.float32) for _ in range(4)]
    dense = rng.standard_normal((4, 2), np.float32)
    # Written in model order, which is NOT alphabetical: h5py lists groups by name.
    layers = [("layers/conv2d", [kernel, bias]), ("layers/batch_normalization", bn),
              ("layers/max_pooling2d", []), ("layers/vgg16/layers/block1_conv1", [kernel, bias]),
              ("layers/dense", [dense]), ("layers/odd", [bias, bias[:2], bias])]
    path = tmp_path / "model.weights.h5"
    write_keras3(path, layers)
    wf = read_keras_h5(path)
    assert wf.meta["variant"] == "keras3"
    assert list(wf.arrays) == ["conv2d/kernel", "conv2d/bias", "batch_normalization/gamma",
                               "batch_normalization/beta", "batch_normalization/moving_mean",
                               "batch_normalization/moving_variance",
                               "vgg16/block1_conv1/kernel", "vgg16/block1_conv1/bias",
                               "dense/kernel", "odd/0", "odd/1", "odd/2"]
    np.testing.assert_array_equal(wf.arrays["conv2d/kernel"], kernel)
    np.testing.assert_array_equal(wf.arrays["batch_normalization/moving_variance"], bn[3])
    np.testing.assert_array_equal(wf.arrays["odd/2"], bias)
    assert wf.meta["layouts"]["conv2d/kernel"] == "HWIO"
    assert wf.meta["layouts"]["dense/kernel"] == "(in, out)"
    assert wf.meta["original_names"]["dense/kernel"] == "/layers/dense/vars/0"


# ----------------------------------------------------------------------------- malformed files
def test_missing_weight_dataset_is_named(tmp_path, rng, write_keras2):
    path = tmp_path / "w.h5"
    write_keras2(path, vgg_notop_layers(rng)[:2])
    with h5py.File(path, "a") as f:
        del f["block1_conv1/block1_conv1/bias:0"]
    with pytest.raises(WeightFileError, match="bias:0 is missing or not a dataset"):
        read_keras_h5(path)


def test_unallocated_huge_dataset_is_refused_quickly(tmp_path):
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:  # claims 4 TB, stores nothing
        f.attrs["layer_names"] = [b"fc"]
        f.create_group("fc").attrs["weight_names"] = [b"fc/kernel:0"]
        f.create_dataset("fc/fc/kernel:0", shape=(10**6, 10**6), dtype="f4")
    start = time.perf_counter()
    with pytest.raises(WeightFileError, match=r"claims shape \(1000000, 1000000\)"):
        read_keras_h5(path)
    assert time.perf_counter() - start < 5.0


def test_external_and_non_numeric_datasets_are_refused(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\0" * 16)
    path = tmp_path / "ext.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"a"]
        f.create_group("a").attrs["weight_names"] = [b"a/kernel:0"]
        f.create_dataset("a/a/kernel:0", shape=(4,), dtype="f4", external=[(str(secret), 0, 16)])
    with pytest.raises(WeightFileError, match="reads its data from other files"):
        read_keras_h5(path)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"a"]
        f.create_group("a").attrs["weight_names"] = [b"a/kernel:0"]
        f["a/a/kernel:0"] = np.array([b"text"])
    with pytest.raises(WeightFileError, match="expected a numeric array"):
        read_keras_h5(path)


def test_hdf5_without_keras_layout_and_damaged_files(tmp_path, rng, write_keras2):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.ones(3)
    with pytest.raises(WeightFileError, match="without a Keras weight layout"):
        read_keras_h5(path)
    write_keras2(path, vgg_notop_layers(rng))
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    for n in (0, 8, 100, len(data) // 2, len(data) - 1):
        cut.write_bytes(data[:n])
        with pytest.raises(WeightFileError, match="cut.h5"):
            read_keras_h5(cut)


# ----------------------------------------------------------------------------- layout helpers
def conv_nhwc_hwio(x, k):
    """Keras Conv2D, valid padding, stride 1: y[n,i,j,o] = sum x[n,i+a,j+b,c] k[a,b,c,o]."""
    win = np.lib.stride_tricks.sliding_window_view(x, k.shape[:2], axis=(1, 2))
    return np.einsum("nijcab,abco->nijo", win, k)          # win: (N, OH, OW, C, KH, KW)


def conv_nchw_oihw(x, w):
    """minicnn Conv2d, valid padding, stride 1: y[n,o,i,j] = sum x[n,c,i+a,j+b] w[o,c,a,b]."""
    win = np.lib.stride_tricks.sliding_window_view(x, w.shape[2:], axis=(2, 3))
    return np.einsum("ncijab,ocab->noij", win, w)          # win: (N, C, OH, OW, KH, KW)


def test_conv_kernel_conversion_gives_the_same_convolution(rng):
    x = rng.standard_normal((2, 6, 5, 3))                  # NHWC
    k = rng.standard_normal((3, 2, 3, 4))                  # HWIO, non-square on purpose
    w = conv_kernel_hwio_to_oihw(k)
    assert w.shape == (4, 3, 3, 2) and w.flags.c_contiguous
    assert w[1, 2, 0, 1] == k[0, 1, 2, 1]
    np.testing.assert_allclose(conv_nchw_oihw(x.transpose(0, 3, 1, 2), w),
                               conv_nhwc_hwio(x, k).transpose(0, 3, 1, 2), rtol=1e-12)


def test_dense_conversion_and_flatten_row_permutation(rng):
    C, H, Wd, out = 3, 2, 4, 5
    a = rng.standard_normal((H, Wd, C))                    # one feature map, channels-last
    kernel = rng.standard_normal((H * Wd * C, out))        # Keras Dense kernel (in, out)
    y_keras = a.reshape(-1) @ kernel                       # Keras Flatten: (h, w, c) order
    permuted = permute_dense_rows_nhwc_to_nchw(kernel, C, H, Wd)
    x_minicnn = a.transpose(2, 0, 1).reshape(-1)           # minicnn Flatten: (c, h, w) order
    np.testing.assert_allclose(x_minicnn @ permuted, y_keras, rtol=1e-12)
    W = dense_in_out_to_out_in(permuted)                   # Linear weight (out, in)
    np.testing.assert_allclose(x_minicnn @ W.T, y_keras, rtol=1e-12)
    # Row (c=2, h=1, w=3) of the result is Keras row (h=1, w=3, c=2).
    assert np.array_equal(permuted[(2 * H + 1) * Wd + 3], kernel[(1 * Wd + 3) * C + 2])


def test_layout_helpers_reject_wrong_shapes():
    with pytest.raises(ValueError, match="C\\*H\\*Wd = 3\\*2\\*2 = 12 rows"):
        permute_dense_rows_nhwc_to_nchw(np.zeros((10, 2)), 3, 2, 2)
    with pytest.raises(ValueError, match="4-d"):
        conv_kernel_hwio_to_oihw(np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="2-d"):
        dense_in_out_to_out_in(np.zeros(3))


def test_many_links_to_one_dataset_cannot_blow_up_memory(tmp_path):
    path = tmp_path / "links.h5"
    with h5py.File(path, "w") as f:  # 1 MB stored once, linked under 500 names
        names = [f"w{i}:0".encode() for i in range(500)]
        f.attrs["layer_names"] = [b"fc"]
        group = f.create_group("fc")
        group.attrs["weight_names"] = names
        group["w0:0"] = np.zeros(2**18, np.float32)
        for weight_name in names[1:]:
            group[weight_name.decode()] = group["w0:0"]  # hard link, no new data
    with pytest.raises(WeightFileError, match="more than 16x"):
        read_keras_h5(path)
