__version__ = "0.1.0"


def versions() -> dict[str, str]:
    """The versions a result depends on, recorded in every file gradlab writes (one place for all of them)."""
    import platform

    import torch

    return {
        "gradlab_version": __version__,
        "torch_version": str(torch.__version__),
        "python_version": platform.python_version(),
    }
