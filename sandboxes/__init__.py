"""Running untrusted code: isolation, limits, a forgery-proof test harness, a worker pool."""
