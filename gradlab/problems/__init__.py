"""Problems: stochastic objectives ``E_{x ~ p(x; theta)}[L(x; theta)]`` with named parameters."""

from __future__ import annotations

from . import build
from .autoencoder import CategoricalAutoencoder
from .base import ParamLayout, Problem, config_indices, one_hot_configurations
from .build import available_problems, build_problem, register_problem
from .data import BINARIZATIONS, DATASETS, Dataset, digits, load_dataset
from .datamodel import DataModel
from .layered import HierarchicalVAE, SigmoidBeliefNet
from .logic_gates import LogicGateNetwork
from .model import DrawSpec, StochasticModel
from .quantized import QuantizedNetwork
from .simple import QUANTIZATION_LOSSES, Binary, MultiCategorical, QuantizationUnit, SingleCategorical
from .vae import EMBEDDINGS, ENCODERS, CategoricalVAE, VAEArchitecture, init_vae_params

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
