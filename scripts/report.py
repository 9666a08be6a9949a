"""Thin entry point: see fmnist_keras.cli.report_main (--help for the options)."""

from fmnist_keras.cli import report_main

if __name__ == "__main__":
    report_main()
