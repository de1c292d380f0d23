"""Problems: stochastic objectives ``E_{x ~ p(x; theta)}[L(x; theta)]`` with named parameters."""

from __future__ import annotations

from gradlab.problems import build
from gradlab.problems.autoencoder import CategoricalAutoencoder
from gradlab.problems.base import ParamLayout, Problem, config_indices, one_hot_configurations
from gradlab.problems.build import available_problems, build_problem, register_problem
from gradlab.problems.data import BINARIZATIONS, DATASETS, Dataset, digits, load_dataset
from gradlab.problems.data_model import DataKeywords, DataModel, DataSpec
from gradlab.problems.hierarchical import HierarchicalVAE, SigmoidBeliefNet
from gradlab.problems.logic_gates import LogicGateNetwork
from gradlab.problems.quantized import QuantizedNetwork
from gradlab.problems.simple import QUANTIZATION_LOSSES, Binary, MultiCategorical, QuantizationUnit, SingleCategorical
from gradlab.problems.stochastic_model import DrawSpec, StochasticModel
from gradlab.problems.vae import EMBEDDINGS, ENCODERS, CategoricalVAE, VAEArchitecture, init_vae_params

LAYER = 2  # this folder's layer, bottom up (tests/test_layers.py, docs/ARCHITECTURE.md)

__all__ = [
    "build",
    "build_problem",
    "register_problem",
    "available_problems",
    "Problem",
    "ParamLayout",
    "StochasticModel",
    "DrawSpec",
    "SigmoidBeliefNet",
    "HierarchicalVAE",
    "DataModel",
    "DataSpec",
    "DataKeywords",
    "QuantizedNetwork",
    "LogicGateNetwork",
    "CategoricalAutoencoder",
    "SingleCategorical",
    "Binary",
    "MultiCategorical",
    "QuantizationUnit",
    "QUANTIZATION_LOSSES",
    "CategoricalVAE",
    "VAEArchitecture",
    "init_vae_params",
    "EMBEDDINGS",
    "ENCODERS",
    "Dataset",
    "digits",
    "load_dataset",
    "DATASETS",
    "BINARIZATIONS",
    "config_indices",
    "one_hot_configurations",
]
