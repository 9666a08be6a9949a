import pytest

from fmnist_keras.cli import search as search_cli


@pytest.mark.parametrize("minutes", ["0", "-5"])
def test_a_stop_after_of_no_minutes_is_one_line_before_any_data(minutes, capsys, tmp_path):
    with pytest.raises(SystemExit) as stopped:
        search_cli.main(["--family", "resnet", "--budget", "10M", "--stop-after", minutes,
                         "--directory", str(tmp_path / "s")])
    assert stopped.value.code == 2
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert last_line.endswith(f"--stop-after {float(minutes)}: give minutes > 0")
    assert not (tmp_path / "s").exists()
