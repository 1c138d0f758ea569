"""The `ems` command: `ems serve`, `ems sim`, `ems demo`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Dispatches to a sub-command; each one parses its own flags."""
    args = sys.argv[1:] if argv is None else argv
    usage = "usage: ems {serve,sim,demo} [options]   (ems <command> --help for its options)"
    if not args or args[0] in ("-h", "--help"):
        print(usage)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "serve":
        from ems.server import main as serve_main

        return serve_main(rest)
    if command == "sim":
        from ems.sim.cli import main as sim_main

        return sim_main(rest)
    if command == "demo":
        from ems.demo import main as demo_main

        return demo_main(rest)
    print(f"ems: unknown command {command!r}\n{usage}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
