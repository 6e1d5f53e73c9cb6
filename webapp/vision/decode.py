"""Bytes -> image, refusing anything that is not a sane JPEG or PNG.

The image size is read from the file header before decoding, so a tiny file
that claims to be 60000x60000 pixels is refused without allocating it.
"""
import struct

import cv2
import numpy as np

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, ...), which carry the size.
JPEG_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# OpenCV's warps refuse images with a side of 32767 pixels or more.
MAX_SIDE = 16384


class DecodeError(ValueError):
    """An input that cannot be used as an image; `code` is machine-readable."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def image_format(data):
    """'jpeg', 'png' or None, from the magic bytes."""
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    if data.startswith(PNG_MAGIC):
        return "png"
    return None


def _jpeg_size(data):
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2:position + 4])
        if marker in JPEG_SOF_MARKERS:
            if position + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return width, height
        position += 2 + length
    return None


def _png_size(data):
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def image_size(data):
    """(width, height) from a JPEG or PNG header, or None if it has none."""
    kind = image_format(data)
    if kind == "jpeg":
        return _jpeg_size(data)
    if kind == "png":
        return _png_size(data)
    return None


def decode_image(data, max_pixels=4096 * 4096, grayscale=False):
    """Decode JPEG/PNG bytes to a BGR (or grayscale) uint8 array.

    Raises DecodeError with code `bad_type`, `empty`, `not_an_image`,
    `too_large` or `corrupt`.
    """
    if isinstance(data, memoryview | bytearray):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise DecodeError("bad_type", f"expected binary image data, got {type(data).__name__}")
    if not data:
        raise DecodeError("empty", "the image is empty")
    if image_format(data) is None:
        raise DecodeError("not_an_image", "the data is not a JPEG or PNG image")
    size = image_size(data)
    if size is None:
        raise DecodeError("corrupt", "the image header is damaged or truncated")
    width, height = size
    if width == 0 or height == 0:
        raise DecodeError("corrupt", "the image header gives a zero size")
    if width * height > max_pixels:
        raise DecodeError(
            "too_large", f"the image is {width}x{height}; the limit is {max_pixels} pixels"
        )
    if max(width, height) > MAX_SIDE:
        raise DecodeError(
            "too_large", f"the image is {width}x{height}; the limit is {MAX_SIDE} pixels a side"
        )
    flags = cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise DecodeError("corrupt", "the image could not be decoded")
    return image
