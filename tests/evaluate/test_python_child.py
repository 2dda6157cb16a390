import subprocess
import sys

from liftstudio.cli import main
from liftstudio.evaluate.python_child import python_child_command


def test_the_child_command_runs_code_in_a_fresh_python_with_its_arguments():
    done = subprocess.run(
        python_child_command("import sys; print(sys.argv[1:])", "a", "b"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "['a', 'b']"


def test_a_packaged_build_says_to_use_a_source_install_instead_of_crashing(monkeypatch, capsys):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert main(["bench", "io", "--gaussians", "2000"]) == 2
    error = capsys.readouterr().err
    assert "packaged build" in error and "source install" in error
