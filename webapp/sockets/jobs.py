"""Live job progress over Socket.IO: a client emits `watch_job` with a job id
and receives `job` events (the same object as GET /api/videos/<id>) while
it changes, until it is finished. Polling the HTTP API works as well."""
from flask_socketio import join_room

from webapp.jobs.store import FINISHED, public_view


def register(app, socketio):
    """The `watch_job` handler, on `socketio` once it is bound to `app`."""
    store = app.extensions["job_store"]
    watcher = JobWatcher(store, socketio)

    def on_watch_job(job_id=None):
        job = store.get(job_id) if isinstance(job_id, str) else None
        if job is None:
            return {"error": {"code": "unknown_job", "message": "no such video job"}}
        join_room(job_id)
        watcher.watch(job_id)
        return public_view(job)

    socketio.on_event("watch_job", on_watch_job)


class JobWatcher:
    """Pushes each watched job's changes to its room, twice a second."""

    def __init__(self, store, socketio, interval=0.5):
        self.store, self.socketio = store, socketio
        self.interval = interval
        self.last_sent = {}
        self.started = False

    def watch(self, job_id):
        self.last_sent.setdefault(job_id, None)
        if not self.started:
            self.started = True
            self.socketio.start_background_task(self._loop)

    def _loop(self):
        while True:
            for job_id in list(self.last_sent):
                job = self.store.get(job_id)
                view = public_view(job) if job else {"id": job_id, "status": "deleted"}
                if view != self.last_sent[job_id]:
                    self.socketio.emit("job", view, to=job_id)
                    self.last_sent[job_id] = view
                if view["status"] in FINISHED + ("deleted",):
                    del self.last_sent[job_id]
            self.socketio.sleep(self.interval)
