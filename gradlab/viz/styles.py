"""How estimator families look in figures: a colour and marker per family (a user's family gets one fixed by its
name), the groups of settings a figure draws as one curve (a family with every hyper-parameter it declares fixed
except the one its curve runs along, which the estimator declares: ``curve_field``, read by :func:`varied_field`),
legend labels, and settings that coincide with another family's. Asked of the estimator classes, never of their
names."""

from __future__ import annotations

import dataclasses
import re
import zlib

import numpy as np
import xarray as xr

from gradlab.core import names as N

__all__ = [
    "FAMILY_STYLE",
    "LINESTYLES",
    "coinciding",
    "family_style",
    "groups",
    "hparam_names",
    "short_label",
    "styled_groups",
    "temperature_axis",
    "varied",
]

FAMILY_STYLE = {
    "gs": ("tab:blue", "o"),
    "gs_st": ("tab:orange", "s"),
    "gr_mc": ("tab:green", "^"),
    "zgr": ("tab:red", "*"),
    "st": ("tab:purple", "D"),
    "st_zgr": ("tab:brown", "v"),
    "reinforce": ("tab:gray", "X"),
    "reinmax": ("tab:pink", "P"),
    "decoupled_st": ("tab:olive", "h"),
    "darn": ("tab:cyan", "<"),
    "identity_st": ("black", ">"),
    "gapped_st": ("darkviolet", "d"),
    "gs_sparsemax": ("steelblue", "p"),
    "hard_concrete": ("teal", "1"),
    "arm": ("dimgray", "2"),
    "disarm": ("darkgray", "3"),
    "rebar": ("goldenrod", "4"),
    "relax": ("darkgoldenrod", "8"),
    "rb_reinforce": ("slategray", "+"),
    "gs_entmax": ("lightseagreen", "x"),
    "unordered_set": ("rosybrown", "H"),
    "arsm": ("sienna", "|"),
    "priority_reinforce": ("peru", "_"),
}


def short_label(label: str, digits: int = 2) -> str:
    """A label with its numbers rounded for a legend: ``gs(t=0.693147)`` -> ``gs(t=0.69)`` (the coordinates
    keep full precision)."""
    return re.sub(r"(?<==)(-?\d+\.\d+(?:e-?\d+)?)", lambda m: f"{float(m.group(1)):.{digits}g}", str(label))


def coinciding(ds: xr.Dataset, variables=(N.BIAS2, N.VARIANCE), rtol: float = 1e-6) -> dict[int, int]:
    """``{i: j}`` for settings ``i`` of another family whose values equal those of an earlier setting ``j``
    to ``rtol`` in every variable (e.g. ReinMax(t=1) and ZGR, the same estimator): drawn over each other."""
    vals = np.stack([ds[v].values.astype(float) for v in variables], axis=1)
    fam = ds[N.FAMILY].values
    out = {}
    for i in range(len(vals)):
        for j in range(i):
            if fam[i] != fam[j] and np.allclose(vals[i], vals[j], rtol=rtol, atol=0.0):
                out[i] = j
                break
    return out


LINESTYLES = ("-", "--", "-.", ":")


def varied_field(cls) -> str | None:
    """The hyper-parameter an estimator family's curve runs along in figures: the ``curve_field`` its class declares
    (``alpha`` for ST-ZGR, ``k`` for the sampling-without-replacement estimators, ``steps`` for RELAX), else its last
    temperature (``t``; ``tau_b`` for decoupled ST), else none."""
    field = getattr(cls, "curve_field", None)
    return field or (cls.temperature_fields[-1] if cls.temperature_fields else None)


def varied(family: str) -> str:
    """The hyper-parameter a family's curve runs along, as the estimator declares it (``t`` for others)."""
    from gradlab.estimators import REGISTRY

    cls = REGISTRY.get(family)
    return (varied_field(cls) if cls is not None else None) or "t"


def _quiet_default(family: str, key: str, value) -> bool:
    """A hyper-parameter the estimator leaves out of its label at its default (``quiet_defaults``)."""
    from gradlab.estimators import REGISTRY

    cls = REGISTRY.get(family)
    if cls is None or key not in cls.quiet_defaults:
        return False
    return value == {f.name: f.default for f in dataclasses.fields(cls)}[key]


def temperature_axis(family: str) -> str | None:
    """The temperature a family's curve runs along in a plot against temperature (its varied hyper-parameter
    when that is one of its ``temperature_fields``; ``t`` for most, any name for a user's estimator), else None."""
    from gradlab.estimators import REGISTRY

    cls = REGISTRY.get(family)
    if cls is None:
        return "t"
    field = varied_field(cls)
    return field if field in cls.temperature_fields else None


def hparam_names(family: str) -> list[str]:
    """The hyper-parameters of a family, as its estimator declares them (:data:`names.HPARAMS` for a family this
    process has not registered)."""
    from gradlab.estimators import REGISTRY

    cls = REGISTRY.get(family)
    return [f.name for f in dataclasses.fields(cls)] if cls is not None else list(N.HPARAMS)


def family_style(family: str) -> tuple[str, str]:
    """Colour and marker: the built-in families' (:data:`FAMILY_STYLE`), else one fixed by the family's name."""
    if family in FAMILY_STYLE:
        return FAMILY_STYLE[family]
    colours = ("crimson", "navy", "darkgreen", "orchid", "chocolate", "olivedrab", "deeppink", "midnightblue")
    markers = "os^DvP*Xh"  # colours no built-in family has
    code = zlib.crc32(family.encode())
    return colours[code % len(colours)], markers[(code // len(colours)) % len(markers)]


def groups(ds: xr.Dataset):
    """Estimator groups: a family with its other hyper-parameters fixed (e.g. gr_mc with m=10), the curve
    running along the family's varied hyper-parameter."""
    groups: dict[str, list[int]] = {}
    fam = ds[N.FAMILY].values
    for i, f in enumerate(fam):
        extra = []
        for key in hparam_names(str(f)):
            along = key in ds.coords and ds[key].dims == (N.ESTIMATOR,)  # not a dimension named alike (RELAX's seed)
            if key == varied(str(f)) or _quiet_default(str(f), key, ds[key].values[i] if along else None):
                continue
            if along:
                v = ds[key].values[i]
                if (isinstance(v, str) and v) or (not isinstance(v, str) and np.isfinite(v)):
                    extra.append(f"{key}={v:g}" if not isinstance(v, str) else f"{key}={v}")
        label = f"{f}({', '.join(extra)})" if extra else str(f)
        groups.setdefault(label, []).append(i)
    return groups


_MORE_MARKERS = "osD^vP*Xh<>"


def styled_groups(ds: xr.Dataset):
    """``(label, indices, family, colour, marker, line style)`` per group; families with several groups
    (GR-MC with m = 10 and 100, REINFORCE with m = 2 and 4) get different line styles and markers."""
    seen: dict[str, int] = {}
    for label, idx in groups(ds).items():
        fam = str(ds[N.FAMILY].values[idx[0]])
        color, marker = family_style(fam)
        nth = seen.get(fam, 0)
        ls = LINESTYLES[nth % len(LINESTYLES)]
        if nth:  # a further group of the family: another marker than the family's own
            others = [m for m in _MORE_MARKERS if m != marker]
            marker = others[(nth - 1) % len(others)]
        seen[fam] = nth + 1
        yield label, idx, fam, color, marker, ls
