"""Qt views: the main window, panels, dialogs and widgets."""
