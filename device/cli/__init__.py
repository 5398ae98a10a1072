"""Command registry for ``python -m device <command>``.

Each entry names a module that defines ``register(subparsers)``; the module adds its parser and sets
``func=callable(args) -> int``. Modules are imported lazily so that a broken optional part never stops the others.
"""

COMMANDS: dict[str, str] = {
    "migrate": "device.cli.admin",
    "users": "device.cli.admin",
    "doctor": "device.cli.doctor",
    "run": "device.cli.services",
    "core": "device.cli.services",
    "webui": "device.cli.services",
    "sync": "device.cli.services",
    "worker": "device.cli.services",
    "models": "device.cli.models",
    "echo": "device.cli.echo",
    "lv": "device.cli.lv",
    "ecg": "device.cli.ecg",
    "perfusion": "device.cli.perfusion",
    "export": "device.cli.export",
}
