"""Protected content: files a tenant publishes, delivered only to entitled subscribers."""
