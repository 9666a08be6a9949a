"""Thin entry point: see fmnist_keras.cli.model_card_main (--help for the options)."""

from fmnist_keras.cli import model_card_main

if __name__ == "__main__":
    model_card_main()
