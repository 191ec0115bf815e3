"""README stays a complete map: every config option of every group is listed in its "Configs" table."""


import pytest

from helpers import CONF_DIR, REPO

README = REPO / "README.md"
GROUPS = ["experiment", "data", "mask", "eval_masks", "model", "model/generator", "model/discriminator",
          "model/adversarial", "model/losses", "model/cr", "model/phases", "trainer", "logger", "callbacks",
          "hparams_search", "debug", "paths", "compare", "quickstart"]


def _row(group: str) -> str:
    for line in README.read_text().splitlines():
        if line.startswith(f"| `{group}` |"):
            return line
    raise AssertionError(f"README's Configs table has no row for `{group}`")


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_is_in_the_configs_table(group):
    row = _row(group)
    missing = [p.stem for p in (CONF_DIR / group).glob("*.yaml") if f"`{p.stem}`" not in row]
    assert not missing, f"README Configs row `{group}` lacks {missing}"


def test_every_config_group_is_listed():
    groups = {str(p.parent.relative_to(CONF_DIR)) for p in CONF_DIR.rglob("*.yaml") if p.parent != CONF_DIR}
    unlisted = {g for g in groups - set(GROUPS) if g.split("/")[0] not in ("hydra", "local")}  # Hydra's own, machine's
    assert not unlisted, sorted(unlisted)
