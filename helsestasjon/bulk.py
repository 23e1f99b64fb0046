"""Bulk statements with each list sent as one binary array parameter.

The register sync compares thousands of journal children with the register
and writes back what changed. The ORM's own paths are slow at that size: ``__in`` quotes
every value into the SQL one by one, model instances are built and prepared
field by field, and ``bulk_update`` writes a CASE expression per column. So
these statements send each list as ONE binary array parameter (server-side
binding, ``%b``: the text form of an array escapes every element with a
regular expression), join arrays with ``unnest`` and read plain tuples.

Their filters are still querysets: a read takes a queryset, compiles it, and
runs the compiled SQL, so a filter is written once, in the ORM's terms. List
filters use the ``any`` lookup below (``pk__any=ids``: ``= ANY(array)``, one
parameter) rather than ``__in`` (one parameter per value).

Every statement goes through Django's cursor wrapper on Django's connection
(and in its transaction): it is counted in ``connection.queries``,
``CaptureQueriesContext`` and ``django_assert_max_num_queries``, passes the
connection's execute wrappers, and its errors are Django's ``DatabaseError``.
Only the psycopg cursor inside differs: Django's binds parameters on the
client, this one (Django's own ``ServerBindingCursor``, what the
``server_side_binding`` option would use everywhere) on the server.
"""

from __future__ import annotations

import re

from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.models import Field, ForeignObject, Lookup



def array_type(field) -> str:
    """The SQL array type a column's values are sent as. Text columns go as
    text[], so a value too long for a varchar is refused on assignment (as in
    a plain UPDATE or INSERT) instead of being cut by an explicit cast."""
    if field.get_internal_type() in ("CharField", "TextField", "SlugField", "EmailField"):
        return "text[]"
    return f"{field.target_field.db_type(connection) if field.is_relation else field.db_type(connection)}[]"


@ForeignObject.register_lookup  # A relation's lookups are its own, not Field's.
@Field.register_lookup
class Any(Lookup):
    """``field__any=values``: ``field = ANY(%s::type[])``, the values as one array
    parameter (sent in binary by the statements of this module; a plain queryset
    with it works too, the array quoted on the client as usual). The values are
    sent as given, not prepared per element: give them as the column stores
    them (a UUID column takes strings, cast in SQL)."""

    lookup_name = "any"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs_sql} = ANY(%s::{array_type(self.lhs.output_field)})", (*lhs_params, list(self.rhs))


def cursor():
    """A cursor on Django's connection that binds on the server, wrapped as
    ``connection.cursor()`` wraps its own (logged when queries are logged)."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = ServerBindingCursor(connection.connection)
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


_PLACEHOLDER = re.compile(r"%[%s]")


def _binary_arrays(sql: str, params) -> str:
    """The compiled SQL with each list parameter's ``%s`` made ``%b`` (sent in binary)."""
    values = iter(params)

    def placeholder(match):
        if match.group() == "%%":
            return "%%"
        return "%b" if isinstance(next(values), (list, tuple)) else "%s"

    return _PLACEHOLDER.sub(placeholder, sql)


def execute(sql: str, params=()) -> None:
    with cursor() as c:
        c.execute(sql, params)


def select(sql: str, params=()) -> list[tuple]:
    with cursor() as c:
        c.execute(sql, params)
        return c.fetchall()


def rows(qs) -> list[tuple]:
    """The rows of a ``values_list`` queryset as plain tuples (no converters),
    its compiled SQL run with its list parameters as binary arrays."""
    sql, params = qs.query.sql_with_params()
    return select(_binary_arrays(sql, params), params)


def update_rows(model, objs: list, fields) -> None:
    """UPDATE each row's changed fields in one statement: the new values go as
    one array per column and are joined to the rows with unnest (one statement
    instead of one per row; faster than bulk_update's CASE expressions too)."""
    qn = connection.ops.quote_name
    table, pk = qn(model._meta.db_table), model._meta.pk
    columns = [model._meta.get_field(name) for name in sorted(fields)]
    names = [f"v{i}" for i in range(len(columns))]
    sql = (f"UPDATE {table} SET " + ", ".join(f"{qn(c.column)} = u.{n}" for c, n in zip(columns, names))
           + f" FROM unnest(%b::{array_type(pk)}, " + ", ".join(f"%b::{array_type(c)}" for c in columns)
           + f") AS u(pk, {', '.join(names)}) WHERE {table}.{qn(pk.column)} = u.pk")
    arrays = [[obj.pk for obj in objs]]
    arrays += [[c.get_db_prep_save(getattr(obj, c.attname), connection) for obj in objs] for c in columns]
    execute(sql, arrays)


def insert_rows(model, rows: list[dict]) -> None:
    """INSERT rows given as database values by attribute name (a column not
    given gets the field's default), skipping any row a concurrent run inserted
    first: what bulk_create(ignore_conflicts=True) does, in one statement fed
    with one array per column, without model instances."""
    qn = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_db_prep_save(f.get_default(), connection) for f in fields
                if not all(f.attname in row for row in rows)}
    sql = (f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
           f"SELECT * FROM unnest({', '.join(f'%b::{array_type(f)}' for f in fields)}) ON CONFLICT DO NOTHING")
    arrays = [[row[f.attname] if f.attname in row else defaults[f.attname] for row in rows] for f in fields]
    execute(sql, arrays)
