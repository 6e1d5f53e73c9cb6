"""People over time: tracks of one person joined into one person (people.py),
in a video job and in a live session, on real faces through the real server."""
import collections
import json
import os

import numpy as np
import pytest
import socketio

from conftest import SAMPLES_DIR, shared_file
from testkit import clips, videocheck
from testkit.synthetic import jpeg
from webapp.vision.people import People
from webapp.vision.preprocess import EMOTIONS
from webapp.vision.summary import summarize


class Vectors:
    """A describer that answers each face with the vector its box's x names:
    the merge rules alone, without a face model."""

    def __init__(self, by_x):
        self.by_x = by_x

    def describe(self, image, box):
        return np.asarray(self.by_x[box[0]], np.float32)


A, B = [0.0, 0.0], [1.0, 0.0]  # 1.0 apart: two people; within 0.5: one


def face(track_id, x, width=80):
    return {"id": track_id, "box": [x, 10, width, width]}


def test_a_face_that_comes_back_gets_its_person_and_another_face_does_not():
    people = People(Vectors({0: A, 100: B, 200: [0.1, 0.0]}), mode="live")
    assert people.observe(None, [face(1, 0)], 0.0)[0]["person_id"] == 1
    assert people.observe(None, [face(2, 100)], 5.0)[0]["person_id"] == 2  # someone else
    assert people.observe(None, [face(3, 200)], 30.0)[0]["person_id"] == 1  # A is back


def test_two_faces_in_one_frame_are_never_one_person():
    people = People(Vectors({0: A, 100: [0.05, 0.0]}), mode="video")
    faces = people.observe(None, [face(1, 0), face(2, 100)], 0.0)
    assert faces[0]["person_id"] != faces[1]["person_id"]
    final = people.final()
    assert final[1] != final[2]


def test_live_forgets_a_person_after_the_memory():
    people = People(Vectors({0: A, 200: [0.1, 0.0]}), mode="live", memory_seconds=60)
    people.observe(None, [face(1, 0)], 0.0)
    people.observe(None, [], 61.0)
    assert people.persons == {} and people.tracks == {}  # no descriptor kept
    assert people.observe(None, [face(2, 200)], 62.0)[0]["person_id"] == 2


def test_video_joins_a_small_track_to_the_one_it_continues_and_not_across_a_cut():
    people = People(Vectors({0: A}), mode="video")
    people.observe(None, [face(1, 0, width=40)], 0.0)
    people.observe(None, [face(2, 4, width=30)], 0.5)  # too small to describe, just after
    people.observe(None, [face(3, 4, width=30)], 1.0, shot=1)  # the same place after a cut
    assert people.final() == {1: 1, 2: 1, 3: 2}


def true_ids(rows, truth, width, key):
    """{true person: {ids}} and {id: {true persons}} of the rows."""
    ids_of, people_of = collections.defaultdict(set), collections.defaultdict(set)
    for row in rows:
        person = clips.true_person(truth, row["time"], [row["x"], row["y"], row["w"], row["h"]],
                                   width)
        if person:
            ids_of[person].add(row[key])
            people_of[row[key]].add(person)
    return ids_of, people_of


def test_a_video_job_finds_each_person_once_across_cuts_and_returns(server, tmp_path):
    """Four people joined with cuts and returns (A, B, A, A beside B, C, D, B, D
    from another photo), uploaded to the real server: the tracks are fragments,
    the persons are the people."""
    shared_file("samples", "clip_talking_head_tps_driving.mp4")
    path, truth = clips.people_clip(SAMPLES_DIR, tmp_path)
    status, body = videocheck.upload(server.url, path)
    assert status == 202, body
    job = videocheck.wait_finished(server.url, body["id"])
    assert job["status"] == "done", job
    _, csv_text, results = videocheck.download_results(server.url, body["id"], tmp_path)
    rows = results["rows"]
    width = results["video"]["width"]
    tracks_of, _ = true_ids(rows, truth, width, "face_id")
    persons_of, truths_of = true_ids(rows, truth, width, "person_id")
    assert set(persons_of) == {"A", "B", "C", "D"}
    assert len(tracks_of["A"]) >= 3 and len(tracks_of["B"]) >= 3  # cuts end tracks
    assert {p: len(ids) for p, ids in persons_of.items()} == {"A": 1, "B": 1, "C": 1, "D": 1}
    assert all(len(people) == 1 for people in truths_of.values()), truths_of
    assert results["video"]["persons"] == 4
    assert "person_id" in csv_text.splitlines()[0].split(",")

    kept = sorted(os.listdir(os.path.join(server.jobs_dir, body["id"])))
    assert kept == ["annotated.mp4", "results.csv", "results.json", "summary.json"]  # no faces

    summary = json.loads(videocheck.get(server.url, f"/api/videos/{body['id']}/summary"))
    assert summary == summarize(results)  # the job's summary is the results' own
    truth_of = {person_id: next(iter(people)) for person_id, people in truths_of.items()}
    seconds = {truth_of[p["person_id"]]: p["seconds_in_view"] for p in summary["persons"]}
    for person, expected in {"A": 6, "B": 6, "C": 2, "D": 4}.items():
        assert expected - 0.5 <= seconds[person] <= expected + 0.1, seconds
    room = summary["room"]
    beside = [n for t, n in zip(room["times"], room["faces"]) if 6.5 < t < 7.5]
    alone = [n for t, n in zip(room["times"], room["faces"]) if 0.5 < t < 1.5]
    assert beside and all(1.8 <= n <= 2.0 for n in beside), room["faces"]
    assert alone and all(0.9 <= n <= 1.0 for n in alone), room["faces"]
    for person in summary["persons"]:
        assert abs(sum(person["shares"].values()) - 1) < 1e-3
        assert person["dominant"] in EMOTIONS
        assert 1 <= len(person["moments"]) <= 3


def frames_of(name, count, size=(480, 480)):
    import cv2

    capture = cv2.VideoCapture(f"{SAMPLES_DIR}/{name}")
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        assert ok
        frames.append(jpeg(cv2.resize(frame, size)))
    return frames


def test_a_live_face_that_comes_back_gets_its_person_back(live_server):
    """Over a real Socket.IO connection: A, then B (a cut: A's track ends), then A
    again: A's person id comes back, B's is another."""
    shared_file("samples", "clip_talking_head_tps_driving.mp4")
    talking = frames_of("clip_talking_head_tps_driving.mp4", 8)
    smiling = frames_of("clip_smile_liveportrait_d19.mp4", 8)
    client = socketio.Client(reconnection=False)
    client.connect(live_server.url, transports=["websocket"], wait_timeout=10)
    try:
        def persons(frames):
            answers = [client.call("frame", frame, timeout=30) for frame in frames]
            return {f["person_id"] for a in answers[2:] for f in a["faces"]}, \
                {f["id"] for a in answers[2:] for f in a["faces"]}

        first, first_tracks = persons(talking)
        other, other_tracks = persons(smiling)
        back, back_tracks = persons(talking)
    finally:
        client.disconnect()
    assert len(first) == 1 and len(other) == 1, (first, other)
    assert back_tracks.isdisjoint(first_tracks)  # a new track...
    assert back == first != other  # ...of the same person
