"""plmtransfer: transfer learning from protein language model embeddings.

A pipeline of stages that talk through files (see DESIGN.md in the shared folder and
the README): data preparation, extraction, compression, regression, statistics, plots.
"""

__version__ = "0.1.0"
