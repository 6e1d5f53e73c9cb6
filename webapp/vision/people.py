"""Who is who: tracks of one person joined into one person.

A track (track.py) follows a face while it stays in view; it ends at a cut, when
the face leaves, or when the detector loses it. People outlive their tracks:

    people = People(describer, mode="video")    # or mode="live"
    people.observe(image, faces, timestamp, shot) # each frame, after tracking: sets
                                                  # face["person_id"]
    people.final()   # video: {track id: person id} after the second pass

What tells faces apart is dlib's ResNet face descriptor (128 numbers, from the
public-domain models in `face-recognition-models`, with dlib's 5-point
landmarks): two pictures of one person lie within about 0.45 of each other, two
people about 0.55 or more apart (measured: models/README.md). A track is
described a few times (its first frames and about a second apart), and only
where its face is big enough to describe.

- Live (`mode="live"`): a new track gets the person whose last descriptors are
  nearest, if under the threshold, among those not in view now and seen within
  `memory_seconds`; else a new person. Descriptors live only in this object's
  memory and are forgotten with the person (or the session).
- Video (`mode="video"`): the same, as frames come (so a row can be written at
  once), then `final()` joins tracks again with all their descriptors: average
  linkage, never two tracks seen in one frame, and a track too small to describe
  joins the track it continues (the same shot, starting where that one ended,
  within `gap_seconds`). Person ids are numbered by first appearance.
"""
import numpy as np

from webapp.vision.threadlocal import per_os_thread

SAME_PERSON = 0.5  # largest descriptor distance still taken for one person
MIN_FACE_PX = 40  # smallest box side worth describing
SAMPLES_PER_TRACK = 3
SAMPLE_SPACING = 1.0  # seconds between a track's descriptors
MEMORY_SECONDS = 60.0  # live: how long a person who left can come back as themselves
GAP_SECONDS = 1.0  # a lost face found again this soon, near where it was, is the same one


class FaceDescriber:
    """dlib's 5-point landmarks and ResNet descriptor, loaded on first use, one
    set per OS thread (dlib's objects are not shared between threads)."""

    def __init__(self):
        self._local = per_os_thread()

    def _models(self):
        models = getattr(self._local, "models", None)
        if models is None:
            import dlib
            import face_recognition_models as files
            models = (dlib, dlib.shape_predictor(files.pose_predictor_five_point_model_location()),
                      dlib.face_recognition_model_v1(files.face_recognition_model_location()))
            self._local.models = models
        return models

    def describe(self, image, box):
        """128 numbers for the face in `box` ([x, y, w, h]) of a BGR or grey image."""
        dlib, landmarks, network = self._models()
        rgb = np.ascontiguousarray(image[:, :, ::-1] if image.ndim == 3
                                   else np.repeat(image[:, :, None], 3, axis=2))
        x, y, w, h = (int(round(v)) for v in box)
        shape = landmarks(rgb, dlib.rectangle(x, y, x + w, y + h))
        return np.asarray(network.compute_face_descriptor(rgb, shape), np.float32)


def distance(a, b):
    """Mean distance between two sets of descriptors."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2).mean())


class _Track:
    def __init__(self, track_id, timestamp, shot, box):
        self.id = track_id
        self.first = self.last = timestamp
        self.shot = shot
        self.first_box = self.last_box = list(box)
        self.frames = []  # frame numbers it was seen in (video: which tracks met)
        self.samples = []  # descriptors
        self.sampled_at = None
        self.person = None


class _Person:
    def __init__(self, person_id):
        self.id = person_id
        self.samples = []
        self.last_seen = None


class People:
    """Person ids for the tracks of one stream; see the module's docstring."""

    def __init__(self, describer, mode="live", threshold=SAME_PERSON,
                 memory_seconds=MEMORY_SECONDS, gap_seconds=GAP_SECONDS):
        if mode not in ("live", "video"):
            raise ValueError(f"mode must be 'live' or 'video', not {mode!r}")
        self.describer = describer
        self.mode = mode
        self.threshold = threshold
        self.memory_seconds = memory_seconds
        self.gap_seconds = gap_seconds
        self.tracks = {}  # track id -> _Track
        self.persons = {}  # person id -> _Person
        self.frame = 0
        self.last_person = 0
        self.descriptors = 0  # computed so far

    def observe(self, image, faces, timestamp, shot=0):
        """Note this frame's faces and set each one's "person_id"."""
        in_view = {self.tracks[f["id"]].person for f in faces if f["id"] in self.tracks}
        for face in faces:
            track = self.tracks.get(face["id"])
            if track is None:
                track = self.tracks[face["id"]] = _Track(face["id"], timestamp, shot, face["box"])
            track.last, track.last_box = timestamp, list(face["box"])
            if self.mode == "video":
                track.frames.append(self.frame)
            sample = self._sample(image, face, track, timestamp)
            if track.person is None:
                track.person = self._person_for(track, in_view, timestamp)
                in_view.add(track.person)
                new_samples = track.samples
            else:
                new_samples = [] if sample is None else [sample]
            person = self.persons[track.person]
            person.samples = (person.samples + new_samples)[-2 * SAMPLES_PER_TRACK:]
            person.last_seen = timestamp
            face["person_id"] = track.person
        self.frame += 1
        if self.mode == "live":
            self._forget(timestamp)
        return faces

    def _sample(self, image, face, track, timestamp):
        """A new descriptor of the track's face, when one is due (else None)."""
        if len(track.samples) >= SAMPLES_PER_TRACK or min(face["box"][2:]) < MIN_FACE_PX:
            return None
        if track.sampled_at is not None and timestamp - track.sampled_at < SAMPLE_SPACING:
            return None
        sample = self.describer.describe(image, face["box"])
        track.samples.append(sample)
        track.sampled_at = timestamp
        self.descriptors += 1
        return sample

    def _person_for(self, track, in_view, timestamp):
        """The person not in view, seen within the memory, whose descriptors lie
        nearest this track's (under the threshold); else a new person."""
        if track.samples:
            candidates = [p for p in self.persons.values()
                          if p.id not in in_view and p.samples
                          and timestamp - p.last_seen <= self.memory_seconds]
            scored = sorted((distance(track.samples, p.samples), p.id) for p in candidates)
            if scored and scored[0][0] < self.threshold:
                return scored[0][1]
        self.last_person += 1
        person = self.persons[self.last_person] = _Person(self.last_person)
        return person.id

    def _forget(self, timestamp):
        """Live: drop people (and their descriptors) gone longer than the memory."""
        gone = [p.id for p in self.persons.values()
                if p.last_seen is not None and timestamp - p.last_seen > self.memory_seconds]
        for person_id in gone:
            del self.persons[person_id]
        self.tracks = {k: t for k, t in self.tracks.items() if t.person not in gone}

    def final(self):
        """Video: {track id: person id} from all of each track's descriptors."""
        tracks = sorted(self.tracks.values(), key=lambda t: (t.first, t.id))
        together = self._seen_together(tracks)
        row = {t.id: k for k, t in enumerate(tracks)}

        def rows(group):
            return [row[t.id] for t in group]

        def can_join(a, b):
            return not together[np.ix_(rows(a), rows(b))].any()

        described = [t for t in tracks if t.samples]
        groups = (self._average_linkage(described, together[np.ix_(rows(described), rows(described))])
                  + [[t] for t in tracks if not t.samples])
        groups = self._join_continuations(groups, can_join)
        groups.sort(key=lambda g: min(t.first for t in g))
        return {t.id: number for number, group in enumerate(groups, 1) for t in group}

    def _average_linkage(self, tracks, together):
        """Groups of tracks: the two groups whose descriptors are nearest on average
        join, while under the threshold, never two that were seen in one frame
        (`together`, between these tracks)."""
        if not tracks:
            return []
        samples = np.concatenate([t.samples for t in tracks]).astype(np.float64)
        owner = np.repeat(np.arange(len(tracks)), [len(t.samples) for t in tracks])
        membership = np.zeros((len(samples), len(tracks)))
        membership[np.arange(len(samples)), owner] = 1
        squares = (samples ** 2).sum(1)
        pairwise = np.sqrt(np.maximum(squares[:, None] + squares[None, :] - 2 * samples @ samples.T,
                                      0.0))
        sums = membership.T @ pairwise @ membership  # summed distances between tracks
        counts = np.outer(membership.sum(0), membership.sum(0))
        apart = together | np.eye(len(tracks), dtype=bool)
        groups = [[t] for t in tracks]
        alive = np.ones(len(tracks), dtype=bool)
        while True:
            mean = np.where(apart | ~alive[:, None] | ~alive[None, :], np.inf, sums / counts)
            i, j = np.unravel_index(np.argmin(mean), mean.shape)
            if mean[i, j] >= self.threshold:
                break
            for table in (sums, counts):
                table[i, :] += table[j, :]
                table[:, i] += table[:, j]
            apart[i, :] |= apart[j, :]
            apart[:, i] |= apart[:, j]
            groups[i] += groups[j]
            alive[j] = False
        return [g for g, kept in zip(groups, alive) if kept]

    def _seen_together(self, tracks):
        """Which tracks were followed in one frame (two people, whatever they look like)."""
        index = {t.id: k for k, t in enumerate(tracks)}
        by_frame = {}
        for t in tracks:
            for frame in t.frames:
                by_frame.setdefault(frame, []).append(index[t.id])
        together = np.zeros((len(tracks), len(tracks)), dtype=bool)
        for present in by_frame.values():
            if len(present) > 1:
                together[np.ix_(present, present)] = True
        return together

    def _join_continuations(self, groups, can_join):
        """A group of one undescribed track joins the group whose track it continues."""
        undescribed = [g for g in groups if not g[0].samples]
        kept = [g for g in groups if g[0].samples]
        for group in sorted(undescribed, key=lambda g: g[0].first):
            track = group[0]
            home = next((other for other in kept if can_join(other, group) and any(
                self._continues(track, t) for t in other)), None)
            if home is None:
                kept.append(group)
            else:
                home.extend(group)
        return kept

    def _continues(self, track, before):
        """True if `track` starts where `before` ended, soon after, in the same shot."""
        if track.shot != before.shot or not 0 <= track.first - before.last <= self.gap_seconds:
            return False
        (x0, y0, w0, h0), (x1, y1, w1, h1) = before.last_box, track.first_box
        centre_gap = np.hypot(x0 + w0 / 2 - x1 - w1 / 2, y0 + h0 / 2 - y1 - h1 / 2)
        return centre_gap < max(w0, w1) and 0.5 < w1 / max(w0, 1) < 2
