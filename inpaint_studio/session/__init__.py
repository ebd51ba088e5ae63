"""The application layer, Qt-free: the open workspace, fills, autosave policy, settings and logs.

The window (and any other front end) wires widgets to it; the rules of the
application live here, where tests reach them without a display.
"""
