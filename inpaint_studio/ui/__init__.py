"""The desktop interface: the only package that imports Qt (main window, canvas, tools, panels, dialogs)."""
