"""The one exception type a user of the book can hit.

Every error that a reader can fix (missing data, a bad flag, an unknown profile) is an
`AlexNetError` whose message says what to do. Command-line entry points print that message
alone, without a traceback.
"""


class AlexNetError(Exception):
    """A problem the user can fix; the message says how."""
