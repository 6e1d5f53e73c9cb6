"""Jobs recorded in SQLite, so that they survive a restart.

One row per job; its files live in `<jobs_dir>/<id>/`. Ids are random
(secrets.token_urlsafe), so a job can only be read by whoever has its id, and
only changed by whoever also holds its owner token (kept as a hash). The web
processes and the job worker processes share the file; a worker claims a
queued job in one transaction. Every call opens and closes its own connection:
cheap for SQLite, safe in any thread or green thread, and nothing left open.
"""
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import shutil
import sqlite3
import time

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
# Columns added since the first schema, with their types (added to older files):
# `name` is the upload's file name (downloads are named after it), `probe` the
# video's facts read once on upload (JSON).
ADDED_COLUMNS = {"token_hash": "TEXT", "worker": "TEXT", "name": "TEXT", "probe": "TEXT"}
# The files of a job, by kind, in its folder.
FILES = {"input": "input", "video": "annotated.mp4", "csv": "results.csv",
         "json": "results.json", "summary": "summary.json"}
OUTPUTS = ("video", "csv", "json", "summary")
FINISHED = ("done", "failed", "cancelled")
JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
PUBLIC_FIELDS = ("id", "status", "progress", "frames_done", "frames_total", "error")
# The store's SQLite file in the jobs folder (WAL mode adds its -wal and -shm beside it).
DATABASE_FILE = "jobs.sqlite3"


class JobStore:
    def __init__(self, jobs_dir):
        self.jobs_dir = os.path.abspath(jobs_dir)
        os.makedirs(self.jobs_dir, exist_ok=True)
        self.db_path = os.path.join(self.jobs_dir, DATABASE_FILE)
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(SCHEMA)
            present = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
            for name, kind in ADDED_COLUMNS.items():
                if name not in present:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")

    @contextlib.contextmanager
    def _db(self):
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    def _execute(self, sql, parameters=()):
        with self._db() as db:
            return db.execute(sql, parameters).fetchall()

    def folder(self, job_id):
        """The job's folder; refuses anything that is not a well-formed id."""
        if not JOB_ID_PATTERN.match(job_id or ""):
            raise KeyError(job_id)
        return os.path.join(self.jobs_dir, job_id)

    def path(self, job_id, kind):
        """Where the job's file of `kind` (a key of FILES) lives."""
        return os.path.join(self.folder(job_id), FILES[kind])

    def remove(self, job_id, kinds):
        """Delete the job's files of these kinds, where they exist."""
        for kind in kinds:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path(job_id, kind))

    def create(self):
        """A new job, "uploading"; returns (id, owner token)."""
        job_id, token = secrets.token_urlsafe(18), secrets.token_urlsafe(24)
        now = time.time()
        os.makedirs(self.folder(job_id))
        self._execute("INSERT INTO jobs (id, status, created, updated, token_hash) "
                      "VALUES (?, ?, ?, ?, ?)", (job_id, "uploading", now, now, _hash(token)))
        return job_id, token

    def owned_by(self, job, token):
        """Whether `token` is the owner token of the job."""
        return bool(job.get("token_hash")) and isinstance(token, str) and hmac.compare_digest(
            job["token_hash"], _hash(token))

    def get(self, job_id):
        """The job's row as a dict, or None (also for a malformed id)."""
        if not JOB_ID_PATTERN.match(job_id or ""):
            return None
        rows = self._execute("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return dict(rows[0]) if rows else None

    def update(self, job_id, only_if_status=None, **fields):
        """Change fields of a job (only while its status is `only_if_status`,
        when given); returns whether it changed."""
        fields["updated"] = time.time()
        if fields.get("status") in FINISHED:
            fields["finished"] = fields["updated"]
        columns = ", ".join(f"{name} = ?" for name in fields)
        condition, values = "id = ?", [*fields.values(), job_id]
        if only_if_status is not None:
            condition += " AND status = ?"
            values.append(only_if_status)
        with self._db() as db:
            return db.execute(f"UPDATE jobs SET {columns} WHERE {condition}", values).rowcount > 0

    def claim(self, worker):
        """Mark the oldest queued job "processing" for `worker`, counting an
        attempt, and return its id (None when nothing waits). Atomic across
        processes."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT id FROM jobs WHERE status = 'queued' "
                                 "ORDER BY created LIMIT 1").fetchone()
                if row is not None:
                    db.execute("UPDATE jobs SET status = 'processing', attempts = attempts + 1, "
                               "worker = ?, updated = ? WHERE id = ?",
                               (worker, time.time(), row["id"]))
            finally:
                db.execute("COMMIT")
        return row["id"] if row else None

    def ids_with_status(self, status):
        rows = self._execute("SELECT id FROM jobs WHERE status = ? ORDER BY created", (status,))
        return [row["id"] for row in rows]

    def delete(self, job_id):
        self._execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def expired(self, older_than_seconds):
        """Ids of finished jobs older than the retention time (and stale uploads)."""
        cutoff = time.time() - older_than_seconds
        rows = self._execute(
            "SELECT id FROM jobs WHERE (finished IS NOT NULL AND finished < ?) "
            "OR (status = 'uploading' AND updated < ?)", (cutoff, cutoff))
        return [row["id"] for row in rows]

    def stuck(self, queued_seconds, stalled_seconds):
        """(id, status) of jobs queued longer than queued_seconds, or processing
        without a change for longer than stalled_seconds."""
        now = time.time()
        rows = self._execute(
            "SELECT id, status FROM jobs WHERE (status = 'queued' AND created < ?) "
            "OR (status = 'processing' AND updated < ?)",
            (now - queued_seconds, now - stalled_seconds))
        return [(row["id"], row["status"]) for row in rows]

    def disk_usage(self):
        """Bytes of all the jobs' files."""
        total = 0
        for folder, _, names in os.walk(self.jobs_dir):
            for name in names:
                with contextlib.suppress(OSError):
                    total += os.stat(os.path.join(folder, name)).st_size
        return total


def _hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def public_view(job):
    """What the API shows of a job."""
    return {name: job[name] for name in PUBLIC_FIELDS}
