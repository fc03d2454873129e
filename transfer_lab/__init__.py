"""transfer_lab: measure how well learned features transfer between disjoint tasks."""

__version__ = "0.1.0"
