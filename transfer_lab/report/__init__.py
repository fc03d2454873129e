"""Turn a sweep's job folders into tables, paired statistics and figures."""
