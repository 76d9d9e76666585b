"""Named pretrained weight sets: where each file lives, how to check it, how to use it.

A *weight set* is more than a file.  To get the accuracy its authors measured you also need
the preprocessing its training images went through and the meaning of each output, so every
``WeightSet`` carries all three::

    >>> ws = get_weight_set("vgg16", "imagenet")
    >>> ws.file.filename, ws.preprocessing.name, ws.num_classes
    ('vgg16-397923af.pth', 'torchvision', 1000)

Sets and their sources (facts checked against the libraries' own code):

* ``IMAGENET1K_V1`` (aliases ``imagenet``, ``default``, ``torchvision``): torchvision's
  official files, ``https://download.pytorch.org/models/<arch>-<hash>.pth`` as listed in
  ``torchvision/models/vgg.py``.  The 8 hex digits after the dash are the first digits of the
  file's SHA-256; torch.hub's ``check_hash`` compares them, and so do we.
* ``KERAS`` (alias ``keras``): the Keras Applications files for VGG16 and VGG19,
  ``vgg16_weights_tf_dim_ordering_tf_kernels.h5`` (and ``_notop.h5`` for the convolutional
  base), released at github.com/fchollet/deep-learning-models v0.1 and mirrored on
  storage.googleapis.com.  ``keras_applications/vgg16.py`` and ``vgg19.py`` check them with
  the MD5 ``file_hash`` values copied here.  Channels-last kernels; Caffe preprocessing.

Downloads go to ``minicnn.download.cache_dir("models")`` (``$MINICNN_HOME/models``).
"""
from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .preprocessing import CAFFE, TORCHVISION, Preprocessing

__all__ = ["RemoteFile", "WeightSet", "WEIGHT_SETS", "ALIASES", "get_weight_set",
           "list_weight_sets", "fetch", "imagenet_classes"]

TORCHVISION_URL = "https://download.pytorch.org/models/"
KERAS_URLS = ("https://github.com/fchollet/deep-learning-models/releases/download/v0.1/",
              "https://storage.googleapis.com/tensorflow/keras-applications/{arch}/")


@dataclass(frozen=True)
class RemoteFile:
    """A file to download and the hash that proves it is the right one.

    Attributes:
        filename: name in the cache folder.
        urls: tried in order (official first, then mirrors).
        sha256_prefix: leading hex digits of the SHA-256 (torchvision puts them in the name).
        md5: full MD5 hex digest (what Keras' ``get_file(file_hash=...)`` checks).
    """

    filename: str
    urls: tuple[str, ...]
    sha256_prefix: str | None = None
    md5: str | None = None


@dataclass(frozen=True)
class WeightSet:
    """One named set of pretrained weights for one architecture.

    Attributes:
        arch: ``"vgg16"``, ``"vgg16_bn"``, ...
        name: canonical name, ``"IMAGENET1K_V1"`` or ``"KERAS"``.
        file: the full network (convolutional base and classifier).
        notop_file: the convolutional base alone, if published (Keras); ``include_top=False``
            models otherwise load ``file`` and ignore its classifier.
        source_layout: ``"torch"`` or ``"keras"``: how the file stores its tensors
            (see ``minicnn.io.mapping``).
        preprocessing: what images must go through before the network sees them.
        num_classes: outputs of the classifier (1000 ImageNet classes, index order of
            ``imagenet_classes()``).
    """

    arch: str
    name: str
    file: RemoteFile
    notop_file: RemoteFile | None
    source_layout: str
    preprocessing: Preprocessing
    num_classes: int = 1000

    def file_for(self, include_top: bool) -> RemoteFile:
        return self.file if include_top or self.notop_file is None else self.notop_file


def _torchvision(arch: str, filename: str) -> WeightSet:
    prefix = filename.rsplit("-", 1)[1].split(".")[0]               # "vgg16-397923af.pth"
    return WeightSet(arch, "IMAGENET1K_V1",
                     RemoteFile(filename, (TORCHVISION_URL + filename,), sha256_prefix=prefix),
                     None, "torch", TORCHVISION)


def _keras(arch: str, md5_top: str, md5_notop: str) -> WeightSet:
    def remote(suffix: str, md5: str) -> RemoteFile:
        filename = f"{arch}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
        return RemoteFile(filename, tuple(u.format(arch=arch) + filename for u in KERAS_URLS),
                          md5=md5)
    return WeightSet(arch, "KERAS", remote("", md5_top), remote("_notop", md5_notop),
                     "keras", CAFFE)


# WEIGHT_SETS[arch][name]
WEIGHT_SETS: dict[str, dict[str, WeightSet]] = {arch: {} for arch in (
    "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn")}
for _arch, _file in [("vgg11", "vgg11-8a719046.pth"), ("vgg13", "vgg13-19584684.pth"),
                     ("vgg16", "vgg16-397923af.pth"), ("vgg19", "vgg19-dcbb9e9d.pth"),
                     ("vgg11_bn", "vgg11_bn-6002323d.pth"), ("vgg13_bn", "vgg13_bn-abd245e5.pth"),
                     ("vgg16_bn", "vgg16_bn-6c64b313.pth"), ("vgg19_bn", "vgg19_bn-c79401a0.pth")]:
    WEIGHT_SETS[_arch]["IMAGENET1K_V1"] = _torchvision(_arch, _file)
WEIGHT_SETS["vgg16"]["KERAS"] = _keras("vgg16", "64373286793e3c8b2b4e3219cbf3544b",
                                       "6d6bbae143d832006294945121d1f1fc")
WEIGHT_SETS["vgg19"]["KERAS"] = _keras("vgg19", "cbe5617147190e668d6c5d5026f83318",
                                       "253f8cb515780f3b799900260a226db6")

# Lower-case aliases -> canonical names.
ALIASES = {"imagenet": "IMAGENET1K_V1", "default": "IMAGENET1K_V1",
           "torchvision": "IMAGENET1K_V1", "imagenet1k_v1": "IMAGENET1K_V1", "keras": "KERAS"}


def list_weight_sets(arch: str) -> list[str]:
    """Canonical names of the weight sets of ``arch``, e.g. ``['IMAGENET1K_V1', 'KERAS']``."""
    return list(WEIGHT_SETS.get(arch, {}))


def get_weight_set(arch: str, name: str) -> WeightSet | None:
    """The weight set called ``name`` (case-insensitive, aliases allowed) for ``arch``.

    Returns None when ``name`` is no weight set name at all (it may be a file path).

    Raises:
        ValueError: ``name`` is a weight set name, but ``arch`` has no such set.
    """
    canonical = ALIASES.get(name.lower(), name.upper())
    known = {n for sets in WEIGHT_SETS.values() for n in sets}
    if canonical not in known:
        return None
    sets = WEIGHT_SETS.get(arch, {})
    if canonical not in sets:
        raise ValueError(
            f"{arch} has no {canonical!r} weights (Keras publishes VGG16 and VGG19 only, "
            f"without BatchNorm); available for {arch}: {', '.join(sets) or 'none'}, "
            "or pass the path of a weight file")
    return sets[canonical]


def fetch(weight_set: WeightSet, include_top: bool = True, progress: bool = True) -> Path:
    """Download the set's file into the cache (once) and check its hash; return its path.

    A cached file is checked again on every call (hashing ~500 MB takes about a second), so
    a truncated or replaced file is never loaded.  A freshly downloaded file with the wrong
    hash is deleted; a wrong file that was already there is left for you to delete.

    Raises:
        minicnn.download.DownloadError: offline or no URL worked; the message says which
            file to put where.
        ValueError: the file's hash is wrong.
    """
    from minicnn.download import DownloadError, cache_dir, download_url

    remote = weight_set.file_for(include_top)
    dest = cache_dir("models") / remote.filename
    existed = dest.exists()
    path = download_url(list(remote.urls), dest, None, progress=progress)
    problem = _hash_problem(path, remote)
    if problem is None:
        return path
    if existed:
        raise ValueError(f"{path} is not the expected file: {problem}. It is corrupted or a "
                         "different version; delete it to download it again.")
    os.remove(path)                                    # never keep bytes we know are wrong
    reason = f"{remote.urls[0]}: {problem} (the downloaded file was deleted)"
    raise DownloadError(f"could not download {remote.filename!r}:\n  {reason}", path,
                        list(remote.urls), [reason])


def _hash_problem(path: Path, remote: RemoteFile) -> str | None:
    """None if ``path`` has the expected hash, else what is wrong (torch.hub's check_hash)."""
    from minicnn.download import sha256_file

    if remote.sha256_prefix:
        digest = sha256_file(path)
        if not digest.startswith(remote.sha256_prefix):
            return (f"its SHA-256 is {digest}, which does not start with "
                    f"{remote.sha256_prefix!r} as the file name promises")
    if remote.md5:
        md5 = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                md5.update(chunk)
        if md5.hexdigest() != remote.md5:
            return f"its MD5 is {md5.hexdigest()}, expected {remote.md5}"
    return None


@functools.lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, by output index: 0 'tench' ... 999 'toilet tissue'.

    Read from ``imagenet_classes.txt`` next to this file (see its header for provenance).
    """
    text = Path(__file__).with_name("imagenet_classes.txt").read_text(encoding="utf-8")
    names = tuple(line for line in text.splitlines() if line and not line.startswith("#"))
    if len(names) != 1000:
        raise RuntimeError(f"imagenet_classes.txt has {len(names)} names, expected 1000; "
                           "the installed file is damaged")
    return names
