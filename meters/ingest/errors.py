"""Why a source failed, as one line fit for a terminal."""


class SourceError(Exception):
    """A source could not be ingested; nothing of it was stored."""


class SourceUnreachable(SourceError):
    """The source's host could not be reached at all (as opposed to answering with an error)."""


class DocumentError(SourceError):
    """The document as a whole cannot be read: not JSON, truncated, or without `data`."""


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
