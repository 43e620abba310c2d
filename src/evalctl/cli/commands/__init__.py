"""One module per command family, named after its commands; each has `register(app)`."""
