"""`minicnn convert`: any weight file -> minicnn .npz with a manifest, usable without conversion."""
from __future__ import annotations

import numpy as np
import pytest

import minicnn
from minicnn.cli import main
from minicnn.io import read_weights
from minicnn.models import vgg11
from vgg_reference import rel_err, torch_vgg, write_keras_h5

torch = pytest.importorskip("torch")


def test_convert_a_keras_notop_file_then_load_it_as_a_torchvision_layout_npz(tmp_path, capsys):
    ref = torch_vgg("vgg11", include_top=False)
    write_keras_h5(tmp_path / "notop.h5", ref, "vgg11", include_top=False)
    assert main(["convert", str(tmp_path / "notop.h5"), str(tmp_path / "vgg11.npz"), "--model", "vgg11", "--no-top"]) == 0
    out = capsys.readouterr().out
    assert "keras_h5 file notop.h5" in out and "preprocessing: caffe" in out

    wf = read_weights(tmp_path / "vgg11.npz")
    manifest = wf.meta["manifest"]
    assert manifest["source_format"] == "keras_h5" and len(manifest["source_sha256"]) == 64
    assert manifest["layout"].startswith("torchvision")
    assert wf.arrays["features.0.weight"].shape == (64, 3, 3, 3)          # OIHW, not Keras' HWIO

    model = vgg11(weights=str(tmp_path / "vgg11.npz"), include_top=False).eval()
    assert model.preprocessing.name == "caffe"                              # carried by the manifest
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with minicnn.no_grad():
        ours = model(minicnn.Tensor(x)).numpy()
    with torch.no_grad():
        theirs = ref.features(torch.from_numpy(x)).numpy()
    assert rel_err(ours, theirs) < 1e-4


def test_convert_without_a_model_keeps_names_and_checksums_every_array(tmp_path):
    state = {"conv.weight": torch.randn(4, 3, 3, 3), "conv.bias": torch.randn(4)}
    torch.save(state, tmp_path / "w.pth")
    assert main(["convert", str(tmp_path / "w.pth"), str(tmp_path / "w.npz")]) == 0
    wf = read_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(wf.arrays["conv.weight"], state["conv.weight"].numpy())
    assert wf.meta["manifest"]["source_format"] == "torch"


def test_convert_refuses_a_destination_that_is_not_npz(tmp_path, capsys):
    torch.save({"w": torch.zeros(2)}, tmp_path / "w.pth")
    assert main(["convert", str(tmp_path / "w.pth"), str(tmp_path / "w.bin")]) == 2
    assert "must end in .npz" in capsys.readouterr().err
