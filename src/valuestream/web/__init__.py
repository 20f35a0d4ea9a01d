"""``valuestream serve``: the live mapping board, the agenda, the presenter view and the dashboard.

Build the app with :func:`valuestream.web.app.create_app` (FastAPI); the CLI runs it with uvicorn.
Needs the ``web`` extra: ``pip install 'valuestream[web]'``.
"""
