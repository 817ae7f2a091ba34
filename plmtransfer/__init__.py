"""plmtransfer: transfer learning from protein language model embeddings.

A pipeline of stages that talk through files (docs/contracts.md): data preparation,
extraction, compression, regression, statistics, plots. The version is the installed
package's (pyproject.toml).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("plmtransfer")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
