"""The nginx configuration in deploy/ in front of the real server: HTTPS,
WebSocket upgrade and long-polling both reach the app."""
import os
import re
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import socketio

from conftest import REPO_ROOT, ServerProcess, free_port
from synthetic import jpeg, scene
from webapp.tls import make_self_signed

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = pytest.mark.skipif(not os.path.exists(NGINX),
                                reason="nginx is not installed (apt-get install nginx)")


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """(https url, http url, certificate) of nginx proxying to a real app server."""
    folder = tmp_path_factory.mktemp("nginx")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    make_self_signed(cert, key, "127.0.0.1")
    app = ServerProcess()
    http_port, https_port = free_port(), free_port()
    with open(os.path.join(REPO_ROOT, "deploy", "nginx.conf")) as f:
        site = f.read()
    site = site.replace("127.0.0.1:5000", f"127.0.0.1:{app.port}")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    site = re.sub(r"ssl_certificate .*;", f"ssl_certificate {cert};", site)
    site = re.sub(r"ssl_certificate_key .*;", f"ssl_certificate_key {key};", site)
    site = site.replace("emotion.example.org", "127.0.0.1")
    (folder / "site.conf").write_text(site)
    (folder / "nginx.conf").write_text(f"""
daemon off;
user root;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/site.conf;
}}
""")
    nginx = subprocess.Popen([NGINX, "-c", str(folder / "nginx.conf"), "-p", str(folder)])
    https_url = f"https://127.0.0.1:{https_port}"
    try:
        context = ssl.create_default_context(cafile=cert)
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen(https_url + "/healthz", context=context, timeout=2)
                break
            except OSError:
                assert nginx.poll() is None, (folder / "error.log").read_text()
                assert time.time() < deadline, "nginx did not start"
                time.sleep(0.2)
        yield https_url, f"http://127.0.0.1:{http_port}", cert
    finally:
        nginx.terminate()
        nginx.wait(10)
        app.stop()


def test_pages_come_through_https_with_the_apps_headers(proxied):
    https_url, _, cert = proxied
    page = urllib.request.urlopen(https_url + "/", context=ssl.create_default_context(cafile=cert))
    assert page.status == 200
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "max-age" in page.headers["Strict-Transport-Security"]


def test_plain_http_redirects_to_https(proxied):
    _, http_url, _ = proxied

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.build_opener(NoRedirect).open(http_url + "/upload")
    assert caught.value.code == 301
    assert caught.value.headers["Location"].startswith("https://127.0.0.1/upload")


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_socketio_works_through_the_proxy(proxied, transport):
    import requests

    https_url, _, cert = proxied
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE in the environment overrides verify
    session.verify = cert  # the proxy's certificate is checked, not skipped
    client = socketio.Client(reconnection=False, http_session=session)
    client.connect(https_url, transports=[transport], wait_timeout=10)
    try:
        assert client.transport() == transport
        result = client.call("frame", jpeg(scene(640, 480)), timeout=30)
        assert len(result["faces"]) == 1
    finally:
        client.disconnect()
