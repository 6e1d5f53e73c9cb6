"""Background video jobs: a SQLite record per job, files in the jobs folder,
run by a job worker process beside the server (or by RQ workers)."""
