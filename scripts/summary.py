"""Thin entry point: see fmnist_keras.cli.summary_main (--help for the options)."""

from fmnist_keras.cli import summary_main

if __name__ == "__main__":
    summary_main()
