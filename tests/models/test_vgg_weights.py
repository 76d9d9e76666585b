"""Named weight sets: registry facts, preprocessing numbers, class names, hash-checked download."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import socket

import numpy as np
import pytest

import minicnn
from minicnn import models
from minicnn.download import DownloadError
from minicnn.models import weights as W
from minicnn.models.preprocessing import CAFFE, TORCHVISION

from vgg_reference import rel_err, torch_vgg


# ------------------------------------------------------------------ preprocessing
def test_torchvision_preprocessing_of_a_known_pixel():
    pixel = np.array([[[[255, 128, 0]]]], dtype=np.uint8)            # (1, 1, 1, 3) RGB
    out = TORCHVISION(pixel)
    assert out.shape == (1, 3, 1, 1) and out.dtype == np.float32
    expected = [(1 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (0 - 0.406) / 0.225]
    np.testing.assert_allclose(out.numpy().ravel(), expected, rtol=1e-6)   # 2.2489, 0.2052, -1.8044


def test_caffe_preprocessing_of_a_known_pixel_is_bgr_0_255_minus_the_mean():
    pixel = np.array([[[[255, 128, 0]]]], dtype=np.uint8)
    out = CAFFE(pixel).numpy().ravel()                               # B, G, R
    np.testing.assert_allclose(out, [0 - 103.939, 128 - 116.779, 255 - 123.68], rtol=1e-6)


@pytest.mark.parametrize("recipe", [TORCHVISION, CAFFE], ids=lambda r: r.name)
def test_uint8_channels_last_and_float_channels_first_give_the_same_input(recipe):
    pixels = np.random.default_rng(0).integers(0, 256, (2, 5, 4, 3), dtype=np.uint8)
    floats = pixels.transpose(0, 3, 1, 2).astype(np.float32) / 255     # (N, 3, H, W) in [0, 1]
    a, b = recipe(pixels).numpy(), recipe(floats).numpy()
    assert a.shape == (2, 3, 5, 4) and b.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(recipe(pixels[0]).numpy(), a[:1])       # one (H, W, 3) image


@pytest.mark.parametrize("images, message", [
    (np.full((1, 3, 4, 4), 200.0, np.float32), r"in \[0, 1\], got values in \[200, 200\]"),
    (np.zeros((1, 4, 4, 3), np.float32), r"channels-first RGB \(N, 3, H, W\)"),
    (np.zeros((1, 3, 4, 4), np.uint8), r"channels-last RGB \(N, H, W, 3\)"),
    (np.zeros((4, 4), np.uint8), r"got shape \(4, 4\)"),
])
def test_preprocessing_rejects_ambiguous_input_and_says_what_works(images, message):
    with pytest.raises(ValueError, match=message):
        TORCHVISION(images)


# ------------------------------------------------------------------ class names
def test_imagenet_class_names_are_the_standard_1000_in_order():
    names = models.imagenet_classes()
    assert len(names) == 1000 == len(set(names))
    assert (names[0], names[1], names[281], names[999]) == \
        ("tench", "goldfish", "tabby", "toilet tissue")
    assert (names[134], names[517], names[638], names[639]) == \
        ("crane bird", "crane", "maillot", "maillot tank suit")   # torchvision's unique names


def test_decode_predictions_gives_top_classes_with_softmax_probabilities():
    model = models.VGG(models.make_layers([8, "M"]), include_top=False)   # only the method is used
    model.class_names = list(models.imagenet_classes())
    logits = np.zeros((2, 1000), np.float32)
    logits[0, 281], logits[0, 1] = 5.0, 4.0
    logits[1, 999] = 1.0
    top = model.decode_predictions(minicnn.Tensor(logits), top=2)
    z = np.exp(5.0) + np.exp(4.0) + 998
    assert [(k, name) for k, name, _ in top[0]] == [(281, "tabby"), (1, "goldfish")]
    assert top[0][0][2] == pytest.approx(np.exp(5.0) / z)
    assert top[1][0][:2] == (999, "toilet tissue")


# ------------------------------------------------------------------ the registry
def test_every_vgg_has_torchvisions_file_with_its_sha256_prefix():
    expected = {"vgg11": "8a719046", "vgg13": "19584684", "vgg16": "397923af",
                "vgg19": "dcbb9e9d", "vgg11_bn": "6002323d", "vgg13_bn": "abd245e5",
                "vgg16_bn": "6c64b313", "vgg19_bn": "c79401a0"}
    for arch, prefix in expected.items():
        ws = W.get_weight_set(arch, "imagenet")
        assert ws is W.get_weight_set(arch, "IMAGENET1K_V1") and ws.preprocessing is TORCHVISION
        assert ws.file.filename == f"{arch}-{prefix}.pth" and ws.file.sha256_prefix == prefix
        assert ws.file.urls == (f"https://download.pytorch.org/models/{arch}-{prefix}.pth",)


def test_keras_sets_exist_for_vgg16_and_vgg19_with_md5_and_notop_files():
    ws = W.get_weight_set("vgg16", "keras")
    assert ws.source_layout == "keras" and ws.preprocessing is CAFFE
    assert ws.file_for(True).md5 == "64373286793e3c8b2b4e3219cbf3544b"
    assert ws.file_for(False).filename == "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert ws.file_for(False).urls[0] == ("https://github.com/fchollet/deep-learning-models/"
                                          "releases/download/v0.1/"
                                          "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert W.get_weight_set("vgg19", "KERAS").file.md5 == "cbe5617147190e668d6c5d5026f83318"
    with pytest.raises(ValueError, match="vgg11 has no 'KERAS' weights.*IMAGENET1K_V1"):
        W.get_weight_set("vgg11", "keras")
    assert W.get_weight_set("vgg16", "some/file.pth") is None        # not a name: a path


def test_unknown_weights_name_and_missing_file_say_what_works():
    with pytest.raises(ValueError, match="no such weight set and no such file.*'IMAGENET1K_V1'"):
        models.vgg11(weights="imagenett", include_top=False)
    with pytest.raises(ValueError, match=r"num_classes=1000 and replace the last layer"):
        models.vgg11(weights="imagenet", num_classes=10)


# ------------------------------------------------------------------ download
def _remote(base: str, name: str, body: bytes, files: dict, *, md5: str | None = None,
            prefix: str | None = None) -> W.RemoteFile:
    files["/" + name] = body
    return W.RemoteFile(name, (f"{base}/{name}",), sha256_prefix=prefix, md5=md5)


def _set(remote: W.RemoteFile, arch: str = "vgg11") -> W.WeightSet:
    return W.WeightSet(arch, "IMAGENET1K_V1", remote, None, "torch", TORCHVISION)


def test_fetch_accepts_a_file_whose_name_carries_its_sha256_prefix(file_server, tmp_path):
    base, files = file_server
    body = b"weights" * 1000
    prefix = hashlib.sha256(body).hexdigest()[:8]
    remote = _remote(base, f"tiny-{prefix}.pth", body, files, prefix=prefix)
    path = W.fetch(_set(remote), progress=False)
    assert path == tmp_path / "minicnn_home" / "models" / f"tiny-{prefix}.pth"
    assert path.read_bytes() == body
    files.clear()                                    # cached: no second download
    assert W.fetch(_set(remote), progress=False) == path


def test_fetch_rejects_and_deletes_a_file_with_the_wrong_prefix(file_server, tmp_path):
    base, files = file_server
    body = b"not the weights you want"
    remote = _remote(base, "tiny-00000000.pth", body, files, prefix="00000000")
    with pytest.raises(DownloadError, match="does not start with '00000000'") as err:
        W.fetch(_set(remote), progress=False)
    assert not (tmp_path / "minicnn_home" / "models" / "tiny-00000000.pth").exists()
    assert hashlib.sha256(body).hexdigest() in str(err.value)


def test_fetch_keeps_but_refuses_a_wrong_file_already_in_the_cache(file_server, tmp_path):
    base, files = file_server
    remote = _remote(base, "tiny-00000000.pth", b"x", files, prefix="00000000")
    cached = tmp_path / "minicnn_home" / "models" / "tiny-00000000.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"hand-placed file")
    with pytest.raises(ValueError, match="delete it to download it again"):
        W.fetch(_set(remote), progress=False)
    assert cached.read_bytes() == b"hand-placed file"


def test_fetch_checks_keras_md5(file_server):
    base, files = file_server
    body = b"keras weights"
    good = _remote(base, "good.h5", body, files, md5=hashlib.md5(body).hexdigest())
    assert W.fetch(_set(good), progress=False).read_bytes() == body
    bad = _remote(base, "bad.h5", body, files, md5="0" * 32)
    with pytest.raises(DownloadError, match=f"its MD5 is {hashlib.md5(body).hexdigest()}"):
        W.fetch(_set(bad), progress=False)


def test_offline_message_says_which_file_to_put_where(tmp_path):
    with socket.socket() as s:                       # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    remote = W.RemoteFile("vgg11-8a719046.pth", (f"http://127.0.0.1:{port}/vgg11-8a719046.pth",),
                          sha256_prefix="8a719046")
    with pytest.raises(DownloadError) as err:
        W.fetch(_set(remote), progress=False)
    message = str(err.value)
    assert "download the file by hand" in message and "'vgg11-8a719046.pth'" in message
    assert str(tmp_path / "minicnn_home" / "models") in message


def test_named_weights_download_load_and_carry_their_recipe(file_server, monkeypatch):
    """vgg11(weights="imagenet") end to end against 127.0.0.1, with a features-only file."""
    torch = pytest.importorskip("torch")
    base, files = file_server
    ref = torch_vgg("vgg11", include_top=False, seed=4)
    buffer = io.BytesIO()
    torch.save(ref.state_dict(), buffer)
    body = buffer.getvalue()
    prefix = hashlib.sha256(body).hexdigest()[:8]
    real = W.WEIGHT_SETS["vgg11"]["IMAGENET1K_V1"]
    remote = _remote(base, f"vgg11-{prefix}.pth", body, files, prefix=prefix)
    monkeypatch.setitem(W.WEIGHT_SETS["vgg11"], "IMAGENET1K_V1",
                        dataclasses.replace(real, file=remote))

    model = models.vgg11(weights="imagenet", include_top=False, progress=False).eval()
    assert model.weights_name == "IMAGENET1K_V1" and model.preprocessing is TORCHVISION
    pixels = np.random.default_rng(5).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    x = model.preprocess(pixels)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x.numpy())).numpy()
    with minicnn.no_grad():
        assert rel_err(model(x).numpy(), expected) < 1e-4
