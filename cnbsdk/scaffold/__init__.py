"""Project templates for ``cnbsdk new``."""
