"""The ``tessera`` command installed by the wheel: the same CLI code as the Rust binary."""

from __future__ import annotations

import signal
import sys


def main() -> None:
    """Run ``tessera`` with this process's arguments and exit with its status."""
    from . import _native

    # The CLI installs its own Ctrl-C handling; Python's would only see it between calls.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    run_cli = getattr(_native, "run_cli", None)
    if run_cli is None:
        sys.stderr.write("error: this build of geotessera_rs has no command-line tool\n")
        sys.exit(2)
    sys.exit(run_cli(["tessera", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
