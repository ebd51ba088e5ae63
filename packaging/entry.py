"""The frozen app's entry point: PyInstaller turns this script into the `inpaint-studio` executable.

Same behaviour as the `inpaint-studio` command of a normal install (the window, or a command
line sub-command, or --self-test), plus what only a frozen app needs.
"""

import multiprocessing
import sys


def main() -> int:
    # First, before numba is imported anywhere: where numba may cache compiled kernels.
    from inpaint_studio.frozen import prepare_frozen_environment

    prepare_frozen_environment()
    from inpaint_studio.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    # Batch worker processes are started with `spawn`, i.e. this executable again: freeze_support
    # runs the worker there and exits, instead of opening a second window.
    multiprocessing.freeze_support()
    sys.exit(main())
