"""Entry-point glue."""
