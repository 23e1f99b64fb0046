"""All configuration, read from the environment (see README, "Configuration").

There is one settings file. Development, tests and production differ only in the
environment they run in; nothing here exists only in production.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from helsestasjon.env import env_bool, env_choice, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set (or SECRET_KEY_FILE) unless DEBUG=true."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-debug-on-0123456789abcdef"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Synthetic (Tenor) national ids are the only ids the demo and the tests use;
# production refuses them unless a municipality deliberately runs a test copy.
ALLOW_SYNTHETIC_IDS = env_bool("ALLOW_SYNTHETIC_IDS", DEBUG)
# H-numbers are assigned by health institutions, not by the register.
ALLOW_H_NUMBERS = env_bool("ALLOW_H_NUMBERS", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "helsestasjon.apps.AxesConfig",  # axes, with a Norwegian label
    "django_otp",
    "helsestasjon.apps.OtpTotpConfig",  # django_otp.plugins.otp_totp, with a Norwegian label
    "helsestasjon",
    "attendance",
    "followup",
    "registry_sync",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "helsestasjon.middleware.RejectNulBytesMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "helsestasjon.middleware.SessionLimitsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "helsestasjon.middleware.NorwegianErrorPagesMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "helsestasjon.middleware.SecurityHeadersMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "helsestasjon.urls"
WSGI_APPLICATION = "helsestasjon.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            # {% partialdef %} works in every template without {% load partials %}.
            "builtins": ["template_partials.templatetags.partials"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "helsestasjon.context_processors.navigation",
                "registry_sync.context_processors.alerts",
            ],
        },
    }
]

# PostgreSQL is the only database. An unset DATABASE_URL means the embedded server bin/demo starts
# (helsestasjon/embedded.py): its Unix socket in var/postgres, so manage.py finds the demo's data.
DATABASE_URL = env_str("DATABASE_URL", f"postgres://postgres@{quote(str(BASE_DIR / 'var' / 'postgres'), safe='')}/helsestasjon")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
except Exception as exc:  # dj-database-url raises several types for a bad URL.
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
# The password apart from the URL, so it can come from a secret file (DATABASE_PASSWORD_FILE)
# shared with the database server's own (docker-compose.yml).
DATABASE_PASSWORD = env_str("DATABASE_PASSWORD")
if DATABASE_PASSWORD:
    DATABASES["default"]["PASSWORD"] = DATABASE_PASSWORD
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(f"DATABASE_URL must be a PostgreSQL URL (postgres://...), not {DATABASE_URL!r}")

AUTH_USER_MODEL = "helsestasjon.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend that loads the user's stations with the user (one query per page fewer).
    "helsestasjon.backends.StationModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sessions: idle expiry (SESSION_IDLE_MINUTES, renewed by a request at most once a
# minute) and an absolute limit, both in helsestasjon.middleware.SessionLimitsMiddleware.
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 30, minimum=1)
SESSION_ABSOLUTE_HOURS = env_int("SESSION_ABSOLUTE_HOURS", 12, minimum=1)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = False
SESSION_ENGINE = "helsestasjon.sessions"  # Django's database sessions (a key with NUL refused first)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Login throttling (django-axes): lock the client's address after repeated failures, whatever
# usernames it tries. There is no lock per username: anyone could then lock a named nurse out for
# everyone by typing her name five times (docs/decisions.md, "Admin and hardening").
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
# The client's address is read from X-Forwarded-For behind this many proxies (the TLS proxy: one);
# without it every client would share the proxy's address and one attacker would lock out everybody.
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", not DEBUG)
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1 if BEHIND_TLS_PROXY else 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "helsestasjon.backends.client_ip_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# Security headers. HTTPS settings default to on outside DEBUG so that
# `check --deploy` is clean; a TLS-terminating proxy sets X-Forwarded-Proto.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# htmx sends the CSRF token from a header set in the base template, so the
# cookie never has to be readable by JavaScript.
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "helsestasjon.views.csrf_failure"
# No inline script or style anywhere; see templates/base.html.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'"
)

DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# One interface language, so no LocaleMiddleware: nothing to negotiate per request.
LANGUAGE_CODE = "nb"
# With DEBUG the Norwegian error pages are still shown (the demo runs with DEBUG); true gives a
# developer Django's technical pages instead (helsestasjon.middleware.NorwegianErrorPagesMiddleware).
TECHNICAL_ERROR_PAGES = env_bool("TECHNICAL_ERROR_PAGES", False)
LANGUAGES = [("nb", "Norsk bokmål")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# dd.mm.yyyy for dates printed without a format of their own (helsestasjon/formats/nb/formats.py).
FORMAT_MODULE_PATH = ["helsestasjon.formats"]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Oslo")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: Celery broker and Django cache. Without REDIS_URL (the embedded demo)
# tasks run in-process when enqueued and the cache is process-local.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# With eager tasks (no broker), work a user starts and waits for (the letter batch) runs in a thread
# of the web process, so the page answers at once and shows progress (helsestasjon/background.py).
EAGER_TASKS_IN_THREADS = env_bool("EAGER_TASKS_IN_THREADS", True)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30 if CELERY_TASK_TIME_LIMIT > 60 else CELERY_TASK_TIME_LIMIT
# A task is acknowledged before it runs unless it declares acks_late itself;
# only tasks whose service is safe to run twice do (see docs/architecture.md).
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# No countdown or ETA is ever longer than this, so a message is never
# redelivered while it is still legitimately waiting.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

# The beat schedule. Every entry is a safety net as well as a timer: each task
# re-derives its work from the database, so a lost message is picked up here.
CELERY_BEAT_SCHEDULE = {
    # Follow the population register's events from the stored cursor (registry_sync).
    "register-sync": {
        "task": "registry_sync.tasks.sync_register",
        "schedule": timedelta(minutes=10),
    },
    # The weekly safety net: compare every child in scope with the register.
    "register-full-reconciliation": {
        "task": "registry_sync.tasks.full_reconciliation",
        "schedule": crontab(minute=30, hour=2, day_of_week="sunday"),
    },
    # Planned -> due -> expired for every consultation (attendance).
    "advance-consultation-states": {
        "task": "attendance.tasks.advance_consultation_states",
        "schedule": crontab(minute=5, hour="*/1"),
    },
    # Open, join, close and advance follow-up cases from the attendance facts.
    # Also enqueued after each recorded outcome (ATTENDANCE_OUTCOME_HOOKS); this
    # entry catches lost messages, expired consultations and passed deadlines.
    "followup-sweep": {
        "task": "followup.tasks.sweep",
        "schedule": crontab(minute="*/15"),
    },
    # Letters: release stale render claims and restart batches whose messages were lost.
    "letters-resume": {
        "task": "followup.letters.resume",
        "schedule": timedelta(minutes=2),
    },
    # SvarUt: send what waits (lost messages), resolve sends whose answer was lost, and ask the
    # statuses of letters not yet final (delivery drives the ladder).
    "svarut-resume": {
        "task": "followup.letters.svarut.resume",
        "schedule": timedelta(minutes=2),
    },
    "svarut-poll": {
        "task": "followup.letters.svarut.poll",
        "schedule": timedelta(minutes=5),
    },
    # SMS reminders before appointments (Station.sms_reminder_days_before); idempotent.
    "sms-appointment-reminders": {
        "task": "followup.sms.send_reminders",
        "schedule": crontab(minute=0, hour="9-17"),
    },
}
# Task modules outside the apps' tasks.py (Celery autodiscovers only those).
CELERY_IMPORTS = ["followup.letters.tasks", "followup.sms.tasks", "followup.letters.svarut.tasks"]

# Called (by dotted path, inside transaction.on_commit) after attendance records
# or corrects an outcome, so attendance never imports followup.
ATTENDANCE_OUTCOME_HOOKS: list[str] = ["followup.tasks.enqueue_sweep"]
# Asked (by dotted path) before attendance writes an outcome; each may refuse it with a
# message: a home visit of the ladder is not "Møtt" before the family's consent is recorded.
ATTENDANCE_OUTCOME_CHECKS: list[str] = ["followup.home_visit_consent.attended_without_consent"]

# Repeated cancelling opens a follow-up case: the same consultation cancelled or
# moved this many times, or this many guardian cancellations within the window.
FOLLOWUP_SAME_CONSULTATION_REBOOKINGS = env_int("FOLLOWUP_SAME_CONSULTATION_REBOOKINGS", 3, minimum=1)
FOLLOWUP_GUARDIAN_CANCELLATIONS = env_int("FOLLOWUP_GUARDIAN_CANCELLATIONS", 4, minimum=1)
FOLLOWUP_CANCELLATION_WINDOW_DAYS = env_int("FOLLOWUP_CANCELLATION_WINDOW_DAYS", 183, minimum=1)

# The population register (Persontjenesten or the fake register).
# Base URL and API version go together: "2" for the legal-basis routes
# (https://…/api/legal-basis), "3" for v3's routes under its own base URL (/api/v3/full-access).
REGISTER_BASE_URL = env_str("REGISTER_BASE_URL", "http://127.0.0.1:8089/api/legal-basis")
REGISTER_API_VERSION = env_choice("REGISTER_API_VERSION", "2", {"2": "2", "3": "3"})
REGISTER_TOKEN = env_str("REGISTER_TOKEN", "")
REGISTER_TIMEOUT_SECONDS = env_int("REGISTER_TIMEOUT_SECONDS", 10, minimum=1)
# The fake register's data file (written by the demo seeder, served by `manage.py fake_register`).
FAKE_REGISTER_DATA = env_str("FAKE_REGISTER_DATA", str(BASE_DIR / "var" / "fake_register.json"))

# --- HelseID (issue 19, docs/decisions.md "HelseID") -------------------------------------------------
# Staff log in through HelseID when HELSEID_AUTHORITY is set (test: https://helseid-sts.test.nhn.no);
# the client id and private key (a JWK or PEM, usually HELSEID_PRIVATE_KEY_FILE) come from HelseID
# Selvbetjening. Then only the break-glass administrator may use a password, always with a TOTP code.
HELSEID_AUTHORITY = (env_str("HELSEID_AUTHORITY", "") or "").rstrip("/")
HELSEID_CLIENT_ID = env_str("HELSEID_CLIENT_ID", "")
HELSEID_PRIVATE_KEY = env_str("HELSEID_PRIVATE_KEY", "")
if HELSEID_AUTHORITY and not (HELSEID_CLIENT_ID and HELSEID_PRIVATE_KEY):
    raise ImproperlyConfigured("HELSEID_AUTHORITY needs HELSEID_CLIENT_ID and HELSEID_PRIVATE_KEY (or _FILE).")
HELSEID_SCOPES = env_str(
    "HELSEID_SCOPES",
    "openid profile helseid://scopes/identity/pid helseid://scopes/identity/security_level "
    "helseid://scopes/hpr/hpr_number helseid://scopes/identity/network",
)
HELSEID_REQUIRED_SECURITY_LEVEL = env_int("HELSEID_REQUIRED_SECURITY_LEVEL", 4, minimum=3)
HELSEID_LEEWAY_SECONDS = env_int("HELSEID_LEEWAY_SECONDS", 30, minimum=0)
HELSEID_TIMEOUT_SECONDS = env_int("HELSEID_TIMEOUT_SECONDS", 10, minimum=1)
# Break-glass: the administrator's password + TOTP login. Switch it off once HelseID is trusted.
BREAK_GLASS_LOGIN = env_bool("BREAK_GLASS_LOGIN", True)
# Without HelseID, every role may log in with a password: development and tests only (DEBUG).
PASSWORD_LOGIN_ALL_ROLES = env_bool("PASSWORD_LOGIN_ALL_ROLES", DEBUG and not HELSEID_AUTHORITY)
if PASSWORD_LOGIN_ALL_ROLES and HELSEID_AUTHORITY:
    raise ImproperlyConfigured("PASSWORD_LOGIN_ALL_ROLES cannot be on when HelseID is configured.")
# The register client's own tokens (client credentials + private_key_jwt), DPoP-bound when asked for.
REGISTER_HELSEID = env_bool("REGISTER_HELSEID", bool(HELSEID_AUTHORITY))
REGISTER_HELSEID_SCOPE = env_str("REGISTER_HELSEID_SCOPE", "nhn:hgd-persontjenesten-api/read-with-legal-basis")
REGISTER_DPOP = env_bool("REGISTER_DPOP", False)
# The fake HelseID (manage.py fake_helseid): its keys and the demo personas live here.
FAKE_HELSEID_DIR = env_str("FAKE_HELSEID_DIR", str(BASE_DIR / "var" / "fake_helseid"))
# --- end HelseID ---------------------------------------------------------------------------------------

# SMS gateway backend, chosen like Django's e-mail backends. Required outside DEBUG: a production
# that silently fell back to the console would send nothing and write numbers to the log.
if not DEBUG and not env_str("SMS_BACKEND"):
    raise ImproperlyConfigured("SMS_BACKEND must be set (console, memory or http) unless DEBUG=true.")
SMS_BACKEND = env_choice(
    "SMS_BACKEND",
    "console",
    {
        "console": "followup.sms.backends.ConsoleBackend",
        "memory": "followup.sms.backends.MemoryBackend",
        "http": "followup.sms.backends.HttpGatewayBackend",
    },
)
SMS_GATEWAY_URL = env_str("SMS_GATEWAY_URL", "")
SMS_GATEWAY_TOKEN = env_str("SMS_GATEWAY_TOKEN", "")
SMS_WEBHOOK_SECRET = env_str("SMS_WEBHOOK_SECRET", "")
SMS_GATEWAY_TIMEOUT_SECONDS = env_int("SMS_GATEWAY_TIMEOUT_SECONDS", 10, minimum=1)
# Letters: how many render tasks a print batch is split over (the worker's concurrency).
LETTER_WORKERS = env_int("LETTER_WORKERS", 2, minimum=1)
# Letters a worker lays out as one document: larger is cheaper per letter, smaller shows progress sooner.
LETTER_CHUNK_SIZE = env_int("LETTER_CHUNK_SIZE", 25, minimum=1)

# --- SvarUt (issue 20, followup/letters/svarut/, docs/decisions.md "Letters through SvarUt") ----------
# KS SvarUt REST v3: https://svarut.ks.no/api (test: https://test.svarut.ks.no/api); the fake is
# `manage.py fake_svarut` (bin/demo: port 8091). The account is the kontoId (a UUID) of the
# municipality's SvarUt account. The token is Maskinporten's (JWT grant with the organisation's key)
# when SVARUT_MASKINPORTEN_TOKEN_URL is set, else SVARUT_TOKEN as it is.
SVARUT_BASE_URL = env_str("SVARUT_BASE_URL", "http://127.0.0.1:8091/api")
SVARUT_ACCOUNT = env_str("SVARUT_ACCOUNT", "7e3b1f52-5c1d-4d0e-9a53-0f5b8d6a2c11")
SVARUT_TOKEN = env_str("SVARUT_TOKEN", "")
# KS's lookup by eksternReferanse (ForsendelseRestServiceV1 /eksternref/{ref}): where a send's answer
# was lost, the letter is looked up here; empty: such letters go straight to the clerk's "uncertain" list.
SVARUT_EXTERNAL_REFERENCE_URL = env_str("SVARUT_EXTERNAL_REFERENCE_URL", "http://127.0.0.1:8091/tjenester/api/forsendelse/v1")
SVARUT_MASKINPORTEN_TOKEN_URL = env_str("SVARUT_MASKINPORTEN_TOKEN_URL", "")
SVARUT_MASKINPORTEN_AUDIENCE = env_str("SVARUT_MASKINPORTEN_AUDIENCE", "https://maskinporten.no/")
SVARUT_MASKINPORTEN_CLIENT_ID = env_str("SVARUT_MASKINPORTEN_CLIENT_ID", "")
SVARUT_MASKINPORTEN_KEY = env_str("SVARUT_MASKINPORTEN_KEY", "")
SVARUT_MASKINPORTEN_SCOPE = env_str("SVARUT_MASKINPORTEN_SCOPE", "ks:fiks")
if SVARUT_MASKINPORTEN_TOKEN_URL and not (SVARUT_MASKINPORTEN_CLIENT_ID and SVARUT_MASKINPORTEN_KEY):
    raise ImproperlyConfigured("SVARUT_MASKINPORTEN_TOKEN_URL needs SVARUT_MASKINPORTEN_CLIENT_ID and SVARUT_MASKINPORTEN_KEY (or _FILE).")
SVARUT_TIMEOUT_SECONDS = env_int("SVARUT_TIMEOUT_SECONDS", 10, minimum=1)
SVARUT_SEND_TIMEOUT_SECONDS = env_int("SVARUT_SEND_TIMEOUT_SECONDS", 60, minimum=1)
SVARUT_MAX_ATTEMPTS = env_int("SVARUT_MAX_ATTEMPTS", 4, minimum=1)
SVARUT_BACKOFF_SECONDS = env_int("SVARUT_BACKOFF_SECONDS", 1, minimum=0)
# Letters one send task claims and sends.
SVARUT_CHUNK_SIZE = env_int("SVARUT_CHUNK_SIZE", 25, minimum=1)

# Demo data hooks, called in order by `manage.py seed_demo` after the core
# demo (children, guardians, staff) exists. Each is a function taking
# children=, result=, rng= and today= keyword arguments.
DEMO_SEEDERS: list[str] = [
    "attendance.demo.seed",
    "followup.demo.seed",
    "registry_sync.demo.seed",
    "helsestasjon.helseid.demo.seed",  # HelseID personas for the demo users (issue 19)
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}, "weasyprint": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}},
}
