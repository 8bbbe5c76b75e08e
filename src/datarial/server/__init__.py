"""The lab server: REST API (FastAPI) and browser UI (NiceGUI) in one process.

``datarial serve`` builds it with :func:`datarial.server.app.create_app`.
"""
