"""``sanode configs``: list the named configs, or print one."""

from __future__ import annotations

import argparse
from typing import Any

from sanode.cli._common import add_json_flag, emit
from sanode.config import load_config, named_configs


def cmd_configs(args: argparse.Namespace) -> int:
    names = named_configs()
    if args.show:
        print(load_config(args.show).to_json())
        return 0
    if not args.json:
        print("\n".join(names))
    emit({"command": "configs", "configs": names}, args.json)
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("configs", help="list the named configs, or print one")
    p.add_argument("--show", metavar="NAME")
    add_json_flag(p)
    p.set_defaults(func=cmd_configs)
    return p
