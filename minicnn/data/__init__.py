"""Datasets, mini-batches and augmentation (NumPy in, minicnn Tensors out).

    dataset.py       Dataset, TensorDataset, Subset, random_split
    loader.py        DataLoader: shuffled (B, C, H, W) float32 / (B,) int64 batches
    digits.py        5,000 MNIST digits shipped with minicnn (no network)
    mnist.py         MNIST and Fashion-MNIST from IDX files
    cifar.py         CIFAR-10 / CIFAR-100 from the python tarballs (safe unpickling)
    image_folder.py  class-per-folder image files (Pillow)
    augment.py       vectorised batch augmentation: flips, crops, rotation, colour, noise

Example:
    >>> from minicnn.data import digits_loaders
    >>> train, test = digits_loaders(batch_size=64, seed=0)
    >>> images, labels = next(iter(train))      # (64, 1, 28, 28) float32, (64,) int64
"""
from __future__ import annotations

from minicnn.data import augment
from minicnn.data.cifar import CIFAR10, CIFAR100, load_cifar
from minicnn.data.dataset import Dataset, Subset, TensorDataset, random_split
from minicnn.data.digits import DigitsDataset, digits_loaders, load_digits
from minicnn.data.image_folder import ImageFolder
from minicnn.data.loader import DataLoader, default_collate
from minicnn.data.mnist import MNIST, FashionMNIST, load_mnist, read_idx

__all__ = [
    "augment", "Dataset", "TensorDataset", "Subset", "random_split", "DataLoader",
    "default_collate", "load_digits", "DigitsDataset", "digits_loaders", "MNIST",
    "FashionMNIST", "load_mnist", "read_idx", "CIFAR10", "CIFAR100", "load_cifar",
    "ImageFolder",
]
