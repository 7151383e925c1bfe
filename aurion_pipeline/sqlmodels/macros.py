"""SQL macros: a fragment several models compute the same way, written once.

    macros/<schema>/<name>.sql   one `create macro <schema>.<name>(args) as <expression>`

Models call it as `<schema>.<name>(...)`. The build creates every macro before any model, in the
same transaction, and the analyst copy carries it with the views that call it. A macro reads no
table: a fragment that needs rows is a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from aurion_pipeline.sqlmodels.errors import SqlProjectError
from aurion_pipeline.sqlmodels.refs import DIALECT, single_statement

FOLDER = "macros"


@dataclass(frozen=True)
class Macro:
    """One scalar DuckDB macro from macros/<schema>/<name>.sql."""

    schema: str
    name: str
    path: Path
    sql: str  # `create or replace macro <schema>.<name>(...) as ...`, ready to run

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def read_macro(path: Path, where: str) -> Macro:
    """The file's macro, or an error naming `where`: one `create macro`, named as the file, reading no table."""
    schema, name = path.parent.name, path.stem
    statement = single_statement(path.read_text(), where, "create macro")
    if not isinstance(statement, exp.Create) or statement.kind != "MACRO":
        raise SqlProjectError(f"{where}: must hold one `create macro {schema}.{name}(...) as ...` statement")
    target = statement.this.this if isinstance(statement.this, exp.UserDefinedFunction) else statement.this
    if (target.db.lower(), target.name.lower()) != (schema, name):
        raise SqlProjectError(
            f"{where}: creates {target.sql(DIALECT)}; a file macros/{schema}/{name}.sql creates {schema}.{name}"
        )
    reads = sorted(t.sql(DIALECT) for t in statement.expression.find_all(exp.Table))
    if reads:
        raise SqlProjectError(f"{where}: a macro reads no table (found {reads[0]}); make it a model")
    statement.set("replace", True)
    return Macro(schema, name, path, statement.sql(DIALECT))
