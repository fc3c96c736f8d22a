"""The TUI's screens: the library browser and its modals."""
