"""transfer_lab's Hydra sweeper (Hydra finds sweepers only under `hydra_plugins`): sweeper.py."""
