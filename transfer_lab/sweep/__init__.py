"""A sweep's lifecycle: the grid, the jobs done and to do, sources first, parallel workers.
Runs in the sweeper (the user's process) and in the launcher's workers, never in a rank."""
