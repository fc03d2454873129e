"""Datasets, class splits, budgets and the data modules that serve one task.
Runs in the job's process (the split step, the batches); only the batches reach DDP ranks."""
