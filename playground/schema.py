"""The run store's tables and their versions: what each version adds, and the step that brings a database to it.

A new database is made at version 1 and brought up step by step like an old
one, so that every upgrade step runs wherever the store is first opened (and
in every test). A step never loses a stored run.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

SCHEMA_VERSION = 3

meta = sa.MetaData()
schema_version = sa.Table("schema_version", meta, sa.Column("version", sa.Integer, nullable=False))
workspaces = sa.Table(
    "workspaces", meta,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("last_number", sa.Integer, nullable=False, default=0),
)
runs_table = sa.Table(
    "runs", meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(32), nullable=False, index=True),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("train_seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("device", sa.String(64), nullable=False, default=""),
    sa.Column("worker", sa.String(200), nullable=False, default=""),
    sa.Column("message", sa.Text),
    sa.Column("evaluation", sa.LargeBinary),
    sa.Column("has_checkpoint", sa.Boolean, nullable=False, default=False),
    sa.Column("share_token", sa.String(32), unique=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
    # version 2
    sa.Column("checkpoint_sha", sa.String(64), index=True),  # checkpoints.sha256: copies share one blob
    sa.Column("copied_from", sa.String(32)),  # the share token a copy was made from: one copy per workspace
    sa.Column("host", sa.String(255), nullable=False, default=""),  # the server process that records the run,
    sa.Column("pid", sa.Integer),                                    # so that its death is seen at once
    sa.Column("pid_started", sa.Float),                              # (a pid is reused after a restart)
    sa.Column("tuned_from", sa.Integer),  # a fine-tune's source: see playground.store.StoredRun.tuned_from
    sa.UniqueConstraint("workspace", "number"),
    sqlite_autoincrement=True,  # version 3: see _upgrade_to_v3
)
epochs_table = sa.Table(
    "epochs", meta,
    sa.Column("run", sa.Integer, primary_key=True),
    sa.Column("epoch", sa.Integer, primary_key=True),
    sa.Column("cost", sa.Float),                # NULL: the cost was not a finite number (diverged)
    sa.Column("test_accuracy", sa.Float),
    sa.Column("val_accuracy", sa.Float),
    sa.Column("seconds", sa.Float, nullable=False),
)
checkpoints = sa.Table(                         # version 2
    "checkpoints", meta,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
examples_table = sa.Table(                      # version 2: a workspace's drawn handwriting examples
    "examples", meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workspace", sa.String(32), nullable=False, index=True),
    sa.Column("image", sa.LargeBinary, nullable=False),   # 28 x 28 uint8, row by row
    sa.Column("label", sa.Integer, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sqlite_autoincrement=True,  # version 3: see _upgrade_to_v3
)


def _create_v1(conn) -> None:
    """Version 1 as it was shipped (frozen: later versions change it by their own steps)."""
    v1 = sa.MetaData()
    workspaces.to_metadata(v1)
    epochs_table.to_metadata(v1)
    sa.Table(
        "runs", v1,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workspace", sa.String(32), nullable=False, index=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("train_seconds", sa.Float, nullable=False, default=0.0),
        sa.Column("device", sa.String(64), nullable=False, default=""),
        sa.Column("worker", sa.String(200), nullable=False, default=""),
        sa.Column("message", sa.Text),
        sa.Column("evaluation", sa.LargeBinary),
        sa.Column("checkpoint", sa.LargeBinary),
        sa.Column("has_checkpoint", sa.Boolean, nullable=False, default=False),
        sa.Column("share_token", sa.String(32), unique=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.UniqueConstraint("workspace", "number"),
    )
    v1.create_all(conn)


def _upgrade_to_v2(conn) -> None:
    """Checkpoints move to a table of their own, keyed by content (a copy no longer copies its blob); a run
    learns the process that records it, the link it was copied from and the model it fine-tunes (NULL for the
    runs already there, which did not record it); handwriting examples get a table.
    Each part is skipped when done, so a step cut short (or raced by a second process) is simply run again."""
    meta.create_all(conn, tables=[checkpoints, examples_table])
    have = {c["name"] for c in sa.inspect(conn).get_columns("runs")}
    for name, kind in (("checkpoint_sha", "VARCHAR(64)"), ("copied_from", "VARCHAR(32)"),
                       ("host", "VARCHAR(255) NOT NULL DEFAULT ''"), ("pid", "INTEGER"), ("pid_started", "FLOAT"),
                       ("tuned_from", "INTEGER")):
        if name not in have:
            conn.execute(sa.text(f"ALTER TABLE runs ADD COLUMN {name} {kind}"))
    if "checkpoint" in have:
        old = sa.table("runs", sa.column("id"), sa.column("checkpoint"), sa.column("checkpoint_sha"))
        ids = conn.execute(sa.select(old.c.id).where(old.c.checkpoint.is_not(None))).scalars().all()
        for run_id in ids:  # one blob in memory at a time
            blob = conn.execute(sa.select(old.c.checkpoint).where(old.c.id == run_id)).scalar_one()
            conn.execute(sa.update(old).where(old.c.id == run_id).values(checkpoint_sha=put_checkpoint(conn, blob),
                                                                        checkpoint=None))
        conn.execute(sa.text("ALTER TABLE runs DROP COLUMN checkpoint"))
    sa.Index("ix_runs_checkpoint_sha", runs_table.c.checkpoint_sha).create(conn, checkfirst=True)


def put_checkpoint(conn, blob: bytes) -> str:
    """Keep ``blob`` once, whoever else holds the same bytes; its key."""
    sha = hashlib.sha256(blob).hexdigest()
    if conn.execute(sa.select(checkpoints.c.sha256).where(checkpoints.c.sha256 == sha)).first() is None:
        conn.execute(checkpoints.insert().values(sha256=sha, data=blob))
    return sha


def _upgrade_to_v3(conn) -> None:
    """A removed run's or example's id is never given to another. SQLite gives a new row the highest id in
    use plus one, so a run removed while its recorder still wrote (stopped with nothing to keep, removed on
    another page) had its id given to the next run, and the late write landed there: the new run was shown
    stopped and its training stopped with it. AUTOINCREMENT is SQLite's guarantee; PostgreSQL's sequences never
    go back. SQLite cannot add it to a table, so the table is copied into one made with it. Each part is skipped
    when done, so a step cut short is simply run again."""
    if conn.dialect.name != "sqlite":
        return
    for table in (runs_table, examples_table):
        new, made_with_it = f"{table.name}_v3", _sqlite_autoincrements(conn, table.name)
        if made_with_it:
            continue
        if made_with_it is not None:  # the old table: copied whole, then dropped
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {new}"))   # a copy cut short starts again
            create = str(sa.schema.CreateTable(table).compile(dialect=conn.dialect))
            conn.execute(sa.text(create.replace(f"CREATE TABLE {table.name} ", f"CREATE TABLE {new} ", 1)))
            columns = ", ".join(c.name for c in table.columns)
            conn.execute(sa.text(f"INSERT INTO {new} ({columns}) SELECT {columns} FROM {table.name}"))
            conn.execute(sa.text(f"DROP TABLE {table.name}"))      # its indexes go with it
        conn.execute(sa.text(f"ALTER TABLE {new} RENAME TO {table.name}"))
    for table in (runs_table, examples_table):
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _sqlite_autoincrements(conn, name: str) -> bool | None:
    """Whether SQLite table ``name`` was made with AUTOINCREMENT; None when there is no such table."""
    sql = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"),
                       {"name": name}).scalar()
    return None if sql is None else "AUTOINCREMENT" in sql.upper()


# version -> what brings the schema from version - 1 to it
UPGRADES = {1: _create_v1, 2: _upgrade_to_v2, 3: _upgrade_to_v3}
