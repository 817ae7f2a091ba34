"""plmtransfer: transfer learning from protein language model embeddings.

A pipeline of stages that talk through files (docs/contracts.md): data preparation,
extraction, compression, regression, statistics, plots. ``plmtransfer.__version__`` is the
installed package's version (pyproject.toml), read on first use so that importing the
package costs nothing.
"""


def __getattr__(name: str) -> str:
    """``__version__`` from the installed package's metadata (``0+unknown`` in a never-installed tree)."""
    if name != "__version__":
        raise AttributeError(f"module 'plmtransfer' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("plmtransfer")
    except PackageNotFoundError:
        return "0+unknown"
