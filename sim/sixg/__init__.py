"""The 6G link and sensing model."""
