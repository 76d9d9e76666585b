"""Importing hand-made ONNX graphs (``onnx.helper``): each op's attributes and opset forms,
the tf2onnx NHWC pattern, the flatten shape chains, and the errors.  onnxruntime is the oracle."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn.onnx import OnnxImportError, UnsupportedOpError, load_model

from onnx_helpers import relative_error, run_ort

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402  (after the importorskip)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def make_model(nodes: list, inputs: dict[str, tuple], outputs: list[str] | dict[str, tuple],
               initializers: dict | None = None, opset: int = 13) -> "onnx.ModelProto":
    """A float32 graph: ``inputs`` name -> shape (str entries are free sizes); the outputs'
    shapes are inferred unless given (shape inference cannot see through Shape chains)."""
    out_shapes = outputs if isinstance(outputs, dict) else dict.fromkeys(outputs)
    graph = helper.make_graph(
        nodes, "test",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in out_shapes.items()],
        initializer=[numpy_helper.from_array(v, k) for k, v in (initializers or {}).items()])
    opset_id = helper.make_opsetid("", opset)
    model = helper.make_model(graph, opset_imports=[opset_id],
                              ir_version=helper.find_min_ir_version_for([opset_id]))
    return onnx.shape_inference.infer_shapes(model)       # the checker wants the outputs' shapes


def assert_matches_ort(model: "onnx.ModelProto", *inputs: np.ndarray, tol: float = 1e-5) -> mc.nn.Module:
    imported = load_model(model)
    ours = imported(*inputs)
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = run_ort(model, *inputs)
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype
        assert relative_error(a.numpy(), b) < tol
    return imported


def randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------------- whole patterns
def test_tf2onnx_nhwc_pattern_with_channels_last_flatten(rng):
    """tf2onnx wraps Keras's channels-last layers in Transposes and flattens in (h, w, c) order."""
    nodes = [
        helper.make_node("Transpose", ["x"], ["x_nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["x_nchw", "kernel", "bias"], ["conv"], auto_pad="SAME_UPPER", strides=[1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("MaxPool", ["relu"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Transpose", ["pool"], ["pool_nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["pool_nhwc", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "dense_kernel"], ["dense"]),
        helper.make_node("Add", ["dense", "dense_bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    weights = {"kernel": randn(rng, 4, 3, 3, 3), "bias": randn(rng, 4),
               "flat_shape": np.array([-1, 8 * 8 * 4], dtype=np.int64),
               "dense_kernel": randn(rng, 8 * 8 * 4, 10) * 0.1, "dense_bias": randn(rng, 10)}
    model = make_model(nodes, {"x": ("N", 16, 16, 3)}, ["probs"], weights)
    x = randn(rng, 2, 16, 16, 3)
    imported = assert_matches_ort(model, x)
    assert sorted(n for n, _ in imported.named_parameters()) == ["bias", "dense_bias", "dense_kernel", "kernel"]
    imported(x)[:, 3].sum().backward()                     # gradients reach the conv through the NHWC path
    assert np.abs(imported.kernel.grad.numpy()).sum() > 0


@pytest.mark.parametrize("opset", [11, 13])
def test_shape_gather_unsqueeze_concat_reshape_chain(rng, opset):
    """x.view(x.size(0), -1) as the TorchScript exporter writes it (axes attribute before 13)."""
    unsqueeze = (helper.make_node("Unsqueeze", ["n"], ["n1"], axes=[0]) if opset < 13 else
                 helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"]))
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Shape", ["y"], ["shape"]),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, dtype=np.int64))),
        helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
        unsqueeze,
        helper.make_node("Constant", [], ["minus1"], value=numpy_helper.from_array(np.array([-1], np.int64))),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["y", "target"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["out"], transB=1),
    ]
    weights = {"w": randn(rng, 4, 2, 3, 3), "fc_w": randn(rng, 5, 4 * 6 * 6), "fc_b": randn(rng, 5),
               "axes0": np.array([0], dtype=np.int64)}
    model = make_model(nodes, {"x": ("N", 2, 6, 6)}, {"out": ("N", 5)}, weights, opset=opset)
    imported = assert_matches_ort(model, randn(rng, 3, 2, 6, 6))
    assert "axes0" not in imported.state_dict()            # integer constants stay constants
    assert set(imported.state_dict()) == {"w", "fc_w", "fc_b"}


def test_shape_slice_cast_concat_chain(rng):
    """Another flatten idiom: Shape -> Slice [0:1] -> Concat [-1] -> Cast -> Reshape -> Flatten."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Slice", ["shape", "starts", "ends", "axes"], ["batch"]),
        helper.make_node("Concat", ["batch", "minus1"], ["target_i32"], axis=0),
        helper.make_node("Cast", ["target_i32"], ["target"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Unsqueeze", ["flat", "axes"], ["flat3"]),
        helper.make_node("Squeeze", ["flat3", "axes"], ["flat2"]),
        helper.make_node("Flatten", ["flat2"], ["out"], axis=1),
    ]
    weights = {"starts": np.array([0], np.int64), "ends": np.array([1], np.int64),
               "axes": np.array([0], np.int64), "minus1": np.array([-1], np.int64)}
    model = make_model(nodes, {"x": ("N", 3, 4, 5)}, {"out": ("N", 60)}, weights)
    assert_matches_ort(model, randn(rng, 2, 3, 4, 5))


# ---------------------------------------------------------------------- layer ops
@pytest.mark.parametrize("attrs", [
    dict(pads=[1, 1, 1, 1]),
    dict(pads=[0, 1, 2, 1], strides=[2, 1]),                    # asymmetric: explicit pad first
    dict(auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(auto_pad="SAME_LOWER", strides=[2, 2]),
    dict(auto_pad="VALID", dilations=[2, 2]),
    dict(pads=[2, 2, 2, 2], dilations=[2, 1], group=2),
])
def test_conv_padding_stride_dilation_group(rng, attrs):
    group = attrs.get("group", 1)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)]
    weights = {"w": randn(rng, 6, 4 // group, 3, 3), "b": randn(rng, 6)}
    assert_matches_ort(make_model(nodes, {"x": (2, 4, 9, 8)}, ["y"], weights), randn(rng, 2, 4, 9, 8))


@pytest.mark.parametrize("op, attrs", [
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)),
    ("MaxPool", dict(kernel_shape=[2, 2], auto_pad="SAME_UPPER", strides=[2, 2])),
    ("MaxPool", dict(kernel_shape=[3, 3], dilations=[2, 2])),
    ("MaxPool", dict(kernel_shape=[3, 2])),                      # stride defaults to 1 in ONNX
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),  # count_include_pad=0
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")),
    ("AveragePool", dict(kernel_shape=[2, 2], pads=[0, 0, 1, 1], count_include_pad=1)),
    ("GlobalAveragePool", dict()),
])
def test_pooling(rng, op, attrs):
    model = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], {"x": (2, 3, 9, 10)}, ["y"])
    assert_matches_ort(model, randn(rng, 2, 3, 9, 10))


@pytest.mark.parametrize("alpha, beta, trans_a, trans_b, c_shape", [
    (1.0, 1.0, 0, 1, (5,)),           # nn.Linear
    (0.5, 2.0, 0, 0, (1, 5)),
    (1.0, 1.0, 1, 1, (3, 5)),
    (2.0, 0.0, 1, 0, (5,)),
    (1.0, 1.0, 0, 1, None),           # no C
])
def test_gemm_alpha_beta_transposes(rng, alpha, beta, trans_a, trans_b, c_shape):
    a = randn(rng, 4, 3) if trans_a else randn(rng, 3, 4)
    b = randn(rng, 5, 4) if trans_b else randn(rng, 4, 5)
    weights = {"B": b} if c_shape is None else {"B": b, "C": randn(rng, *c_shape)}
    node = helper.make_node("Gemm", ["A", "B"] + (["C"] if c_shape else []), ["Y"], alpha=alpha, beta=beta,
                            transA=trans_a, transB=trans_b)
    assert_matches_ort(make_model([node], {"A": a.shape}, ["Y"], weights), a)


@pytest.mark.parametrize("opset", [9, 15])
def test_batch_normalization_eval_and_train(rng, opset):
    C = 3
    weights = {"scale": randn(rng, C), "B": randn(rng, C), "mean": randn(rng, C),
               "var": rng.uniform(0.5, 2, C).astype(np.float32)}
    node = helper.make_node("BatchNormalization", ["x", "scale", "B", "mean", "var"], ["y"],
                            epsilon=1e-3, momentum=0.8)
    model = make_model([node], {"x": ("N", C, 4, 5)}, ["y"], weights, opset=opset)
    x = randn(rng, 4, C, 4, 5)
    imported = assert_matches_ort(model, x)
    assert sorted(dict(imported.named_parameters())) == ["B", "scale"]
    assert sorted(dict(imported.named_buffers())) == ["mean", "var"]
    imported.train()
    y = imported(x).numpy()
    batch_mean = x.mean(axis=(0, 2, 3))
    x_hat = (x - batch_mean[:, None, None]) / np.sqrt(x.var(axis=(0, 2, 3))[:, None, None] + 1e-3)
    np.testing.assert_allclose(y, x_hat * weights["scale"][:, None, None] + weights["B"][:, None, None],
                               rtol=1e-4, atol=1e-5)
    # ONNX momentum weighs the old value: running = 0.8 * running + 0.2 * batch
    np.testing.assert_allclose(imported.mean.numpy(), 0.8 * weights["mean"] + 0.2 * batch_mean, rtol=1e-5)


@pytest.mark.parametrize("opset", [10, 13])
def test_dropout_follows_the_module_mode(rng, opset):
    inputs = ["x"] if opset < 12 else ["x", "ratio"]
    attrs = dict(ratio=0.25) if opset < 12 else {}
    weights = {} if opset < 12 else {"ratio": np.array(0.25, dtype=np.float32)}
    model = make_model([helper.make_node("Dropout", inputs, ["y"], **attrs)], {"x": (200, 100)}, ["y"],
                       weights, opset=opset)
    x = np.ones((200, 100), np.float32)
    imported = assert_matches_ort(model, x)                # evaluation: the identity
    assert list(imported.state_dict()) == []               # the ratio is a constant, not a weight
    imported.train()
    y = imported(x).numpy()
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_axis_semantics_changed_at_opset_13(rng, opset):
    model = make_model([helper.make_node("Softmax", ["x"], ["y"], axis=1),
                        helper.make_node("LogSoftmax", ["x"], ["z"], axis=1)],
                       {"x": (2, 3, 4)}, ["y", "z"], opset=opset)
    assert_matches_ort(model, randn(rng, 2, 3, 4))


@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze_unsqueeze_attribute_and_input_forms(rng, opset):
    if opset < 13:
        nodes = [helper.make_node("Unsqueeze", ["x"], ["u"], axes=[0, -1]),
                 helper.make_node("Squeeze", ["u"], ["y"], axes=[0])]
        weights = {}
    else:
        nodes = [helper.make_node("Unsqueeze", ["x", "two_axes"], ["u"]),
                 helper.make_node("Squeeze", ["u", "one_axis"], ["y"])]
        weights = {"two_axes": np.array([0, -1], np.int64), "one_axis": np.array([0], np.int64)}
    nodes.append(helper.make_node("Squeeze", ["y"], ["z"]))            # no axes: every size-1 axis
    imported = assert_matches_ort(make_model(nodes, {"x": (3, 1, 4)}, ["y", "z"], weights, opset=opset),
                                  randn(rng, 3, 1, 4))
    assert [t.shape for t in imported(randn(rng, 3, 1, 4))] == [(3, 1, 4, 1), (3, 4)]


@pytest.mark.parametrize("opset", [9, 13])
def test_slice_attribute_and_input_forms(rng, opset):
    if opset < 10:
        node = helper.make_node("Slice", ["x"], ["y"], starts=[1, 0], ends=[100, -1], axes=[1, 3])
        weights = {}
    else:
        node = helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"])
        weights = {"starts": np.array([1, -1], np.int64), "ends": np.array([2**62, -(2**62)], np.int64),
                   "axes": np.array([1, 3], np.int64), "steps": np.array([2, -2], np.int64)}
    assert_matches_ort(make_model([node], {"x": (2, 5, 3, 6)}, ["y"], weights, opset=opset),
                       randn(rng, 2, 5, 3, 6))


@pytest.mark.parametrize("opset", [13, 18])
def test_reduce_mean_axes_moved_to_an_input_at_18(rng, opset):
    if opset < 18:
        node, weights = helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=1), {}
    else:
        node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=1)
        weights = {"axes": np.array([2, 3], np.int64)}
    assert_matches_ort(make_model([node], {"x": (2, 3, 4, 5)}, ["y"], weights, opset=opset),
                       randn(rng, 2, 3, 4, 5))


def test_arithmetic_concat_pad_and_activations(rng):
    nodes = [
        helper.make_node("Sub", ["x", "mean"], ["centered"]),
        helper.make_node("Div", ["centered", "std"], ["scaled"]),
        helper.make_node("Mul", ["scaled", "gain"], ["gained"]),
        helper.make_node("Pad", ["gained", "pads", "pad_value"], ["padded"]),
        helper.make_node("LeakyRelu", ["padded"], ["a"], alpha=0.2),
        helper.make_node("Sigmoid", ["padded"], ["b"]),
        helper.make_node("Tanh", ["padded"], ["c"]),
        helper.make_node("Concat", ["a", "b", "c"], ["abc"], axis=1),
        helper.make_node("Identity", ["abc"], ["y"]),
    ]
    weights = {"mean": randn(rng, 1, 3, 1, 1), "std": rng.uniform(1, 2, (1, 3, 1, 1)).astype(np.float32),
               "gain": randn(rng, 3, 1, 1), "pads": np.array([0, 0, 1, 2, 0, 0, 2, 0], np.int64),
               "pad_value": np.array(0.5, np.float32)}
    imported = assert_matches_ort(make_model(nodes, {"x": (2, 3, 4, 4)}, ["y"], weights), randn(rng, 2, 3, 4, 4))
    # float initializers used in arithmetic are weights; the pad value (a constant slot) is not
    assert sorted(dict(imported.named_parameters())) == ["gain", "mean", "std"]


def test_gather_on_data_is_differentiable(rng):
    nodes = [helper.make_node("Gather", ["x", "cols"], ["picked"], axis=1),          # (2, 2, 4)
             helper.make_node("Gather", ["picked", "last"], ["y"], axis=-1),         # 0-d index: (2, 2)
             helper.make_node("Mul", ["y", "w"], ["out"])]
    weights = {"cols": np.array([2, -3], np.int64), "last": np.array(-1, np.int64), "w": randn(rng, 2)}
    x = randn(rng, 2, 3, 4)
    imported = assert_matches_ort(make_model(nodes, {"x": (2, 3, 4)}, ["out"], weights), x)
    xt = mc.Tensor(x, requires_grad=True)
    imported(xt).sum().backward()
    expected = np.zeros((2, 3, 4), np.float32)                 # d out / d x: w at the picked places
    expected[:, 2, -1], expected[:, 0, -1] = weights["w"][0], weights["w"][1]
    np.testing.assert_array_equal(xt.grad.numpy(), expected)
    np.testing.assert_allclose(imported.w.grad.numpy(), x[:, [2, 0], -1].sum(axis=0), rtol=1e-6)


def test_integer_shape_arithmetic_truncates_like_onnx(rng):
    """Shape maths in NumPy: ONNX's integer Div truncates toward zero (NumPy's // floors)."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Div", ["s", "two"], ["half"]),
             helper.make_node("Mul", ["half", "minus1"], ["neg"]),
             helper.make_node("Div", ["neg", "two"], ["q"]),             # [-3, -1] / 2 = [-1, 0]
             helper.make_node("Cast", ["q"], ["qf"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["x", "qf"], ["y"])]
    weights = {"two": np.array([2, 2], np.int64), "minus1": np.array([-1, -1], np.int64)}
    model = make_model(nodes, {"x": (7, 2)}, {"y": (7, 2)}, weights)            # shape [7, 2]: half [3, 1]
    x = randn(rng, 7, 2)
    assert_matches_ort(model, x)
    np.testing.assert_array_equal(load_model(model)(x).numpy(), x + np.array([-1, 0], np.float32))


def test_parameter_names_that_are_not_clean_paths(rng):
    """Dotted names nest; names that cannot (odd dots, clashes with Module methods) are stored flat."""
    nodes = [helper.make_node("Add", ["x", "blocks.0.scale"], ["a"]),
             helper.make_node("Add", ["a", "onnx::Add_7"], ["b"]),
             helper.make_node("Add", ["b", "a..b"], ["c"]),
             helper.make_node("Add", ["c", "forward.weight"], ["d"]),
             helper.make_node("Mul", ["d", "blocks"], ["y"])]
    names = ["blocks.0.scale", "onnx::Add_7", "a..b", "forward.weight", "blocks"]
    weights = {name: randn(rng, 3) for name in names}
    imported = assert_matches_ort(make_model(nodes, {"x": (2, 3)}, ["y"], weights), randn(rng, 2, 3))
    assert imported.weight_names == {"blocks.0.scale": "blocks.0.scale", "onnx::Add_7": "onnx::Add_7",
                                     "a..b": "a__b", "forward.weight": "forward_weight", "blocks": "blocks_"}
    assert set(imported.state_dict()) == set(imported.weight_names.values())


# ---------------------------------------------------------------------- errors and validation
def test_unsupported_op_names_the_op_the_node_and_the_supported_ops(rng):
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu_0"),
             helper.make_node("LSTM", ["r", "W", "R"], ["y"], name="encoder_lstm", hidden_size=2)]
    weights = {"W": randn(rng, 1, 8, 3), "R": randn(rng, 1, 8, 2)}
    model = make_model(nodes, {"x": (4, 1, 3)}, ["y"], weights)
    with pytest.raises(UnsupportedOpError, match=r"op LSTM \(node 'encoder_lstm'\).*supports: .*Conv.*Gemm"):
        load_model(model)


def test_made_up_op_in_a_custom_domain_is_unsupported():
    node = helper.make_node("FancyConv", ["x"], ["y"], name="fancy", domain="com.example")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("com.example", 1)])
    with pytest.raises(UnsupportedOpError, match=r"op com\.example\.FancyConv \(node 'fancy'\)"):
        load_model(model)


def test_too_old_opset_is_refused_with_the_upgrade_recipe():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": (2,)}, ["y"], opset=6)
    with pytest.raises(OnnxImportError, match=r"opset 6 is older than 7.*convert_version"):
        load_model(model)


def test_invalid_model_is_reported_with_the_checker_message():
    nodes = [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Relu", ["x"], ["y"])]  # y twice
    with pytest.raises(OnnxImportError, match="not a valid ONNX model"):
        load_model(make_model(nodes, {"x": (2,)}, ["y"]))


def test_value_read_before_it_is_defined():
    nodes = [helper.make_node("Relu", ["later"], ["y"], name="early"), helper.make_node("Relu", ["x"], ["later"])]
    with pytest.raises(OnnxImportError, match=r"'early'.*reads 'later'.*topological"):
        load_model(make_model(nodes, {"x": (2,)}, ["y"]), check=False)


def test_external_data_is_read_from_the_file_but_refused_in_memory(tmp_path, rng):
    w = randn(rng, 64, 64)
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], {"x": (2, 64)}, ["y"], {"w": w})
    path = tmp_path / "big.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, location="big.data", size_threshold=0)
    assert (tmp_path / "big.data").stat().st_size == w.nbytes
    x = randn(rng, 2, 64)
    imported = load_model(path)
    assert relative_error(imported(x).numpy(), run_ort(path, x)[0]) < 1e-5
    with pytest.raises(OnnxImportError, match="external file.*pass the .onnx file's path"):
        load_model(onnx.load(str(path), load_external_data=False))


def test_corrupt_and_missing_files_are_reported_by_name(tmp_path):
    bad = tmp_path / "not_onnx.onnx"
    bad.write_bytes(b"PK\x03\x04 certainly not a protobuf")
    with pytest.raises(ValueError, match="not_onnx.onnx.*(not a valid ONNX model|reading ONNX model failed)"):
        load_model(bad)
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        load_model(tmp_path / "missing.onnx")


def test_input_dtype_and_count_are_checked(rng):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": ("N", 3)}, ["y"])
    imported = load_model(model)
    with pytest.raises(TypeError, match="must be float32, got float64"):
        imported(mc.Tensor(np.zeros((2, 3))))
    with pytest.raises(TypeError, match="has 1 input"):
        imported(randn(rng, 2, 3), randn(rng, 2, 3))
    assert imported(np.zeros((2, 3))).dtype == np.float32             # arrays are converted


def test_import_minicnn_onnx_does_not_import_onnx():
    code = "import minicnn.onnx, sys; assert 'onnx' not in sys.modules, 'onnx imported eagerly'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_onnx_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)                    # "import onnx" now fails
    with pytest.raises(ImportError, match=r"pip install minicnn\[io\]"):
        load_model("model.onnx")
