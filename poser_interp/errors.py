"""The one exception type for bad input: a single line naming what is wrong and where.

The CLI turns it into one red line and exit code 2; library users can catch it.
"""


class PoserInputError(ValueError):
    """Bad user input: a malformed file, an unknown model or strategy, a corrupt checkpoint."""
