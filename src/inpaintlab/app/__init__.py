"""``inpaintlab-app``: a small web page to try any model of the package (``pip install inpaintlab[app]``).

``server`` (FastAPI app, job queue, CLI), ``masks`` (uploads → pictures and binary hole maps), ``static/`` (the
page: one HTML file, its script and style). The page calls the one inference interface (``inpaintlab.inference``);
it knows no method by name — per-method controls come from the adapter's ``options``.
"""
