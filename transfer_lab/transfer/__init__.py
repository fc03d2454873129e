"""Cut, copy, freeze and re-initialise, and the treatments of each arm.
Runs in the job's process; imports nothing here, so the report can read the arm names."""
