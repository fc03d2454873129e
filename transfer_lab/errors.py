"""The one exception type that means "the user asked for something that cannot work"."""


class UserError(Exception):
    """Bad input: the message is one sentence that says what is wrong and how to fix it."""
