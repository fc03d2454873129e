"""Cut, copy, freeze and re-initialise; the treatments; the source-network cache."""
