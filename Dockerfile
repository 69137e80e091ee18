# One image for web, worker and beat: docker-compose.yml picks each one's command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files go into the image; WhiteNoise serves them from gunicorn. DEBUG=true only lets
# settings load without the production secrets, which a build must never see.
RUN DEBUG=true python manage.py collectstatic --noinput -v0

# Never run as root: a compromised process then owns nothing but its own files.
RUN useradd --create-home --uid 10001 app
USER app

EXPOSE 8000
# gthread workers keep a connection open between requests (the sync worker closes each one),
# as docker-compose.yml's web does; a dashboard polls, so its connections are long-lived.
# Three processes, as there (gunicorn reads WEB_CONCURRENCY; set it to about cores + 1): each
# keeps the connections it accepted, and Django's work holds its process's one core, so with
# as many processes as cores one may end up serving every screen while another idles.
ENV WEB_CONCURRENCY=3
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", \
     "--worker-class", "gthread", "--threads", "4"]
