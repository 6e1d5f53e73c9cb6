"""Bytes -> image: good images decode, every bad input gets a clear error code."""
import cv2
import numpy as np
import pytest

from testkit.synthetic import jpeg, scene
from webapp.vision.decode import DecodeError, decode_image, image_size


def png(image):
    return cv2.imencode(".png", image)[1].tobytes()


def test_jpeg_decodes_to_its_size_in_colour_and_gray():
    data = jpeg(scene(640, 480))
    assert decode_image(data).shape == (480, 640, 3)
    assert decode_image(data, grayscale=True).shape == (480, 640)


def test_png_decodes():
    assert decode_image(png(scene(320, 240))).shape == (240, 320, 3)


def test_header_size_is_read_without_decoding():
    assert image_size(jpeg(scene(640, 480))) == (640, 480)
    assert image_size(png(scene(320, 240))) == (320, 240)


@pytest.mark.parametrize("data, code", [
    (b"", "empty"),
    (b"hello, this is text", "not_an_image"),
    ("a string", "bad_type"),
    (None, "bad_type"),
    (12345, "bad_type"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "corrupt"),
])
def test_bad_input_gets_its_error_code(data, code):
    with pytest.raises(DecodeError) as caught:
        decode_image(data)
    assert caught.value.code == code
    assert caught.value.message


def test_truncated_jpeg_body_is_refused_or_decoded_never_crashes():
    data = jpeg(scene())
    for cut in (30, 200, len(data) // 2):
        try:
            image = decode_image(data[:cut])
        except DecodeError as error:
            assert error.code == "corrupt"
        else:
            assert image.shape == (480, 640, 3)


def declaring_size(data, width, height):
    """JPEG bytes whose start-of-frame header claims width x height."""
    data = bytearray(data)
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def test_huge_declared_size_is_refused_before_decoding():
    with pytest.raises(DecodeError) as caught:
        decode_image(declaring_size(jpeg(scene(64, 64)), 30000, 30000), max_pixels=4096 * 4096)
    assert caught.value.code == "too_large"


def test_a_long_thin_image_within_the_pixel_limit_is_refused_by_its_side():
    # Found by fuzzing /api/analyze: one flipped header byte made a 160x32888 JPEG,
    # which OpenCV's warps cannot take.
    with pytest.raises(DecodeError) as caught:
        decode_image(declaring_size(jpeg(scene(160, 64)), 160, 32888), max_pixels=4096 * 4096)
    assert caught.value.code == "too_large"
    assert "16384 pixels a side" in caught.value.message
    assert decode_image(jpeg(scene(16384, 8))).shape == (8, 16384, 3)


def test_pixel_limit_applies():
    with pytest.raises(DecodeError) as caught:
        decode_image(jpeg(scene(640, 480)), max_pixels=640 * 480 - 1)
    assert caught.value.code == "too_large"
    assert decode_image(jpeg(scene(640, 480)), max_pixels=640 * 480) is not None


def test_memoryview_and_bytearray_are_accepted():
    data = jpeg(scene(64, 64))
    assert decode_image(bytearray(data)).shape == (64, 64, 3)
    assert decode_image(memoryview(data)).shape == (64, 64, 3)
    assert np.array_equal(decode_image(bytearray(data)), decode_image(data))
