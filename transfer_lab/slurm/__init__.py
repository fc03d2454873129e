"""Talking to a SLURM cluster: what its partitions offer, what its jobs are doing, which sweep
job each SLURM job is, and the sweep's driver run as a job of its own. Torch-free: the driver
on a login node imports it to plan and to wait."""
