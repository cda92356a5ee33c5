"""Plain SQL for the few ORM statements on every turn's path.

Building a statement through the ORM (queryset, query, compiler, lookups) costs 0.1-0.25 ms
of CPU per statement on the benchmark machine, several times what SQLite takes to run it,
and a turn's start and finish make about eight: the largest part of what a turn costs the
process besides relaying tokens (docs/benchmark.md). These helpers write the same
statements straight from the models' own metadata — table and column names, and each
field's own conversion of its value for the connection (`get_db_prep_save`), as the ORM
does — so they follow the models as fields are added, on SQLite and PostgreSQL alike.

Use them only where a turn's latency or its CPU per token is at stake; everywhere else the
ORM's readability is worth its cost.
"""

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Model


def insert(objs: list[Model]) -> None:
    """INSERT `objs` (instances of one model) in one statement, as `bulk_create` would: every
    concrete field, `pre_save` applied (auto_now and the like). An auto-incremented primary
    key left unset is made by the database and not read back. No signals are sent and
    save() is not called (as with bulk_create)."""
    model = type(objs[0])
    meta = model._meta
    auto = meta.auto_field
    skip_auto = auto is not None and getattr(objs[0], auto.attname) is None
    fields = tuple(f for f in meta.concrete_fields if not (skip_auto and f is auto))
    params = [
        field.get_db_prep_save(field.pre_save(obj, True), connection)
        for obj in objs
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(model, fields, len(objs)), params)
    for obj in objs:  # as bulk_create leaves them: stored, in this database
        obj._state.adding = False
        obj._state.db = connection.alias


def update(model: type[Model], pk, values: dict[str, Any], **where: Any) -> int:
    """UPDATE the row `pk` of `model` with `values` (field name or attname -> value); only
    if each `where` field equals its value (a tuple: is one of its values; None is not a
    condition this writes: SQL's `= NULL` matches nothing). Returns the number of rows
    changed (0 or 1)."""
    params = _update_params(model, values.items(), pk) + _where_params(model, where)
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(model, tuple(values), _conditions(where)), params)
        return cursor.rowcount


def update_many(
    model: type[Model], names: Sequence[str], rows: Iterable[tuple[Any, Sequence[Any]]], **where
) -> None:
    """`update` for many rows with the same fields: each (pk, values) of `rows` sets the
    fields `names` (in that order) to its `values`, under the same `where` conditions as
    update's. One statement run once per row (executemany); wrap it in a transaction to
    make the rows one write."""
    names = tuple(names)
    conditions = _where_params(model, where)
    params = [
        _update_params(model, zip(names, values, strict=True), pk) + conditions
        for pk, values in rows
    ]
    if not params:
        return
    with connection.cursor() as cursor:
        cursor.executemany(_update_sql(model, names, _conditions(where)), params)


def _update_params(model: type[Model], values: Iterable[tuple[str, Any]], pk) -> list:
    meta = model._meta
    params = [meta.get_field(name).get_db_prep_save(value, connection) for name, value in values]
    params.append(meta.pk.get_db_prep_value(pk, connection))
    return params


def _conditions(where: dict[str, Any]) -> tuple:
    return tuple(
        (name, len(value) if isinstance(value, tuple) else None) for name, value in where.items()
    )


def _where_params(model: type[Model], where: dict[str, Any]) -> list:
    params = []
    for name, value in where.items():
        field = model._meta.get_field(name)
        if isinstance(value, tuple):
            params.extend(field.get_db_prep_value(v, connection) for v in value)
        else:
            params.append(field.get_db_prep_value(value, connection))
    return params


def get_for_update(model: type[Model], pk) -> Model:
    """The row `pk` of `model`, locked for this transaction where the database locks rows
    (SQLite's IMMEDIATE transaction holds the whole database already): the ORM's
    `select_for_update().get(pk=pk)`, with the same DoesNotExist."""
    rows = list(
        model.objects.raw(_select_sql(model), [model._meta.pk.get_db_prep_value(pk, connection)])
    )
    if not rows:
        raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
    return rows[0]


def get(model: type[Model], pk) -> Model:
    """The row `pk` of `model`: the ORM's `get(pk=pk)`, with the same DoesNotExist."""
    rows = list(
        model.objects.raw(
            _select_sql(model, lock=False), [model._meta.pk.get_db_prep_value(pk, connection)]
        )
    )
    if not rows:
        raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
    return rows[0]


# The statements format in only the models' own table and column names; every value is a
# parameter. Cached per model and shape (and vendor: tests may switch databases).


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _insert_sql(model: type[Model], fields: tuple, rows: int) -> str:
    return _insert_sql_cached(connection.vendor, model, fields, rows)


@functools.cache
def _insert_sql_cached(vendor: str, model: type[Model], fields: tuple, rows: int) -> str:
    meta = model._meta
    columns = ", ".join(_quote(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return f"INSERT INTO {_quote(meta.db_table)} ({columns}) VALUES " + ", ".join([row] * rows)  # noqa: S608  # nosec B608: names only


def _update_sql(model, assignments: tuple[str, ...], conditions: tuple) -> str:
    return _update_sql_cached(connection.vendor, model, assignments, conditions)


@functools.cache
def _update_sql_cached(vendor: str, model, assignments: tuple[str, ...], conditions: tuple) -> str:
    meta = model._meta
    sets = ", ".join(f"{_quote(meta.get_field(name).column)} = %s" for name in assignments)
    where = [f"{_quote(meta.pk.column)} = %s"]
    for name, count in conditions:
        column = _quote(meta.get_field(name).column)
        if count is None:
            where.append(f"{column} = %s")
        else:
            where.append(f"{column} IN ({', '.join(['%s'] * count)})")
    return f"UPDATE {_quote(meta.db_table)} SET {sets} WHERE {' AND '.join(where)}"  # noqa: S608  # nosec B608: names only


def _select_sql(model, *, lock: bool = True) -> str:
    return _select_sql_cached(
        connection.vendor, model, lock and connection.features.has_select_for_update
    )


@functools.cache
def _select_sql_cached(vendor: str, model, lock: bool) -> str:
    meta = model._meta
    columns = ", ".join(_quote(f.column) for f in meta.concrete_fields)
    sql = f"SELECT {columns} FROM {_quote(meta.db_table)} WHERE {_quote(meta.pk.column)} = %s"  # noqa: S608  # nosec B608: names only
    return sql + " FOR UPDATE" if lock else sql
