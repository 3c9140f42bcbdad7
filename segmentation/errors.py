"""Errors the surfaces turn into one clear line for the user."""


class InputError(ValueError):
    """Bad input: a missing file, a missing column, unparseable values, too little data.

    The message is one line that names the problem (the column, the row count, an example
    value). The CLI prints it to stderr and exits with code 2; the dashboard shows it.
    """


class BundleError(InputError):
    """A saved model that cannot be used here (missing files, incompatible versions)."""
