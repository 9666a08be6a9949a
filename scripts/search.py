"""Thin entry point: see fmnist_keras.cli.search_main (--help for the options)."""

from fmnist_keras.cli import search_main

if __name__ == "__main__":
    search_main()
