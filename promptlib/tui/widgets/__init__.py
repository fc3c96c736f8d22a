"""The TUI's widgets: the virtual entry list, the search bar, the filter sidebar and the detail pane."""
