#!/usr/bin/env python3
"""Exercise SQLAlchemy 2 ORM against a PostgreSQL-compatible server, as an app would.

Usage: check_orm.py postgresql+psycopg://postgres@127.0.0.1:17432/postgres

Each step prints "ok: <step>" or "FAIL: <step>" with the exception and, for
database errors, the exact SQL statement, its parameters, SQLSTATE and message.
Later steps still run after a failure. Exit status is non-zero if any step failed.
Set SA_ECHO=1 to log every statement (engine echo=True).
"""
from __future__ import annotations

import os
import sys
import traceback
from datetime import datetime
from decimal import Decimal
from typing import Optional

import psycopg
from sqlalchemy import (
    DateTime,
    ForeignKey,
    Numeric,
    String,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    joinedload,
    mapped_column,
    raiseload,
    relationship,
    selectinload,
)


class Base(DeclarativeBase):
    pass


class Publisher(Base):
    __tablename__ = "sa_publisher"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)

    books: Mapped[list["Book"]] = relationship(back_populates="publisher")


class Author(Base):
    __tablename__ = "sa_author"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[Optional[str]] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    books: Mapped[list["Book"]] = relationship(
        back_populates="author",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Book.id",
    )


class Book(Base):
    __tablename__ = "sa_book"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), index=True)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    in_print: Mapped[bool] = mapped_column(default=True)
    author_id: Mapped[int] = mapped_column(
        ForeignKey("sa_author.id", ondelete="CASCADE")
    )
    publisher_id: Mapped[Optional[int]] = mapped_column(ForeignKey("sa_publisher.id"))

    # many-to-one relationships
    author: Mapped["Author"] = relationship(back_populates="books")
    publisher: Mapped[Optional["Publisher"]] = relationship(back_populates="books")


# ---------------------------------------------------------------------------
# step runner

LAST_SQL: list = [None, None]  # statement, parameters of the last cursor execute
RESULTS: list[tuple[str, bool]] = []


def describe_db_error(exc: BaseException) -> str:
    """Find the DBAPIError in the exception chain and describe what the server said."""
    seen = set()
    e: Optional[BaseException] = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, DBAPIError):
            orig = e.orig
            sqlstate = getattr(orig, "sqlstate", None)
            diag = getattr(orig, "diag", None)
            msg = getattr(diag, "message_primary", None) if diag else None
            detail = getattr(diag, "message_detail", None) if diag else None
            lines = [
                f"    exception: {type(e).__name__} (orig {type(orig).__name__})",
                f"    SQLSTATE:  {sqlstate}",
                f"    message:   {msg if msg is not None else str(orig).strip()}",
            ]
            if detail:
                lines.append(f"    detail:    {detail}")
            stmt, params = e.statement, e.params
            if stmt is None:  # executed by the dialect directly on a DBAPI cursor
                stmt, params = getattr(orig, "_driver_query", (None, None))
            if stmt is None:  # issued by psycopg itself (e.g. SAVEPOINT in TypeInfo.fetch)
                stmt = "<not a cursor statement: issued internally by psycopg; see message>"
                frames = traceback.extract_tb(e.__traceback__)[-4:]
                lines.append("    raised in: " + " -> ".join(
                    f"{os.path.basename(f.filename)}:{f.lineno}({f.name})" for f in frames))
            lines.append(f"    statement: {' '.join(str(stmt).split())}")
            lines.append(f"    params:    {params!r}")
            return "\n".join(lines)
        e = e.__cause__ or e.__context__
    return ""


class RecordingCursor(psycopg.Cursor):
    """psycopg cursor that tags driver errors with the query that caused them.

    SQLAlchemy dialects run some statements (e.g. on first connect) directly on a
    DBAPI cursor, so SQLAlchemy's own error object carries no statement for them.
    """

    def execute(self, query, params=None, **kw):
        try:
            return super().execute(query, params, **kw)
        except psycopg.Error as e:
            e._driver_query = (query, params)
            raise


def run_step(name, fn, *args):
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - report everything and go on
        RESULTS.append((name, False))
        print(f"FAIL: {name}: {type(exc).__name__}: {exc}".splitlines()[0])
        db = describe_db_error(exc)
        if db:
            print(db)
        else:
            stmt, params = LAST_SQL
            if stmt is not None:
                print(f"    last SQL:  {' '.join(str(stmt).split())}")
                print(f"    params:    {params!r}")
            tb = traceback.format_exc().strip().splitlines()
            print("    " + "\n    ".join(tb[-6:]))
        sys.stdout.flush()
        return False
    RESULTS.append((name, True))
    print(f"ok: {name}")
    sys.stdout.flush()
    return True


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: expected {want!r}, got {got!r}")


# ---------------------------------------------------------------------------
# steps

def step_connect(engine):
    with engine.connect() as conn:
        eq(conn.execute(text("select 1")).scalar_one(), 1, "select 1")
    print(f"    server_version_info={engine.dialect.server_version_info}")


def step_drop_all(engine):
    Base.metadata.drop_all(engine)
    insp = inspect(engine)
    for t in ("sa_book", "sa_author", "sa_publisher"):
        check(not insp.has_table(t), f"table {t} still exists after drop_all")


def step_create_all(engine):
    Base.metadata.create_all(engine)
    insp = inspect(engine)
    for t in ("sa_book", "sa_author", "sa_publisher"):
        check(insp.has_table(t), f"table {t} missing after create_all")
    # a second create_all must be a no-op (checkfirst)
    Base.metadata.create_all(engine)


def seed(engine):
    with Session(engine) as s:
        acme = Publisher(name="Acme")
        orbit = Publisher(name="Orbit Press")
        ursula = Author(
            name="Ursula",
            email="ursula@example.com",
            books=[
                Book(title="The Dispossessed", price=Decimal("12.50"), publisher=acme),
                Book(title="A Wizard of Earthsea", price=Decimal("9.99"), publisher=orbit),
            ],
        )
        iain = Author(
            name="Iain",
            email="iain@example.com",
            books=[
                Book(title="Excession", price=Decimal("15.00"), publisher=orbit),
                Book(title="Use of Weapons", price=Decimal("11.00"), in_print=False),
                Book(title="Consider Phlebas", price=Decimal("8.00"), publisher=acme),
            ],
        )
        lonely = Author(name="Lonely", email=None)
        s.add_all([acme, orbit, ursula, iain, lonely])
        s.commit()
        ids = [ursula.id, iain.id, lonely.id] + [b.id for b in ursula.books + iain.books]
        check(all(isinstance(i, int) for i in ids), f"primary keys not assigned: {ids}")
        check(len(set(ids[:3])) == 3 and len(set(ids[3:])) == 5, f"duplicate ids: {ids}")
        check(isinstance(ursula.created_at, datetime), f"created_at={ursula.created_at!r}")


def step_insert(engine):
    seed(engine)
    with Session(engine) as s:
        eq(s.scalar(select(func.count()).select_from(Author)), 3, "author count")
        eq(s.scalar(select(func.count()).select_from(Book)), 5, "book count")
        eq(s.scalar(select(func.count(Publisher.id))), 2, "publisher count")


def step_select(engine):
    with Session(engine) as s:
        titles = s.scalars(
            select(Book.title).where(Book.price > Decimal("10")).order_by(Book.title)
        ).all()
        eq(titles, ["Excession", "The Dispossessed", "Use of Weapons"], "price > 10 order by title")

        books = s.scalars(
            select(Book).where(Book.in_print.is_(True)).order_by(Book.price.desc()).limit(2).offset(1)
        ).all()
        eq([b.title for b in books], ["The Dispossessed", "A Wizard of Earthsea"], "in_print desc limit/offset")
        eq(books[0].price, Decimal("12.50"), "numeric round trip")

        a = s.scalars(select(Author).filter_by(email="iain@example.com")).one()
        eq(a.name, "Iain", "filter_by one()")
        eq(s.get(Author, a.id).email, "iain@example.com", "session.get")

        like = s.scalars(select(Book.title).where(Book.title.ilike("%of%")).order_by(Book.id)).all()
        eq(like, ["A Wizard of Earthsea", "Use of Weapons"], "ilike")

        inq = s.scalars(
            select(Author.name).where(Author.name.in_(["Iain", "Lonely", "Nobody"])).order_by(Author.name)
        ).all()
        eq(inq, ["Iain", "Lonely"], "in_()")

        nulls = s.scalars(select(Author.name).where(Author.email.is_(None))).all()
        eq(nulls, ["Lonely"], "is_(None)")


def step_join(engine):
    with Session(engine) as s:
        rows = s.execute(
            select(Author.name, func.count(Book.id), func.sum(Book.price))
            .join(Author.books)
            .group_by(Author.name)
            .order_by(Author.name)
        ).all()
        eq(
            [tuple(r) for r in rows],
            [("Iain", 3, Decimal("34.00")), ("Ursula", 2, Decimal("22.49"))],
            "inner join group by",
        )

        titles = s.scalars(
            select(Book.title).join(Book.author).where(Author.name == "Ursula").order_by(Book.title)
        ).all()
        eq(titles, ["A Wizard of Earthsea", "The Dispossessed"], "join filter on related")

        rows = s.execute(
            select(Book.title, Publisher.name)
            .outerjoin(Book.publisher)
            .order_by(Book.title)
        ).all()
        eq(
            [tuple(r) for r in rows],
            [
                ("A Wizard of Earthsea", "Orbit Press"),
                ("Consider Phlebas", "Acme"),
                ("Excession", "Orbit Press"),
                ("The Dispossessed", "Acme"),
                ("Use of Weapons", None),
            ],
            "outer join",
        )

        rows = s.execute(
            select(Author.name, func.count(Book.id))
            .outerjoin(Author.books)
            .group_by(Author.id, Author.name)
            .having(func.count(Book.id) < 3)
            .order_by(Author.name)
        ).all()
        eq([tuple(r) for r in rows], [("Lonely", 0), ("Ursula", 2)], "outer join having")

        sub = select(Book.author_id).where(Book.price < Decimal("9")).scalar_subquery()
        names = s.scalars(select(Author.name).where(Author.id.in_(sub))).all()
        eq(names, ["Iain"], "IN (subquery)")


def step_selectinload(engine):
    with Session(engine) as s:
        authors = s.scalars(
            select(Author).options(selectinload(Author.books), raiseload("*")).order_by(Author.id)
        ).all()
        eq([a.name for a in authors], ["Ursula", "Iain", "Lonely"], "authors")
        eq(
            [[b.title for b in a.books] for a in authors],
            [
                ["The Dispossessed", "A Wizard of Earthsea"],
                ["Excession", "Use of Weapons", "Consider Phlebas"],
                [],
            ],
            "selectinload books",
        )
        pubs = s.scalars(
            select(Publisher).options(selectinload(Publisher.books).selectinload(Book.author))
            .order_by(Publisher.name)
        ).all()
        eq(
            [(p.name, sorted((b.title, b.author.name) for b in p.books)) for p in pubs],
            [
                ("Acme", [("Consider Phlebas", "Iain"), ("The Dispossessed", "Ursula")]),
                ("Orbit Press", [("A Wizard of Earthsea", "Ursula"), ("Excession", "Iain")]),
            ],
            "nested selectinload",
        )


def step_joinedload(engine):
    with Session(engine) as s:
        books = s.scalars(
            select(Book)
            .options(joinedload(Book.author), joinedload(Book.publisher), raiseload("*"))
            .order_by(Book.id)
        ).all()
        eq(
            [(b.title, b.author.name, b.publisher.name if b.publisher else None) for b in books],
            [
                ("The Dispossessed", "Ursula", "Acme"),
                ("A Wizard of Earthsea", "Ursula", "Orbit Press"),
                ("Excession", "Iain", "Orbit Press"),
                ("Use of Weapons", "Iain", None),
                ("Consider Phlebas", "Iain", "Acme"),
            ],
            "joinedload many-to-one",
        )
        authors = s.scalars(
            select(Author).options(joinedload(Author.books)).order_by(Author.id).limit(2)
        ).unique().all()
        eq(
            [(a.name, len(a.books)) for a in authors],
            [("Ursula", 2), ("Iain", 3)],
            "joinedload collection with limit",
        )


def step_update(engine):
    with Session(engine) as s:
        b = s.scalars(select(Book).where(Book.title == "Excession")).one()
        b.price = Decimal("16.25")
        b.publisher = None
        s.commit()
    with Session(engine) as s:
        b = s.scalars(select(Book).where(Book.title == "Excession")).one()
        eq((b.price, b.publisher_id), (Decimal("16.25"), None), "ORM attribute update")

        res = s.execute(
            update(Book).where(Book.author.has(Author.name == "Ursula")).values(price=Book.price * 2)
        )
        eq(res.rowcount, 2, "bulk update rowcount")
        s.commit()
        prices = s.scalars(
            select(Book.price).join(Book.author).where(Author.name == "Ursula").order_by(Book.id)
        ).all()
        eq(prices, [Decimal("25.00"), Decimal("19.98")], "bulk update values")

        rows = s.execute(
            update(Author).where(Author.name == "Lonely").values(email="lonely@example.com")
            .returning(Author.id, Author.email)
        ).all()
        eq(len(rows), 1, "UPDATE ... RETURNING rows")
        eq(rows[0].email, "lonely@example.com", "UPDATE ... RETURNING value")
        s.commit()


def step_delete(engine):
    with Session(engine) as s:
        b = s.scalars(select(Book).where(Book.title == "Use of Weapons")).one()
        s.delete(b)
        s.commit()
        eq(s.scalar(select(func.count()).select_from(Book)), 4, "count after session.delete")

        res = s.execute(delete(Book).where(Book.title == "Consider Phlebas"))
        eq(res.rowcount, 1, "bulk delete rowcount")
        s.commit()
        eq(
            s.scalars(select(Book.title).order_by(Book.id)).all(),
            ["The Dispossessed", "A Wizard of Earthsea", "Excession"],
            "books after deletes",
        )


def step_cascade(engine):
    with Session(engine) as s:
        # ORM delete of a parent: delete-orphan cascade + passive_deletes rely on
        # the database's ON DELETE CASCADE for unloaded children
        iain = s.scalars(select(Author).where(Author.name == "Iain")).one()
        s.delete(iain)
        s.commit()
        eq(s.scalar(select(func.count()).select_from(Author)), 2, "authors after delete")
        eq(
            s.scalars(select(Book.title).order_by(Book.id)).all(),
            ["The Dispossessed", "A Wizard of Earthsea"],
            "books after ORM delete of parent (ON DELETE CASCADE)",
        )

        # Core-style delete through the session; cascade is done by the database
        res = s.execute(delete(Author).where(Author.name == "Ursula"))
        eq(res.rowcount, 1, "bulk delete rowcount")
        s.commit()
        eq(s.scalar(select(func.count()).select_from(Book)), 0,
           "books after bulk delete of parent (ON DELETE CASCADE)")


def step_rollback(engine):
    with Session(engine) as s:
        before = s.execute(
            select(Author.id, Author.name, Author.email).order_by(Author.id)
        ).all()
        lonely = s.scalars(select(Author).where(Author.name == "Lonely")).one()
        lonely.name = "Changed"
        ghost = Author(name="Ghost", email="ghost@example.com", books=[Book(title="Phantom", price=1)])
        s.add(ghost)
        s.flush()  # statements reach the server inside the transaction
        check(ghost.id is not None, "ghost not flushed")
        eq(s.scalar(select(func.count()).select_from(Author)), len(before) + 1, "count inside tx")
        s.rollback()
        eq(lonely.name, "Lonely", "attribute expired/reloaded after rollback")
    with Session(engine) as s:
        after = s.execute(select(Author.id, Author.name, Author.email).order_by(Author.id)).all()
        eq(after, before, "authors after rollback")
        eq(s.scalar(select(func.count()).select_from(Book).where(Book.title == "Phantom")), 0,
           "book after rollback")


def step_savepoint(engine):
    with Session(engine) as s:
        s.add(Author(name="Outer", email="outer@example.com"))
        s.flush()
        nested = s.begin_nested()
        s.add(Author(name="Inner", email="inner@example.com"))
        s.flush()
        nested.rollback()
        s.commit()
    with Session(engine) as s:
        names = s.scalars(
            select(Author.name).where(Author.name.in_(["Outer", "Inner"])).order_by(Author.name)
        ).all()
        eq(names, ["Outer"], "savepoint rollback kept outer, dropped inner")


def step_fk_violation(engine):
    with Session(engine) as s:
        s.add(Book(title="Orphan", price=Decimal("1.00"), author_id=987654321))
        try:
            s.commit()
        except IntegrityError as e:
            eq(getattr(e.orig, "sqlstate", None), "23503", "IntegrityError sqlstate")
            s.rollback()
        else:
            raise AssertionError("inserting a Book with a missing author did not raise IntegrityError")
        # session must be usable after the failed transaction
        eq(s.scalar(select(func.count()).select_from(Book).where(Book.title == "Orphan")), 0,
           "orphan row after failed insert")


def step_unique_violation(engine):
    with Session(engine) as s:
        s.add(Author(name="Uniq", email="uniq@example.com"))
        s.commit()
        s.add(Author(name="Dup", email="uniq@example.com"))
        try:
            s.commit()
        except IntegrityError as e:
            eq(getattr(e.orig, "sqlstate", None), "23505", "IntegrityError sqlstate")
            s.rollback()
        else:
            raise AssertionError("duplicate unique email did not raise IntegrityError")
        eq(s.scalar(select(func.count()).select_from(Author).where(Author.name == "Dup")), 0,
           "dup row after failed insert")


def step_cleanup(engine):
    Base.metadata.drop_all(engine)
    insp = inspect(engine)
    check(not insp.has_table("sa_book"), "sa_book still exists after final drop_all")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    engine = create_engine(
        sys.argv[1],
        echo=bool(os.environ.get("SA_ECHO")),
        connect_args={"cursor_factory": RecordingCursor},
    )

    @event.listens_for(engine, "before_cursor_execute")
    def _remember(conn, cursor, statement, parameters, context, executemany):
        LAST_SQL[0], LAST_SQL[1] = statement, parameters

    steps = [
        ("connect", step_connect),
        ("drop_all", step_drop_all),
        ("create_all", step_create_all),
        ("insert (add_all + commit)", step_insert),
        ("select (filter, order_by, limit/offset, get)", step_select),
        ("join queries", step_join),
        ("selectinload", step_selectinload),
        ("joinedload", step_joinedload),
        ("update", step_update),
        ("delete", step_delete),
        ("delete parent, ON DELETE CASCADE", step_cascade),
        ("rollback leaves no trace", step_rollback),
        ("savepoint rollback", step_savepoint),
        ("IntegrityError on FK violation (23503)", step_fk_violation),
        ("IntegrityError on unique violation (23505)", step_unique_violation),
        ("final drop_all", step_cleanup),
    ]
    for name, fn in steps:
        if not run_step(name, fn, engine) and fn is step_connect:
            print("cannot connect: remaining steps skipped")
            break
    engine.dispose()

    failed = [n for n, ok in RESULTS if not ok]
    print(f"{len(RESULTS) - len(failed)} passed, {len(failed)} failed")
    if failed:
        print("FAILED steps: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
