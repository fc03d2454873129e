"""One file per dataset, each registering its reader with what it reads (registry.py); importing
this package registers them all, without torch (readers import it when they read)."""

from transfer_lab.data.datasets import (  # noqa: F401  (each registers its reader)
    cifar10,
    cifar100,
    digits,
    fashion_mnist,
    image_folder,
    mnist,
    svhn,
)
