# Dates as dd.mm.yyyy wherever a template prints a date without its own format
# (Django's nb default is "j. F Y"); loaded through FORMAT_MODULE_PATH in settings.
DATE_FORMAT = "d.m.Y"
SHORT_DATE_FORMAT = "d.m.Y"
DATETIME_FORMAT = "d.m.Y H:i"
SHORT_DATETIME_FORMAT = "d.m.Y H:i"
