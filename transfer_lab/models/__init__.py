"""Backbones with their named stages (the registry), and the LightningModule that trains them.
Runs in the job's process and, under DDP, in the ranks the fit spawns."""

# Importing the backbone modules registers the built-in backbones.
from transfer_lab.models import (  # noqa: F401
    alexnet,
    cifar_resnet,
    densenet,
    lenet,
    timm_nets,
    torchvision_nets,
    wide_resnet,
)
from transfer_lab.models.registry import create_backbone, list_backbones, register_backbone

__all__ = ["create_backbone", "list_backbones", "register_backbone"]
