"""The web page of ``gpuplan serve``: static files only (``static/``), vanilla JS and hand-written SVG charts.

No CDN and no build step: the page must work on an offline intranet. Its texts come from the ``web`` message
catalog through ``GET /api/v1/messages?lang=en|zh``.
"""
