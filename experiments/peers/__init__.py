"""Peers: JAX, PyTorch and HIPS autograd timed beside our engines on the same problems.

* :mod:`~experiments.peers.registry`: the peers by name and ``--peers`` parsing;
* :mod:`~experiments.peers.base` and one adapter per library: timed kernels in our mode names;
* :mod:`~experiments.peers.forms`: the problems written once against an array namespace;
* :mod:`~experiments.peers.run`: the peers' side of a run (the runner interleaves them with ours);
* :mod:`~experiments.peers.table` and :mod:`~experiments.peers.figures`: the per-library table and
  the dashed lines on the report's figures, from saved cells only.

This package's ``__init__`` imports nothing, so a report (which reads results.json only) can use
the table and figures without importing an engine or a peer library.
"""
