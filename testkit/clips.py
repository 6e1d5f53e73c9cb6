"""Small video files the tests make with ffmpeg (imageio-ffmpeg's binary)."""
import subprocess

import imageio_ffmpeg

from testkit.synthetic import scene

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
DARK_ROOM = 0.06  # the share of its light a clip keeps in "a nearly dark room"


def dim_filter(light=DARK_ROOM):
    """ffmpeg's filter that keeps `light` of a video's luma range (limited range, 16-235)."""
    return f"lutyuv=y=16+(val-16)*{light}"


def darkened(source, path, light=DARK_ROOM):
    """An H.264 copy of `source`, no audio, with `light` of its light (dim_filter)."""
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(source), "-vf", dim_filter(light),
                    "-an", "-c:v", "libx264", str(path)], check=True)
    return str(path)


def encoded(path, frames, size, fps):
    """An H.264 MP4 of BGR frames of `size` (w, h), no audio."""
    writer = imageio_ffmpeg.write_frames(str(path), size, pix_fmt_in="bgr24", fps=fps,
                                         codec="libx264", macro_block_size=2,
                                         ffmpeg_log_level="error")
    writer.send(None)
    for frame in frames:
        writer.send(frame)
    writer.close()
    return str(path)


def drawn_clip(path, frames=30, fps=15, size=(320, 240), audio=True):
    """An MP4 of a drawn face moving; with a 440 Hz tone when `audio`."""
    face = min(size) * 3 // 4
    moving = (scene(*size, faces=((size[0] // 10 + 2 * (i % 30), (size[1] - face) // 2, face),))
              for i in range(frames))
    silent = encoded(str(path) + ".silent.mp4", moving, size, fps)
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


def side_by_side(left, right, path, seconds=2.0, height=360):
    """The first `seconds` of two clips next to each other, both scaled to `height`."""
    subprocess.run([FFMPEG, "-v", "error", "-y", "-t", str(seconds), "-i", str(left), "-t",
                    str(seconds), "-i", str(right), "-filter_complex",
                    f"[0:v]scale=-2:{height},setsar=1[a];[1:v]scale=-2:{height},setsar=1[b];"
                    "[a][b]hstack=inputs=2[out]", "-map", "[out]", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return str(path)


def people_clip(samples, folder, seconds=2.0):
    """A clip of known people: the sample clips and photos joined with cuts and
    returns (A, B, A, A beside B, C, D, B, D again from another photo), and its
    truth, (path, [(start, end, {"left"|"right"|"all": person})]): who is where,
    by time and half of the frame."""
    talking = f"{samples}/clip_talking_head_tps_driving.mp4"  # person A
    smiling = f"{samples}/clip_smile_liveportrait_d19.mp4"  # person B
    rudd = f"{samples}/face_paul_rudd.jpg"  # person C
    happy = f"{samples}/face_ckplus_happy_S124_007_00000024.png"  # person D
    neutral = f"{samples}/face_ckplus_neutral_S124_007_00000001.png"  # person D
    both = side_by_side(talking, smiling, f"{folder}/a_beside_b.mp4", seconds)
    order = [(talking, {"all": "A"}), (smiling, {"all": "B"}), (talking, {"all": "A"}),
             (both, {"left": "A", "right": "B"}), (rudd, {"all": "C"}), (happy, {"all": "D"}),
             (smiling, {"all": "B"}), (neutral, {"all": "D"})]
    path = joined([source for source, _ in order], f"{folder}/people.mp4", seconds)
    truth = [(i * seconds, (i + 1) * seconds, who) for i, (_, who) in enumerate(order)]
    return path, truth


def true_person(truth, seconds, box, width):
    """Who the truth says a box at this time is (None between segments)."""
    for start, end, who in truth:
        if start <= seconds < end:
            if "all" in who:
                return who["all"]
            return who["left"] if box[0] + box[2] / 2 < width / 2 else who["right"]
    return None
