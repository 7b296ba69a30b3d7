"""Experiments on top of modes: the problem catalogue, the timing runner and the compare-modes CLI."""
