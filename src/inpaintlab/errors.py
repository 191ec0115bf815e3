"""Errors that mean "the user's input or set-up is wrong": shown as one clear message, never a traceback."""

import argparse
import sys


class InpaintlabError(Exception):
    """Base class of user-facing errors; the entry points print the message and exit with status 1."""


class DatasetNotFoundError(InpaintlabError, FileNotFoundError):
    """A dataset root or file is missing; the message names what was expected and how to get it."""


class ConfigError(InpaintlabError, ValueError):
    """A configuration value is invalid; the message names the key and what is expected."""


class NonFiniteLossError(InpaintlabError, FloatingPointError):
    """A loss term became NaN or inf during training; the message names the term and the step."""


def exit_code_of(prog: str, run, *args) -> int:
    """Run an argparse CLI's ``run(*args)``; a user-facing error becomes one stderr line and status 1."""
    try:
        return run(*args)
    except InpaintlabError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def one_line_parser(**kwargs) -> argparse.ArgumentParser:
    """An ``argparse.ArgumentParser`` whose usage errors are one stderr line (``prog: error: … (see --help)``,
    status 2) instead of the usage block followed by the error."""
    return _OneLineParser(**kwargs)
