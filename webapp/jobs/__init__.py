"""Background video jobs: a SQLite record per job, files in the instance folder,
and an embedded worker pool (no external service needed)."""
