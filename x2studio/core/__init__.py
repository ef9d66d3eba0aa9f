"""Qt-free, torch-free domain: errors users see, the job protocol, settings, user paths."""
