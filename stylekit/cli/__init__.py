"""The toolkit's command line, `python -m stylekit COMMAND`: one module per command, all sharing
the parser helpers, the error path and the interrupt path of `common`."""
