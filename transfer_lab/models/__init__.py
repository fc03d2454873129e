"""Backbones (with their named stages), heads and the LightningModule."""

# Importing the backbone modules registers the built-in backbones.
from transfer_lab.models import (  # noqa: F401
    alexnet,
    cifar_resnet,
    densenet,
    lenet,
    torchvision_nets,
    wide_resnet,
)
from transfer_lab.models.registry import create_backbone, list_backbones, register_backbone

__all__ = ["create_backbone", "list_backbones", "register_backbone"]
