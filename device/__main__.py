"""``python -m device <command>``: the composition root of every role and tool."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from device.cli import COMMANDS
from device.errors import UserError


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m device", description="CardioCart cart-side software")
    parser.add_argument("--config", help="TOML settings file (default: $CARDIOCART_CONFIG, /etc/cardiocart/cardiocart.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((a for a in argv if a in COMMANDS), None)
    seen: set[str] = set()
    for name, module in COMMANDS.items():
        if module in seen:
            continue
        if wanted is not None and COMMANDS[wanted] != module:
            sub.add_parser(name, help=f"see: python -m device {name} --help")
            continue
        seen.add(module)
        try:
            importlib.import_module(module).register(sub)
        except ImportError as exc:  # an optional part that cannot load is reported, not fatal
            p = sub.add_parser(name, help=f"(unavailable: {exc})")
            p.set_defaults(func=lambda _a, _e=exc, _n=name: _unavailable(_n, _e))
    return parser


def _unavailable(name: str, exc: Exception) -> int:
    print(f"error: the '{name}' command cannot load ({exc}); reinstall with 'make setup'", file=sys.stderr)
    return 2


def _configure_models(args: argparse.Namespace) -> None:
    """Every model this process loads follows the settings of --config ([paths] models_dir, [inference] variant,
    runner, threads). Settings that do not load are left to the command: one that needs them reports the error
    (``doctor`` explains it), one that does not runs with the bundled models."""
    from device.config import load_settings
    from device.errors import ConfigError
    from device.inference import configure_models
    try:
        configure_models(load_settings(args.config))
    except ConfigError:
        return


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if not args.verbose:  # library warnings (pydicom, numpy) would break the one-line error rule; -v shows them
        import warnings

        warnings.simplefilter("ignore")
    try:
        _configure_models(args)
        return int(args.func(args) or 0)
    except UserError as exc:
        from device.cli.lang import error_line, site_language
        print(error_line(site_language(args), str(exc)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug, not user input: one line for the user, the traceback with -v
        if args.verbose:
            raise
        print(f"error: internal error ({type(exc).__name__}: {exc}); rerun with -v for details and report it",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
