"""One job, start to end: split, source phase, measures, target phase, results.json.
Runs in the job's process (Hydra's task function); only a fit runs in other ranks."""
