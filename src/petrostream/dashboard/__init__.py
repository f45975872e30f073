"""The local web dashboard and its JSON API (``petrostream serve``).

`petrostream.dashboard.data.DashboardData` reads the pipeline's state (the
lake through the read-only query engine, the alert store, the stream, the
lake's commit log); `petrostream.dashboard.app.create_app` wraps it in a
Starlette app whose routes are listed in `petrostream.dashboard.api.OPENAPI`.
The page (``static/``) is hand-written HTML, CSS and JavaScript that draws its
charts in SVG: no CDN, no JavaScript library, it works offline.
"""
