"""transfer_lab's SLURM launcher (Hydra finds launchers only under `hydra_plugins`): launcher.py."""
