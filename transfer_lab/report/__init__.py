"""Turn a sweep's job folders into tables, paired statistics and figures.
Runs in the user's process after a sweep or on `report`; reads files only, never torch."""
