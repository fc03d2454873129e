"""Datasets, class splits and the LightningDataModule that serves one task."""
