"""The nginx configuration in deploy/ in front of the real server: HTTPS,
WebSocket upgrade and long-polling both reach the app; the app trusts exactly
this one hop; idle and greedy clients are cut off at the proxy."""
import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import socketio

from conftest import REPO_ROOT, ServerProcess, free_port
from testkit.synthetic import jpeg, scene
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
    # As deploy/nginx.conf says: the app trusts one proxy. A low API limit shows
    # whose address it counts.
    app = ServerProcess({"TRUSTED_PROXIES": "1", "RATE_LIMIT_API": "20 per minute"})
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
events {{ worker_connections 4096; }}
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


def https_connection(url, cert, source_address):
    """An HTTPS connection to the proxy from this client address (all of 127/8 is loopback)."""
    port = int(url.rsplit(":", 1)[1])
    return http.client.HTTPSConnection("127.0.0.1", port, timeout=10,
                                       context=ssl.create_default_context(cafile=cert),
                                       source_address=(source_address, 0))


def get_status(url, cert, source_address, path, headers=None):
    connection = https_connection(url, cert, source_address)
    try:
        connection.request("GET", path, headers=headers or {})
        return connection.getresponse().status
    finally:
        connection.close()


def test_each_visitor_has_its_own_rate_limit_which_a_forged_header_does_not_escape(proxied):
    """TRUSTED_PROXIES=1 behind this config: the app counts requests per visitor
    (RATE_LIMIT_API: 20 per minute), by the address nginx saw, whatever
    X-Forwarded-For the visitor sends."""
    https_url, _, cert = proxied
    unknown_job = "/api/videos/" + "B" * 24
    statuses = [get_status(https_url, cert, "127.0.0.4", unknown_job,
                           {"X-Forwarded-For": f"198.51.100.{index}"}) for index in range(21)]
    assert statuses == [404] * 20 + [429]
    assert get_status(https_url, cert, "127.0.0.5", unknown_job) == 404  # another visitor


def test_1100_idle_connections_at_the_proxy_leave_the_site_answering(proxied):
    https_url, _, cert = proxied
    port = int(https_url.rsplit(":", 1)[1])
    idle = []
    try:
        for _ in range(1100):  # connected, and never a byte of TLS or HTTP
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5,
                                                 source_address=("127.0.0.6", 0)))
        context = ssl.create_default_context(cafile=cert)
        health = urllib.request.urlopen(https_url + "/healthz", context=context, timeout=1)
        assert health.status == 200
        import requests

        session = requests.Session()
        session.trust_env = False
        session.verify = cert
        client = socketio.Client(reconnection=False, http_session=session)
        client.connect(https_url, transports=["websocket"], wait_timeout=5)
        try:  # a generous deadline for a busy machine: a starved proxy still fails it
            assert len(client.call("frame", jpeg(scene(640, 480)), timeout=5)["faces"]) == 1
        finally:
            client.disconnect()
        # client_header_timeout (10 s) later, nginx has closed them all.
        deadline = time.monotonic() + 20
        while any(still_open(sock) for sock in idle) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not any(still_open(sock) for sock in idle)
    finally:
        for sock in idle:
            sock.close()


def still_open(sock):
    sock.setblocking(False)
    try:
        return sock.recv(1024) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def test_one_address_gets_503_beyond_100_open_requests(proxied):
    """limit_conn: 100 uploads stalled mid-body from one address, then that
    address is refused while another one is served."""
    https_url, _, cert = proxied
    stalled = []
    try:
        for _ in range(100):
            connection = https_connection(https_url, cert, "127.0.0.7")
            connection.putrequest("POST", "/api/analyze")
            connection.putheader("Content-Type", "multipart/form-data; boundary=x")
            connection.putheader("Content-Length", "100000")
            connection.endheaders()  # and the body never comes
            stalled.append(connection)
        time.sleep(0.5)  # nginx has read every request's headers
        assert get_status(https_url, cert, "127.0.0.7", "/healthz") == 503
        assert get_status(https_url, cert, "127.0.0.8", "/healthz") == 200
    finally:
        for connection in stalled:
            connection.close()
