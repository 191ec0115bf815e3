"""write_between: the one way a script puts its generated table into a docs page (benchmarks, claim checks)."""

from __future__ import annotations

from inpaintlab.utils.provenance import write_between

START, END = "<!-- t:start -->", "<!-- t:end -->"


def test_replaces_only_between_the_markers_and_keeps_the_body_literal(tmp_path):
    page = tmp_path / "README.md"
    page.write_text(f"# intro\n\n{START}\nold table\n{END}\n\ntail \\1 kept\n")
    body = "| a \\| b | \\1 \\g<0> |\n"  # escaped pipes and what re.sub would read as group references
    assert write_between(page, START, END, body)
    assert page.read_text() == f"# intro\n\n{START}\n| a \\| b | \\1 \\g<0> |\n{END}\n\ntail \\1 kept\n"
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temporary file, then renamed


def test_without_markers_nothing_is_written_unless_asked_to_append(tmp_path):
    page = tmp_path / "README.md"
    page.write_text("# page\n\n")
    assert not write_between(page, START, END, "x")
    assert page.read_text() == "# page\n\n"
    assert write_between(page, START, END, "x", append_under="## Measured")
    assert page.read_text() == f"# page\n\n## Measured\n\n{START}\nx\n{END}\n"
    assert write_between(page, START, END, "y")  # now the markers exist: replaced in place
    assert page.read_text() == f"# page\n\n## Measured\n\n{START}\ny\n{END}\n"
    other = tmp_path / "other.md"
    other.write_text("text\n")
    assert write_between(other, START, END, "z", append_under="")
    assert other.read_text() == f"text\n\n{START}\nz\n{END}\n"
