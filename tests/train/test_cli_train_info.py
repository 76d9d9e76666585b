"""`minicnn train` and `minicnn info` from the command line."""
from __future__ import annotations

import json

from minicnn.cli import main


def test_train_on_digits_writes_history_checkpoint_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--dataset", "digits", "--epochs", "1", "--optimizer", "adam", "--lr", "1e-3",
            "--batch-size", "128", "--out", str(out)]
    assert main(args) == 0
    assert "test loss" in capsys.readouterr().out
    history = json.loads((out / "history.json").read_text())
    assert len(history["train_loss"]) == 1 and 0.5 < history["val_acc"][0] <= 1.0
    assert (out / "checkpoint.npz").exists() and (out / "history.png").exists()
    # resuming a finished 1-epoch run for 2 epochs trains exactly one more epoch
    assert main(args[:4] + ["2"] + args[5:] + ["--resume"]) == 0
    assert len(json.loads((out / "history.json").read_text())["train_loss"]) == 2


def test_train_reports_a_missing_dataset_clearly(tmp_path, capsys):
    assert main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "nothing"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "minicnn train: error:" in err and "nothing" in err


def test_info_lists_versions_blas_and_kernels(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "numpy" in out and "BLAS" in out and "kernels[" in out and "cuda available: False" in out
    assert "conv2d algorithm:" in out
