"""compose.yaml: nginx is the only way in, the app believes exactly that one hop,
and Redis answers only with the password, which the app's REDIS_URL carries.
(No container engine here: the file is read as compose reads it, and its Redis
command and the app's settings are run for real.)"""
import json
import os
import re
import shlex
import shutil
import subprocess
import urllib.request

import pytest
import yaml

from conftest import REPO_ROOT, ServerProcess, free_port, wait_for_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
ENVIRONMENT = {"SECRET_KEY": "s" * 64, "REDIS_PASSWORD": "0123abcd" * 4}


def interpolate(text, environment):
    """compose's variable substitution: ${NAME}, ${NAME:?error}, ${NAME:-default}, $$."""
    def value(match):
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        if environment.get(name):
            return environment[name]
        if operator == ":?":
            raise KeyError(f"{name}: {argument}")
        return argument or ""
    text = re.sub(r"(?<!\$)\$\{(\w+)(?:(:[?-])([^}]*))?\}", value, text)
    return text.replace("$$", "$")


def compose(environment=ENVIRONMENT):
    with open(os.path.join(REPO_ROOT, "compose.yaml")) as f:
        return yaml.safe_load(interpolate(f.read(), environment))


def test_compose_refuses_to_start_without_a_secret_key_or_a_redis_password():
    for missing in ENVIRONMENT:
        with pytest.raises(KeyError, match=missing):
            compose({name: value for name, value in ENVIRONMENT.items() if name != missing})


def test_only_nginx_is_reachable_and_the_app_trusts_that_one_hop():
    services = compose()["services"]
    web, proxy = services["web"], services["proxy"]
    assert proxy["network_mode"] == "service:web"  # nginx reaches the app on its loopback
    assert any(volume.startswith("./deploy/nginx.conf:") for volume in proxy["volumes"])
    with open(os.path.join(REPO_ROOT, "deploy", "nginx.conf")) as f:
        assert "server 127.0.0.1:5000;" in f.read()
    assert web["environment"]["HOST"] == "127.0.0.1"  # not reachable from outside
    assert str(web["environment"]["TRUSTED_PROXIES"]) == "1"
    published = [str(port).rsplit(":", 1)[-1] for service in services.values()
                 for port in service.get("ports", [])]
    assert sorted(published) == ["443", "80"]  # no 5000, no 6379
    assert "PORT" not in web["environment"]  # the image's 5000, as nginx.conf expects


@pytest.mark.skipif(not os.path.exists(REDIS_SERVER), reason="redis-server is not installed")
def test_redis_needs_the_password_and_the_apps_redis_url_carries_it(tmp_path):
    import redis

    services = compose()["services"]
    port = free_port()
    command = services["redis"]["command"]
    assert command[:2] == ["sh", "-c"]
    arguments = shlex.split(command[2].replace('"$REDIS_PASSWORD"',
                                               services["redis"]["environment"]["REDIS_PASSWORD"]))
    assert arguments[:2] == ["exec", "redis-server"]
    server = subprocess.Popen([REDIS_SERVER, *arguments[2:], "--port", str(port), "--bind",
                               "127.0.0.1", "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    app = None
    try:
        wait_for_port(port, "redis-server")
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=port).ping()
        composed_url = services["web"]["environment"]["REDIS_URL"]
        assert services["worker"]["environment"]["REDIS_URL"] == composed_url
        url = composed_url.replace("@redis:6379", f"@127.0.0.1:{port}")
        assert redis.Redis.from_url(url).ping()
        app = ServerProcess({"REDIS_URL": url, "JOBS_DIR": str(tmp_path / "jobs")})
        ready = json.load(urllib.request.urlopen(app.url + "/readyz", timeout=10))
        assert ready["checks"]["queue"] == "ok", ready
    finally:
        if app is not None:
            app.stop()
        server.terminate()
        server.wait(10)
