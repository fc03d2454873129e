"""Backbones (with their named stages), heads and the LightningModule."""

from transfer_lab.models import lenet  # noqa: F401  (registers the built-in backbones)
from transfer_lab.models.registry import create_backbone, list_backbones, register_backbone

__all__ = ["create_backbone", "list_backbones", "register_backbone"]
