"""A session in figures: each person's time in view, emotions, attention and
strongest moments, and the room's mood over time, from result rows (one per
face per frame, as webapp/video.py writes them).

    builder = SummaryBuilder(labels)
    for row in rows: builder.add(row)       # rows in frame order
    summary = builder.result(frames, fps, video_start)

or `summarize(results)` for a whole results JSON. The same figures are computed
in the browser for a live session (static/js/report.js: summarize); the two
are tested against each other. Times are on the player's clock: a row's time
plus `video_start` (a video whose picture starts after its sound).

{"seconds", "frames", "fps", "video_start", "persons": [...], "room": {...}, "labels"}
person: {"person_id", "face_ids", "first_seen", "last_seen", "seconds_in_view",
         "frames", "shares": {label: share, ..., "uncertain": share}, "dominant",
         "attending", "moments": [{"time", "emotion", "confidence", "face_id"}]}
         (most seen first; attending is the share of its posed frames looking at
         the camera, null without a pose)
room: {"bin_seconds", "times": [bin centres], "faces": [mean faces in view a frame],
       "shares": {label: [share of the faces in view], ..., "uncertain": [...]},
       "attending": [share of posed faces attending, null where none]}
"""
import math

UNCERTAIN = "uncertain"
MOMENTS = 3  # strongest moments kept per person
MOMENT_SPACING = 1.0  # seconds between two moments of one person
MAX_BINS = 400  # the room chart's resolution at most
MIN_BIN_SECONDS = 0.5  # the room's bins: this long, or longer to keep within MAX_BINS


def bin_frames(frames, fps):
    """Frames in each of the room's time bins: half a second's worth, more for
    long sessions (at most MAX_BINS bins)."""
    return max(1, round(fps * MIN_BIN_SECONDS), math.ceil(frames / MAX_BINS))


class _Person:
    def __init__(self, person_id, labels):
        self.id = person_id
        self.face_ids = []
        self.first = self.last = None
        self.frames = 0
        self.counts = dict.fromkeys([*labels, UNCERTAIN], 0)
        self.posed = self.attending = 0
        self.best_each_second = {}  # whole second of row time -> its most confident labelled row


class SummaryBuilder:
    """Takes rows one at a time, keeping three values of each (the room is binned
    by frame number once the length is known)."""

    def __init__(self, labels):
        self.labels = list(labels)
        self.persons = {}
        self.room = {}  # bin index -> [faces, {label: count}, posed, attending]
        self.rows = []  # (time, frame) of each row, for binning once the length is known

    def add(self, row):
        person_id = row.get("person_id", row["face_id"])
        person = self.persons.get(person_id)
        if person is None:
            person = self.persons[person_id] = _Person(person_id, self.labels)
        if row["face_id"] not in person.face_ids:
            person.face_ids.append(row["face_id"])
        seconds = float(row["time"])
        person.first = seconds if person.first is None else min(person.first, seconds)
        person.last = seconds if person.last is None else max(person.last, seconds)
        person.frames += 1
        emotion = row["emotion"] if row["emotion"] in person.counts else UNCERTAIN
        person.counts[emotion] += 1
        if row.get("attending") in (0, 1, True, False):
            person.posed += 1
            person.attending += int(row["attending"])
        if emotion != UNCERTAIN:
            second = math.floor(seconds)
            best = person.best_each_second.get(second)
            if best is None or row["confidence"] > best["confidence"]:
                person.best_each_second[second] = {"time": seconds, "emotion": emotion,
                                                   "confidence": row["confidence"],
                                                   "face_id": row["face_id"]}
        self.rows.append((int(row["frame"]), emotion, row.get("attending")))

    def result(self, frames, fps, video_start=0.0):
        """The summary of a session of `frames` frames at `fps` (a live session:
        its answered frames over its duration)."""
        duration = frames / fps if fps else 0.0
        persons = sorted(self.persons.values(), key=lambda p: (-p.frames, p.first))
        return {"labels": self.labels, "frames": frames, "fps": fps,
                "seconds": round(duration, 3), "video_start": video_start,
                "persons": [self._person(p, fps, video_start) for p in persons],
                "room": self._room(frames, fps, video_start)}

    def _person(self, person, fps, start):
        shares = {label: round(count / person.frames, 4) for label, count in person.counts.items()}
        dominant = max(self.labels, key=lambda label: (person.counts[label], -self.labels.index(label)))
        return {
            "person_id": person.id, "face_ids": person.face_ids,
            "first_seen": round(start + person.first, 3), "last_seen": round(start + person.last, 3),
            "seconds_in_view": round(person.frames / fps, 3) if fps else 0.0,
            "frames": person.frames, "shares": shares,
            "dominant": dominant if person.counts[dominant] else UNCERTAIN,
            "attending": round(person.attending / person.posed, 4) if person.posed else None,
            "moments": [dict(m, time=round(start + m["time"], 3)) for m in self._moments(person)],
        }

    @staticmethod
    def _moments(person):
        """The most confident labelled moments, at least MOMENT_SPACING apart, in time order."""
        chosen = []
        for moment in sorted(person.best_each_second.values(),
                             key=lambda m: (-m["confidence"], m["time"])):
            if all(abs(moment["time"] - c["time"]) >= MOMENT_SPACING for c in chosen):
                chosen.append(moment)
            if len(chosen) == MOMENTS:
                break
        return sorted(chosen, key=lambda m: m["time"])

    def _room(self, frames, fps, start):
        per_bin = bin_frames(frames, fps)
        count = max(1, math.ceil(frames / per_bin))
        faces = [0] * count
        by_label = {label: [0] * count for label in [*self.labels, UNCERTAIN]}
        posed, attending = [0] * count, [0] * count
        for frame, emotion, attends in self.rows:
            index = min(count - 1, frame // per_bin)
            faces[index] += 1
            by_label[emotion][index] += 1
            if attends in (0, 1, True, False):
                posed[index] += 1
                attending[index] += int(attends)
        frames_in = [max(1, min(per_bin, frames - i * per_bin)) for i in range(count)]
        return {
            "bin_seconds": round(per_bin / fps, 4) if fps else 0.0,
            "times": [round(start + (i * per_bin + n / 2) / fps, 3) if fps else 0.0
                      for i, n in enumerate(frames_in)],
            "faces": [round(n / f, 3) for n, f in zip(faces, frames_in)],
            "shares": {label: [round(c / n, 4) if n else 0.0 for c, n in zip(counts, faces)]
                       for label, counts in by_label.items()},
            "attending": [round(a / p, 4) if p else None for a, p in zip(attending, posed)],
        }


def summarize(results):
    """The summary of a results JSON ({"labels", "rows", "video"})."""
    builder = SummaryBuilder(results["labels"])
    for row in results["rows"]:
        builder.add(row)
    video = results.get("video") or {}
    return builder.result(video.get("frames", 0), video.get("fps", 0),
                          video.get("video_start") or 0.0)
