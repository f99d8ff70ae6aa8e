"""What the code location knows about a recipe to draw its assets, and where recipes are found."""

from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from operators.core.base import Role
from operators.core.global_stage import GlobalOperator
from pipelines.orchestrate.resources import safe_name
from pipelines.recipe import PACKAGED_RECIPES, ChecksConfig, load

#: Who owns every asset of the code location.
OWNERS = ["team:data-platform"]

@dataclass(frozen=True)
class RecipeSpec:
    """What the code location needs to know about a recipe to draw its assets.

    Attributes:
        path: the recipe file (loaded again, with paths checked, when a run starts).
        name: the recipe's name.
        key: ``name`` made safe for Dagster names; prefixes the asset keys and names the group.
        description: the recipe's description.
        stages: the enabled stages' operator names, in order.
        dedup_stages: the names of the stages that deduplicate (their role says so).
        checks: the recipe's quality gate bounds.
        global_stages: the names of every global stage (dedup, and filters that rank the whole run).
        pii_stages: the names of the stages that scrub personal data (``scrubs_pii``).
        image_text: the sources are image-text pairs (WebDataset, or Parquet with an image column):
            the same phase assets, with image-text shards.
        synth_work: the synth section's work folder when the recipe has one
            (its ``synthetic_records`` asset feeds ``raw_documents``).
    """

    path: Path
    name: str
    key: str
    description: str
    stages: tuple[str, ...]
    dedup_stages: tuple[str, ...]
    checks: ChecksConfig
    image_text: bool = False
    global_stages: tuple[str, ...] = ()
    pii_stages: tuple[str, ...] = ()
    synth_work: str | None = None

    @property
    def records(self) -> str:
        """What the recipe's records are, for descriptions."""
        return "image-text pairs" if self.image_text else "records"

    @classmethod
    def from_file(cls, path: Path) -> "RecipeSpec":
        loaded = load(path, check_paths=False)
        recipe = loaded.recipe
        return cls(
            path=path,
            name=recipe.name,
            key=safe_name(recipe.name),
            description=recipe.description,
            stages=tuple(op.name for op in loaded.operators),
            dedup_stages=tuple(op.name for op in loaded.operators if op.role is Role.DEDUP),
            global_stages=tuple(op.name for op in loaded.operators if isinstance(op, GlobalOperator)),
            pii_stages=tuple(op.name for op in loaded.operators if op.scrubs_pii),
            image_text=any(s.spec().image_text for s in recipe.sources),
            checks=recipe.checks,
            synth_work=recipe.synth.work_dir if recipe.synth else None,
        )

    def asset_key(self, noun: str) -> dg.AssetKey:
        return dg.AssetKey(f"{self.key}_{noun}")


def recipe_files(folder: Path = PACKAGED_RECIPES) -> list[Path]:
    return sorted(Path(folder).glob("*.yaml"))


def landing_partitions(spec: RecipeSpec) -> dg.DynamicPartitionsDefinition:
    return dg.DynamicPartitionsDefinition(name=f"{spec.key}_landing_batches")
