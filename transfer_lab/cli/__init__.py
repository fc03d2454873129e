"""The front door: the command words (run, sweep, report, list) and the checks before a run.
Runs in the process the user started; it trains nothing itself."""
