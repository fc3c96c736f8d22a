"""The Textual terminal UI. Only this package imports textual; start it with `promptlib.tui.app.run_tui`."""
