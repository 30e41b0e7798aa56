"""Optimization over the pixels: `engine` (the one loop, and coarse-to-fine `stylize`), `jobs`
(one run from files to files, with its sidecar), `color` (colour preservation), `metrics`
(neutral distances to compare any two outputs)."""
