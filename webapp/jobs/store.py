"""Jobs recorded in SQLite, so that they survive a restart.

One row per job; its files live in `<jobs_dir>/<id>/`. Ids are random
(secrets.token_urlsafe), so a job can only be read by whoever has its id.
Each OS thread opens one connection (sqlite3 connections are per thread),
which the greenlets of that thread share: every call runs its statement to
the end without yielding, in autocommit mode.
"""
import os
import re
import secrets
import shutil
import sqlite3
import time

from webapp.threadlocal import os_thread_local

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    frames_done INTEGER NOT NULL DEFAULT 0,
    frames_total INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    finished REAL
)
"""
FINISHED = ("done", "failed", "cancelled")
JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
PUBLIC_FIELDS = ("id", "status", "progress", "frames_done", "frames_total", "error")


class JobStore:
    def __init__(self, jobs_dir):
        self.jobs_dir = os.path.abspath(jobs_dir)
        os.makedirs(self.jobs_dir, exist_ok=True)
        self.db_path = os.path.join(self.jobs_dir, "jobs.sqlite3")
        self._local = os_thread_local()
        with self._db() as db:
            db.execute(SCHEMA)

    def _db(self):
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            self._local.db = db
        return db

    def close(self):
        """Close this OS thread's database connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def folder(self, job_id):
        """The job's folder; refuses anything that is not a well-formed id."""
        if not JOB_ID_PATTERN.match(job_id or ""):
            raise KeyError(job_id)
        return os.path.join(self.jobs_dir, job_id)

    def create(self):
        job_id = secrets.token_urlsafe(18)
        now = time.time()
        os.makedirs(self.folder(job_id))
        self._db().execute("INSERT INTO jobs (id, status, created, updated) VALUES (?, ?, ?, ?)",
                           (job_id, "uploading", now, now))
        return job_id

    def get(self, job_id):
        """The job's row as a dict, or None (also for a malformed id)."""
        if not JOB_ID_PATTERN.match(job_id or ""):
            return None
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return dict(row) if row else None

    def update(self, job_id, **fields):
        fields["updated"] = time.time()
        if fields.get("status") in FINISHED:
            fields["finished"] = fields["updated"]
        columns = ", ".join(f"{name} = ?" for name in fields)
        self._db().execute(f"UPDATE jobs SET {columns} WHERE id = ?", (*fields.values(), job_id))

    def ids_with_status(self, status):
        rows = self._db().execute("SELECT id FROM jobs WHERE status = ? ORDER BY created",
                                  (status,)).fetchall()
        return [row["id"] for row in rows]

    def delete(self, job_id):
        self._db().execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def expired(self, older_than_seconds):
        """Ids of finished jobs older than the retention time (and stale uploads)."""
        cutoff = time.time() - older_than_seconds
        rows = self._db().execute(
            "SELECT id FROM jobs WHERE (finished IS NOT NULL AND finished < ?) "
            "OR (status = 'uploading' AND updated < ?)", (cutoff, cutoff)).fetchall()
        return [row["id"] for row in rows]


def public_view(job):
    """What the API shows of a job."""
    return {name: job[name] for name in PUBLIC_FIELDS}
