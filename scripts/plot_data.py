"""Thin entry point: see fmnist_keras.cli.plot_data_main (--help for the options)."""

from fmnist_keras.cli import plot_data_main

if __name__ == "__main__":
    plot_data_main()
