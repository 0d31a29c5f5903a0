"""The `skutag` command line: commands parse arguments and call library functions, nothing more."""
