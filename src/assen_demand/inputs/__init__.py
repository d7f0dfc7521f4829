"""Inputs: the CBS and UN readers (the only code that knows CBS column names) and the bundled datasets."""
