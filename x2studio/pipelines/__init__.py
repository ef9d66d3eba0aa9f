"""Qt-free pipelines that chain face finding, models and media into what the app and the CLI offer."""
