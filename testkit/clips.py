"""Small video files the tests make with ffmpeg (imageio-ffmpeg's binary)."""
import subprocess

import imageio_ffmpeg

from testkit.synthetic import scene

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def drawn_clip(path, frames=30, fps=15, size=(320, 240), audio=True):
    """An MP4 of a drawn face moving; with a 440 Hz tone when `audio`."""
    silent = str(path) + ".silent.mp4"
    writer = imageio_ffmpeg.write_frames(silent, size, pix_fmt_in="bgr24", fps=fps,
                                         codec="libx264", macro_block_size=2,
                                         ffmpeg_log_level="error")
    writer.send(None)
    face = min(size) * 3 // 4
    for i in range(frames):
        left = size[0] // 10 + 2 * (i % 30)
        writer.send(scene(*size, faces=((left, (size[1] - face) // 2, face),)))
    writer.close()
    if not audio:
        return silent
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", silent, "-f", "lavfi", "-i",
                    f"sine=frequency=440:duration={frames / fps}", "-c:v", "copy", "-c:a", "aac",
                    "-shortest", str(path)], check=True)
    return str(path)


def picture_after_sound(folder, delay, frames=45, size=(480, 360), fps=30):
    """A drawn face clip whose video stream starts `delay` s after its audio (as
    phones and broadcast files often have)."""
    silent = drawn_clip(folder / "late.mp4", frames=frames, fps=fps, size=size, audio=False)
    path = str(folder / "late-picture.mp4")
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=330:duration=3", "-itsoffset", str(delay), "-i", silent,
                    "-map", "1:v", "-map", "0:a", "-c:v", "copy", "-c:a", "aac", path],
                   check=True)
    return path


def with_damaged_stream(source, path, stream):
    """A copy of `source` with the packets of its audio ("a") or video ("v")
    stream damaged (ffmpeg's noise bitstream filter), the other's untouched."""
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(source), "-c", "copy",
                    f"-bsf:{stream}", "noise=amount=1", str(path)], check=True)
    return str(path)


def stream_codecs(path):
    """The codec names of a file's streams, in order, from ffmpeg's banner."""
    banner = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True,
                            text=True).stderr
    return [line.split(":")[3].split()[0] for line in banner.splitlines()
            if line.strip().startswith("Stream #") and len(line.split(":")) > 3]


def joined(sources, path, seconds=2.0, size=(640, 480), fps=25):
    """The first `seconds` of each source (a photo: held that long), one after the
    other with hard cuts between them, each scaled and padded to `size` at `fps`
    (no audio)."""
    inputs, filters = [], []
    for index, source in enumerate(sources):
        still = str(source).lower().endswith((".jpg", ".jpeg", ".png"))
        inputs += [*(["-loop", "1"] if still else []), "-t", str(seconds), "-i", str(source)]
        filters.append(f"[{index}:v]scale={size[0]}:{size[1]}:force_original_aspect_ratio="
                       f"decrease,pad={size[0]}:{size[1]}:(ow-iw)/2:(oh-ih)/2,fps={fps},"
                       f"setsar=1[v{index}]")
    chain = "".join(f"[v{index}]" for index in range(len(sources)))
    subprocess.run([FFMPEG, "-v", "error", "-y", *inputs, "-filter_complex",
                    ";".join(filters) + f";{chain}concat=n={len(sources)}:v=1:a=0[out]",
                    "-map", "[out]", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
                   check=True)
    return str(path)
