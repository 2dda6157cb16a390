"""The desktop app: the only Qt code (main window, viewport, panels, background jobs)."""
