"""Thin entry point: see fmnist_keras.cli.export_main (--help for the options)."""

from fmnist_keras.cli import export_main

if __name__ == "__main__":
    export_main()
