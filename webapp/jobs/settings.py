"""What a job worker needs to know, as plain JSON-able values: the model, the
face detector and the limits on one video, taken from the app's config."""
from webapp import video

_engines = {}


def job_settings(config):
    """The job settings of an app config (a dict-like Flask config)."""
    return {"model_path": config["MODEL_PATH"], "detector": config["FACE_DETECTOR"],
            "limits": {"max_seconds": config["MAX_VIDEO_SECONDS"],
                       "max_frames": config["MAX_VIDEO_FRAMES"],
                       "max_side": config["MAX_VIDEO_SIDE"],
                       "max_pixels": config["MAX_VIDEO_PIXELS"],
                       "timeout_seconds": config["JOB_TIMEOUT_SECONDS"]}}


def limits(settings):
    return video.Limits(**settings["limits"])


def engine(settings):
    """This process's engine for these settings (built once)."""
    from webapp.vision.pipeline import Engine

    key = (settings["model_path"], settings["detector"])
    if key not in _engines:
        _engines[key] = Engine(settings["model_path"], detector=settings["detector"])
    return _engines[key]
