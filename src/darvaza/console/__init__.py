"""The operations console: server-rendered pages for platform staff and tenant owners."""
