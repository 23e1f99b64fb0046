FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-core fonts-dejavu-core gettext \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY helsestasjon ./helsestasjon
COPY attendance ./attendance
COPY followup ./followup
COPY registry_sync ./registry_sync
RUN pip install --no-cache-dir .
COPY . .
# The interface texts' catalogue; msgfmt directly, since settings need the environment.
RUN msgfmt --check -o locale/nb/LC_MESSAGES/django.mo locale/nb/LC_MESSAGES/django.po
RUN useradd --system app && mkdir -p var && chown app var
USER app
