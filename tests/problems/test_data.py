"""Offline data loading: the embedded digits, binarisation, split, and user files (IDX, npz, mat)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from gradlab.problems import data as D


def test_digits_split_and_static_binarisation():
    ds = D.digits()
    assert ds.grey_train.shape == (1617, 64) and ds.grey_valid.shape == (180, 64)
    assert 0 <= float(ds.grey_train.min()) and float(ds.grey_train.max()) <= 1
    b1, b2 = ds.binary("train"), D.digits().binary("train")
    assert torch.equal(b1, b2)  # static: the same binarisation every time, from the fixed seed
    assert set(b1.unique().tolist()) == {0.0, 1.0}
    # the static draw is a Bernoulli sample of the grey levels: mean close to the grey mean (N = 103,488 pixels,
    # sd of the difference < 0.0016; 6 sd bound)
    assert abs(float(b1.mean()) - float(ds.grey_train.mean())) < 0.01
    assert not torch.equal(b1, D.digits(seed=1).binary("train"))
    # the split is a fixed permutation: disjoint and complete
    all_rows = torch.cat([ds.grey_train, ds.grey_valid])
    from sklearn.datasets import load_digits

    ref = torch.as_tensor(load_digits().data / 16.0, dtype=torch.float32)
    assert torch.equal(all_rows.sum(0), ref.sum(0)) or torch.allclose(all_rows.sum(0), ref.sum(0))


def test_threshold_and_dynamic_binarisation():
    ds = D.digits(binarize="threshold")
    assert torch.equal(ds.binary("train"), (ds.grey_train > 0.5).float())
    dyn = D.digits(binarize="dynamic")
    with pytest.raises(TypeError, match="dynamic binarisation needs a torch.Generator"):
        dyn.binary("train")
    a = dyn.binary("train", torch.Generator().manual_seed(0))
    b = dyn.binary("train", torch.Generator().manual_seed(1))
    assert not torch.equal(a, b)


def test_fixed_batch_deterministic():
    ds = D.digits()
    assert torch.equal(ds.fixed_batch(200, 3), ds.fixed_batch(200, 3))
    assert not torch.equal(ds.fixed_batch(200, 3), ds.fixed_batch(200, 4))
    with pytest.raises(ValueError, match="size must be <= 1617"):
        ds.fixed_batch(5000)


def write_idx(path, images):
    n, r, c = images.shape
    raw = struct.pack(">IIII", 2051, n, r, c) + images.astype(np.uint8).tobytes()
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


@pytest.mark.parametrize("layout", ["flat", "torchvision", "gz"])
def test_mnist_from_idx(tmp_path, layout):
    imgs = np.random.default_rng(0).integers(0, 256, size=(50, 28, 28))
    if layout == "torchvision":
        (tmp_path / "MNIST" / "raw").mkdir(parents=True)
        write_idx(tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte", imgs)
    elif layout == "gz":
        write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    else:
        write_idx(tmp_path / "train-images-idx3-ubyte", imgs)
    ds = D.load_dataset("mnist", tmp_path)
    assert ds.grey_train.shape == (45, 784) and ds.grey_valid.shape == (5, 784)
    assert torch.allclose(
        torch.cat([ds.grey_train, ds.grey_valid]).sum(), torch.tensor(imgs.sum() / 255.0, dtype=torch.float32)
    )


def test_labels_travel_with_their_images(tmp_path):
    """IDX label files and npz 'y_train' arrays are split with the same permutation as the images (each image
    here encodes its own label in its first pixel), so classifiers can train on MNIST / Fashion-MNIST by path."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 10, size=40)
    imgs = rng.integers(0, 256, size=(40, 28, 28))
    imgs[:, 0, 0] = labels * 20
    write_idx(tmp_path / "train-images-idx3-ubyte", imgs)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, 40) + labels.astype(np.uint8).tobytes())
    np.savez(tmp_path / "f.npz", x_train=imgs.astype(np.uint8), y_train=labels)
    for ds in (D.load_dataset("fashion_mnist", tmp_path), D.load_dataset("fashion_mnist", tmp_path / "f.npz")):
        for split, y in (("train", ds.labels_train), ("valid", ds.labels_valid)):
            first = torch.round(ds.grey(split)[:, 0] * 255 / 20).to(torch.int64)
            assert torch.equal(first, y)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, 39) + bytes(39))
    with pytest.raises(ValueError, match="not an IDX1 label file for 40 images"):
        D.load_dataset("mnist", tmp_path)


def test_npz_and_mat_files(tmp_path):
    imgs = np.random.default_rng(1).integers(0, 256, size=(20, 28, 28)).astype(np.uint8)
    np.savez(tmp_path / "fmnist.npz", x_train=imgs)
    ds = D.load_dataset("fashion_mnist", tmp_path / "fmnist.npz")
    assert ds.dim == 784 and ds.grey_train.shape[0] == 18
    from scipy.io import savemat

    grey = np.random.default_rng(2).random((784, 30))
    savemat(tmp_path / "chardata.mat", {"data": grey})
    om = D.load_dataset("omniglot", tmp_path)
    assert om.binarize == "dynamic" and om.grey_train.shape == (27, 784)
    np.testing.assert_allclose(
        np.sort(torch.cat([om.grey_train, om.grey_valid]).sum(1).numpy()), np.sort(grey.sum(0)), rtol=1e-5
    )


def test_missing_and_malformed_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="mnist: pass path= to files you already have"):
        D.load_dataset("mnist")
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte\[.gz\] \(and train-labels-idx1-ubyte"):
        D.load_dataset("mnist", tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 40)
    with pytest.raises(ValueError, match="not an IDX3 image file"):
        D.load_dataset("mnist", tmp_path)
    np.savez(tmp_path / "bad.npz", y=np.zeros(3))
    with pytest.raises(ValueError, match="expected an array named one of x_train"):
        D.load_dataset("mnist", tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError, match="chardata.mat"):
        D.load_dataset("omniglot", tmp_path / "nothing")
    with pytest.raises(ValueError, match="name must be one of 'digits', 'mnist5k', 'mnist'"):
        D.load_dataset("cifar")
