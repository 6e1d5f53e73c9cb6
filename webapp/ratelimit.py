"""Per-client rate limits on the HTTP API (Flask-Limiter), answered with 429.

Each app gets its own limiter. Limits count per client address (behind a
reverse proxy, set TRUSTED_PROXIES so the address comes from X-Forwarded-For),
in memory by default or in RATELIMIT_STORAGE_URI (such as redis://...) when
several processes serve one site. Webcam frames are limited per connection
in `webapp.live.streams`.
"""
from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

# endpoint -> config key of its own limit (on top of RATE_LIMIT_API)
ENDPOINT_LIMITS = {"api.analyze": "RATE_LIMIT_ANALYZE", "api.upload_video": "RATE_LIMIT_UPLOADS"}


def install_rate_limits(app):
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=app.config["RATELIMIT_STORAGE_URI"],
        default_limits=[app.config["RATE_LIMIT_API"]],
        default_limits_exempt_when=lambda: not request.path.startswith("/api/"),
        headers_enabled=True,
    )
    for endpoint, config_key in ENDPOINT_LIMITS.items():
        view = app.view_functions[endpoint]
        app.view_functions[endpoint] = limiter.limit(app.config[config_key])(view)
    return limiter
