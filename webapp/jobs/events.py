"""Live job progress over Socket.IO: a client emits `watch_job` with a job id
and receives `job` events (the same object as GET /api/videos/<id>) while
it changes, until it is finished. Polling the HTTP API works as well."""
from flask import current_app
from flask_socketio import join_room

from webapp.extensions import socketio
from webapp.jobs.store import FINISHED, public_view


@socketio.on("watch_job")
def on_watch_job(job_id=None):
    store = current_app.extensions["job_store"]
    job = store.get(job_id) if isinstance(job_id, str) else None
    if job is None:
        return {"error": {"code": "unknown_job", "message": "no such video job"}}
    join_room(job_id)
    current_app.extensions["job_watcher"].watch(job_id)
    return public_view(job)


class JobWatcher:
    """Pushes each watched job's changes to its room, twice a second."""

    def __init__(self, store, interval=0.5):
        self.store = store
        self.interval = interval
        self.last_sent = {}
        self.started = False

    def watch(self, job_id):
        self.last_sent.setdefault(job_id, None)
        if not self.started:
            self.started = True
            socketio.start_background_task(self._loop)

    def _loop(self):
        while True:
            for job_id in list(self.last_sent):
                job = self.store.get(job_id)
                view = public_view(job) if job else {"id": job_id, "status": "deleted"}
                if view != self.last_sent[job_id]:
                    socketio.emit("job", view, to=job_id)
                    self.last_sent[job_id] = view
                if view["status"] in FINISHED + ("deleted",):
                    del self.last_sent[job_id]
            socketio.sleep(self.interval)
