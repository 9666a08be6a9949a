"""``python -m fmnist_keras COMMAND``: every command-line tool of the project."""

from fmnist_keras.cli import main

main()
