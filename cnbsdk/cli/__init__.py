"""The ``cnbsdk`` command line: click commands only, no logic of their own."""
