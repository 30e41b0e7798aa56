"""The bottom of the import graph: errors, paths, devices, image and file I/O, figures, progress."""
