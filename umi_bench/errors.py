"""Every umi-bench exception. All subclass :class:`UmiBenchError`, so callers can catch "any umi-bench error".

The CLI turns a ``UmiBenchError`` into one ``Error: ...`` line and exit code 1; anything else is a bug
and shows a traceback. Messages name the file, table, episode, column and row where they can.
"""


class UmiBenchError(Exception):
    """Base class of every error umi-bench raises on purpose."""


# --- schema and lake -------------------------------------------------------------------------------
class SchemaError(UmiBenchError):
    """Raised when a schema file in schemas/ is malformed or a table name is unknown."""


class ValidationError(UmiBenchError):
    """Raised when a batch breaks the data contract; the message names table, episode, column and row."""


class LakeNotFound(UmiBenchError):
    """Raised when a path is not an umi-bench lake (no lake.json)."""


class LakeExists(UmiBenchError):
    """Raised when creating a lake where one already exists."""


class LakeFormatError(UmiBenchError):
    """Raised when lake.json is unreadable or has an unsupported format version."""


class EpisodeNotFound(UmiBenchError):
    """Raised when an episode id is not in the lake."""


class QueryError(UmiBenchError):
    """Raised when a SQL query fails or is refused by the read-only sandbox."""


class EmptySlice(UmiBenchError):
    """Raised when a dataset filter selects zero episodes."""
