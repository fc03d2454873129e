"""What is on disk: whole-or-absent writes, the results.json record and the source cache.
Runs wherever a file is read or written, the torch-free report included (no imports here)."""
