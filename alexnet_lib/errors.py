"""The one exception type a user of the book can hit, and the command lines' parser.

Every error that a reader can fix (missing data, a bad flag, an unknown profile) is an
`AlexNetError` whose message says what to do. Command-line entry points print that message
alone, without a traceback (`OneLineParser` does the same for a bad flag).
"""

import argparse


class AlexNetError(Exception):
    """A problem the user can fix; the message says how."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag prints one line (not the usage block) and exits with status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")
