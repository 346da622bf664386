"""Start-up hook for `agentreel record` (see sitecustomize.py)."""
