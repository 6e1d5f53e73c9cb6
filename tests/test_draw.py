"""Boxes and labels drawn on a video's frames: each label readable and off the
other faces, in a crowd too."""
import numpy as np

from webapp.vision.draw import draw_faces, place_tags


def face(face_id, box, emotion="happy", confidence=0.8, uncertain=None):
    return {"id": face_id, "box": box, "emotion": emotion, "confidence": confidence,
            "uncertain": uncertain}


def test_a_lone_face_has_its_label_above_its_box():
    assert place_tags([(100, 100, 80, 80)], [(90, 14)], (640, 480)) == [(100, 86)]


def test_a_label_stays_in_the_frame_at_its_edges():
    (left, top), = place_tags([(600, 0, 40, 40)], [(90, 14)], (640, 480))
    assert 0 <= left <= 640 - 90 and 0 <= top <= 480 - 14


def test_a_label_goes_where_it_covers_no_other_face():
    # the right-hand face sits a little lower, where the left one's label would go
    boxes = [(100, 100, 50, 50), (160, 80, 50, 50)]
    tags = place_tags(boxes, [(100, 14), (100, 14)], (640, 480))
    for index, (left, top) in enumerate(tags):
        tag = (left, top, 100, 14)
        for other, box in enumerate(boxes):
            if other != index:
                assert not (tag[0] < box[0] + box[2] and box[0] < tag[0] + tag[2]
                            and tag[1] < box[1] + box[3] and box[1] < tag[1] + tag[3]), (tag, box)
    (a, b) = tags
    assert not (a[0] < b[0] + 100 and b[0] < a[0] + 100 and a[1] < b[1] + 14 and b[1] < a[1] + 14)


def test_a_row_of_small_faces_keeps_every_face_clear_of_the_labels():
    """Five faces of 48 px, 100 px apart, the second and fourth a little lower (a
    row of people in a 1024x768 frame): no label's paint lands on another face."""
    frame = np.zeros((768, 1024, 3), np.uint8)
    boxes = [(150 + 100 * i, 200 + (12 if i % 2 else 0), 48, 48) for i in range(5)]
    drawn = draw_faces(frame.copy(), [face(i + 1, box) for i, box in enumerate(boxes)])
    for index, (x, y, w, h) in enumerate(boxes):
        lone = draw_faces(frame.copy(), [face(index + 1, (x, y, w, h))])
        inside = (slice(y + 3, y + h - 3), slice(x + 3, x + w - 3))  # within its own box lines
        # what is painted inside this face's box is what its own drawing paints there
        assert np.array_equal(drawn[inside], lone[inside]), f"face {index + 1} is covered"


def test_a_small_face_is_labelled_smaller_than_a_large_one():
    frame = np.zeros((768, 1024, 3), np.uint8)
    small = draw_faces(frame.copy(), [face(1, (400, 300, 40, 40))])
    large = draw_faces(frame.copy(), [face(1, (400, 300, 300, 300))])
    painted_width = lambda image, rows: np.flatnonzero(image[rows].any(axis=(0, 2)))  # noqa: E731
    small_tag = painted_width(small, slice(270, 297))  # above the box line
    large_tag = painted_width(large, slice(260, 297))
    assert 60 < small_tag[-1] - small_tag[0] < large_tag[-1] - large_tag[0]
