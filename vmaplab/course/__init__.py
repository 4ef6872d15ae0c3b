# SPDX-License-Identifier: MIT
"""The course's Python side: lesson models, figures and widgets for the notebooks.

What it is: ``lessons.py`` (seeded, step-by-step models of the free tree, the zones and the pools:
plain data, standard library only, usable without Jupyter), ``figures.py`` (plotly figures that only
draw what they are given), ``widgets.py`` (ipywidgets apps that only choose what to draw), ``progress.py`` (a bar that leaves
a finished line in a stored notebook).
Simulation drivers are not here: widgets call :mod:`vmaplab.contention.runs`.

What it may import: everything below it (kernel, formats, workloads, contention), public names
only. Nothing below imports it. ``figures`` needs plotly and ``widgets`` ipywidgets (the
``[notebooks]`` extra); importing this package alone needs neither.
"""
