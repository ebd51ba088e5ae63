"""Qt-free building blocks shared by the CLI, batch and the GUI."""
