"""The README's setup commands are the ones CI and users actually run."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    setup = text.split("## Setup", 1)[1].split("\n## ", 1)[0]
    blocks = setup.split("```")[1::2]
    return [
        line.strip() for block in blocks for line in block.splitlines() if line.strip() and not line.startswith(("bash", "sh"))
    ]


def test_readme_has_exactly_two_setup_commands():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    assert "inpaint-studio remove resources/sample.jpg --mask resources/sample_mask.png" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert _readme_commands()[1] in ci_lines


def test_sample_resources_exist():
    assert (REPO / "resources" / "sample.jpg").is_file()
    assert (REPO / "resources" / "sample_mask.png").is_file()
