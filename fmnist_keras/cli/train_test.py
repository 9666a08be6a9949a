from fmnist_keras.cli.train import results_command, results_label


def test_a_results_row_groups_under_its_recipe_and_the_flags_that_change_it():
    argv = ["--recipe", "mnist_4k", "--model-arg", "channels=[12,24,16,28,30,34,34]",
            "--seed", "3", "--run-dir", "runs/x", "--results-table", "results/results.csv",
            "--lr=0.01", "--augment", "rotate,crop", "--crop-padding", "2",
            "--mixed-precision", "false", "--log-test-accuracy", "--label-smooth", "0.1"]
    assert results_label("mnist_4k", argv) == (
        "mnist_4k --model-arg channels=[12,24,16,28,30,34,34] --lr=0.01 --augment rotate,crop "
        "--crop-padding 2 --label-smooth 0.1")
    assert results_label("mnist_4k", ["--recipe", "mnist_4k", "--seed", "1"]) == "mnist_4k"
    # --arch alone names the recipe; beside --recipe it changes the model.
    assert results_label("mnist_final", ["--arch", "mnist_final"]) == "mnist_final"
    assert results_label("mnist_8k", ["--recipe", "mnist_8k", "--arch", "mnist_net"]) == \
        "mnist_8k --arch mnist_net"


def test_a_results_row_records_its_command_without_the_pause():
    # --stop-after pauses a run without changing it: the row's command trains it whole.
    for pause in (["--stop-after", "40"], ["--stop-after=40"], ["--stop", "40"]):
        argv = ["--recipe", "toy_cnn", *pause, "--seed", "1", "--run-dir", "runs/a b"]
        assert results_command(argv) == \
            "python scripts/train.py --recipe toy_cnn --seed 1 --run-dir 'runs/a b'"
