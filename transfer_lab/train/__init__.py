"""Lightning for one training phase: the Trainer, its callbacks and loggers, selection, resume.
Runs in the job's process; under DDP the fit itself runs in the spawned ranks."""
