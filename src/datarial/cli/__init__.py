"""Command-line interface: ``datarial``."""
