"""Secrets at rest: connection credentials and webhook secrets, encrypted in the database.

Theory of operation. Every secret the store writes is sealed with Fernet (AES-128-CBC
and HMAC-SHA256, ``cryptography``) and kept as a marked token, ``enc:v1:<fernet token>``;
the store's mapping opens it on the way out, so every consumer holds plaintext in memory
and the database never does. A value without the mark was written before secrets were
encrypted: it reads as it is, and is sealed the next time it is written (or by
``SqlStore.reencrypt_secrets``).

The key. ``RINGCAST_SECRET_KEY`` holds one or more Fernet keys, comma-separated: the first
seals, every one opens (``MultiFernet``). To rotate, put a new key first, keep the old ones
after it, run the store's ``reencrypt_secrets``, then drop the old keys. When the variable
is not set:

* an embedded SQLite database gets a key file beside it (``<database>.key``, mode 0600,
  made on first use, its path logged when it is made and the key never), so a fresh
  machine works with no setup: back the key file up with the database;
* an in-memory SQLite database gets a key for the process, which dies with it;
* PostgreSQL is shared by many processes, which must all hold the same key: opening it
  without one is an error.

A key that opens nothing stored is an error naming the variable (Fernet tokens are
authenticated: a wrong key can never read as garbage).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import structlog
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

#: Where the keys come from.
SECRET_KEY_ENV = "RINGCAST_SECRET_KEY"  # noqa: S105 - the variable's name, not a key

#: What a sealed value starts with: the format's version, so that another can follow.
MARK = "enc:v1:"


class SecretKeyError(RuntimeError):
    """The secret key is missing, malformed, or does not open what is stored.

    Its message is one line naming ``RINGCAST_SECRET_KEY`` and never holds a key.
    """


class SecretBox:
    """Seals and opens stored secrets with one or more keys (the first seals)."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise SecretKeyError(f"{SECRET_KEY_ENV} holds no key")
        try:
            self._keys = [Fernet(k) for k in keys]
        except (ValueError, TypeError):
            raise SecretKeyError(
                f"{SECRET_KEY_ENV} holds a value that is not a Fernet key "
                "(32 url-safe base64-encoded bytes; several are separated by commas)"
            ) from None
        self._all = MultiFernet(self._keys)

    @classmethod
    def from_setting(cls, value: str) -> SecretBox:
        """The box for ``RINGCAST_SECRET_KEY``'s value: comma-separated keys, first seals."""
        return cls([k.strip() for k in value.split(",") if k.strip()])

    def seal(self, value: str) -> str:
        """``value`` as stored: a marked token sealed with the first key.

        Always sealed, even a value that looks sealed already: whatever was given is what
        ``open`` gives back.
        """
        return MARK + self._all.encrypt(value.encode()).decode("ascii")

    def open(self, stored: str) -> str:
        """The plaintext of a stored value; a value without the mark is plaintext written
        before secrets were encrypted, and reads as it is."""
        if not stored.startswith(MARK):
            return stored
        try:
            return self._all.decrypt(stored.removeprefix(MARK).encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise SecretKeyError(
                f"{SECRET_KEY_ENV} does not decrypt the secrets stored in this database: "
                "set the key they were written with (a new key goes first, the old ones after it)"
            ) from None

    def current(self, stored: str) -> bool:
        """Whether a stored value is sealed with the first key (nothing to re-encrypt)."""
        if not stored.startswith(MARK):
            return False
        try:
            self._keys[0].decrypt(stored.removeprefix(MARK).encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True

    def reseal(self, stored: str) -> str:
        """A stored value sealed again with the first key (plaintext is sealed)."""
        return self.seal(self.open(stored))


def new_key() -> str:
    """A fresh Fernet key, as ``RINGCAST_SECRET_KEY`` takes it."""
    return Fernet.generate_key().decode("ascii")


def box_for_database(configured: str | None, backend: str, database: str | None) -> SecretBox:
    """The box for a database: the configured keys; else what the module describes for a
    SQLite file, an in-memory SQLite database, or (an error) a shared database.

    ``backend`` is the SQLAlchemy backend name; ``database`` the database part of its URL
    (a SQLite file's path).
    """
    if configured and configured.strip():
        return SecretBox.from_setting(configured)
    if backend != "sqlite":
        raise SecretKeyError(
            f"{SECRET_KEY_ENV} is not set: a PostgreSQL database is shared by many processes, "
            "which must all hold the same key (make one with "
            '`python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"`)'
        )
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return SecretBox([new_key()])  # the database dies with the process, and so does this
    path = Path(database).with_name(Path(database).name + ".key")
    try:
        return SecretBox([_key_file(path)])
    except SecretKeyError:
        raise SecretKeyError(
            f"{path} does not hold a Fernet key: restore the key file or set {SECRET_KEY_ENV}"
        ) from None


def _key_file(path: Path) -> str:
    """The key kept in ``path``, made (mode 0600) if there is none yet.

    Two processes opening a fresh database at once must end with one key: the new key is
    written to a private temporary file, then linked into place, which fails if another
    process got there first (whose key is then read instead).
    """
    created = False
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".ringcast-key-", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(new_key() + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
                created = True
        finally:
            os.unlink(tmp)
    if created:
        # once, by the process that made it; on standard error even where logging is not
        # set up (the admin commands), whose standard output is their answer (``--json``)
        log = structlog.wrap_logger(structlog.PrintLogger(sys.stderr), logger_name=__name__)
        log.info(
            "secret key file made",
            path=str(path.resolve()),
            hint=f"back it up with the database, or set {SECRET_KEY_ENV}",
        )
    return path.read_text(encoding="ascii").strip()
