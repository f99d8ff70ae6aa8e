"""Recipes: YAML files naming sources, stages, tokenizer and output.

Validated at load time; every error names the file, the line and the field
(``recipe.yaml:14: stages[2].params.min_score: Input should be less than or
equal to 1``), so a typo fails in a second rather than after an hour of work.

Example::

    name: web-en
    sources:
      - path: data/crawl/*.jsonl.zst
        text_field: text
    stages:
      - op: normalize
      - op: lang_id
        params: {languages: [en], min_score: 0.65}
      - op: gopher_quality
      - op: exact_dedup
    tokenizer: smollm2            # or a path to a tokenizer.json
    output: out/web-en
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import uuid
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lineage.openlineage import OpenLineageListener
from operators.core import registry
from operators.core.base import Operator
from operators.core.io import is_absolute, is_local, is_url, local_path
from operators.core.phases import RunListener
from operators.formats.sources import DEFAULT_MAX_DOC_BYTES, SourceError, SourceSpec, expand
from operators.formats.tokenize import TokenizerError, TokenizerInfo, resolve
from pipelines.run import Pipeline, erasures
from synth.config import SynthConfig

#: The recipes that ship with assay (``demo``, ``image_text``, ``synth``).
PACKAGED_RECIPES = Path(__file__).parent / "recipes"


class RecipeError(ValueError):
    """A recipe is invalid; the message names file, line and field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceConfig(_Model):
    path: str = Field(description="File, folder, glob or fsspec URL; relative paths are read from the recipe's folder.")
    format: Literal["jsonl", "parquet", "webdataset"] | None = Field(
        None, description="Inferred from the file names when absent (.tar: webdataset)."
    )
    text_field: str = Field("text", description="The field holding the document text (an image-text pair's caption).")
    image_field: str | None = Field(
        None, description="Parquet image-text pairs: the column holding the image (bytes, {bytes, path} or a path)."
    )
    name: str | None = Field(None, description="A short label for summaries.")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options (credentials come from the environment).")
    max_doc_bytes: int = Field(
        DEFAULT_MAX_DOC_BYTES, ge=1024,
        description="Documents larger than this (bytes of the JSON line, or of the text in Parquet) are quarantined as too_large.",
    )

    def spec(self) -> SourceSpec:
        return SourceSpec(
            path=self.path, format=self.format, text_field=self.text_field, name=self.name,
            storage_options=self.storage_options, max_doc_bytes=self.max_doc_bytes, image_field=self.image_field,
        )


class StageConfig(_Model):
    op: str = Field(description="A registered operator name (`assay operators` lists them).")
    params: dict[str, Any] = Field(default_factory=dict, description="The operator's configuration.")
    enabled: bool = Field(True, description="Set false to skip a stage without deleting it.")


class TokenizerConfig(_Model):
    name: str = Field("smollm2", description="'smollm2' (packaged) or a tokenizer.json path / model folder.")
    eos: str | None = Field(None, description="Token placed after every document; default: the tokenizer's EOS.")


class RayConfig(_Model):
    address: str | None = Field(None, description="Ray cluster address; default: RAY_ADDRESS, else a local Ray.")
    concurrency: int | None = Field(None, ge=1, description="Parallel workers per stage; default: the cluster's CPUs.")


class ChecksConfig(_Model):
    """Bounds of the quality gates (Dagster asset checks) a run must pass."""

    max_duplicate_rate: float = Field(
        0.5, ge=0, le=1, description="Fail the run if dedup drops more than this share of the records reaching it."
    )
    min_duplicate_rate: float = Field(
        0.0, ge=0, le=1, description="Fail the run if dedup drops less than this share (a broken dedup finds none)."
    )


class Recipe(_Model):
    name: str = Field(description="The recipe's name (used in run ids and Dagster asset keys).")
    description: str = ""
    sources: list[SourceConfig] = Field(min_length=1)
    stages: list[StageConfig] = Field(default_factory=list)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    output: str = Field(description="Output folder or fsspec URL; relative paths are read from the recipe's folder.")
    rows_per_part: int = Field(10_000, ge=1, description="Records per staged part: the unit of parallel work.")
    batch_rows: int = Field(1_000, ge=1, description="Records per batch handed to an operator.")
    ray: RayConfig = Field(default_factory=RayConfig)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)
    synth: SynthConfig | None = Field(None, description="Synthesis run by `assay synth` before the stages; its records are the source.")

    @field_validator("tokenizer", mode="before")
    @classmethod
    def _tokenizer_shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    def fingerprint(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json", exclude={"ray", "checks"}), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class LoadedRecipe:
    """A validated recipe with its operators built and paths resolved."""

    def __init__(self, recipe: Recipe, path: Path | None, operators: list[Operator]):
        self.recipe = recipe
        self.path = path
        self.operators = operators

    def pipeline(
        self, tokenizer: TokenizerInfo | None = None, keep_work: bool = False, listeners: list[RunListener] | None = None
    ) -> Pipeline:
        """The recipe's run. ``listeners`` default to the OpenLineage events ``$ASSAY_OPENLINEAGE*`` ask for."""
        r = self.recipe
        try:
            tokenizer = tokenizer or resolve(r.tokenizer.name, r.tokenizer.eos)
        except TokenizerError as e:
            raise RecipeError(_where(self.path, None, "tokenizer", str(e))) from e
        return Pipeline(
            sources=[s.spec() for s in r.sources],
            stages=self.operators,
            tokenizer=tokenizer,
            output=r.output,
            rows_per_part=r.rows_per_part,
            batch_rows=r.batch_rows,
            keep_work=keep_work,
            fingerprint=r.fingerprint(),
            name=r.name,
            listeners=default_listeners(r.output) if listeners is None else listeners,
        )


def default_listeners(output: str) -> list[RunListener]:
    """What every run started from a recipe is watched by: OpenLineage events, unless switched off."""
    listener = OpenLineageListener.from_env(output)
    return [listener] if listener is not None else []


def _mark_of(node: yaml.Node | None, loc: tuple) -> int | None:
    """1-based line of the YAML node at ``loc`` (or of its nearest parent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == key), None)
            if match is None:
                key_node = next((k for k, _ in node.value if k.value == key), None)
                return key_node.start_mark.line + 1 if key_node is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _loc_str(loc: tuple) -> str:
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _where(path: Path | None, root: yaml.Node | None, loc: tuple | str, message: str) -> str:
    if isinstance(loc, str):
        loc = tuple(loc.split("."))
    line = _mark_of(root, loc) if root is not None else None
    place = str(path) if path else "<recipe>"
    if line:
        place += f":{line}"
    return f"{place}: {_loc_str(loc)}: {message}"


def load(
    source: str | Path | dict,
    *,
    overrides: dict[str, Any] | None = None,
    check_paths: bool = True,
    check_extras: bool = True,
) -> LoadedRecipe:
    """Load and validate a recipe file (or an already parsed dict).

    Args:
        source: a YAML path, a packaged recipe name (``demo``), or a dict.
        overrides: top-level fields to replace after parsing (e.g. ``output``). They come from
            the command line, so their paths (``output``, ``sources[].path``) are relative to the
            current directory, not to the recipe's folder.
        check_paths: check that sources match files and output is writable.
        check_extras: check that every operator's optional packages are installed (off only to draw a
            recipe, e.g. its Dagster assets, in an installation that will not run it).

    Raises:
        RecipeError: naming file, line and field of the first problem found.
    """
    path: Path | None = None
    root = None
    if isinstance(source, dict):
        data = source
    else:
        path = Path(source)
        if not path.is_file() and (PACKAGED_RECIPES / f"{source}.yaml").is_file():
            path = PACKAGED_RECIPES / f"{source}.yaml"  # a packaged recipe's name (a folder `demo` here is not one)
        if not path.is_file():
            raise RecipeError(f"{path}: no such recipe file")
        text = path.read_text()
        try:
            root = yaml.compose(text)
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise RecipeError(f"{path}: not valid YAML: {e}") from e
        if not isinstance(data, dict):
            raise RecipeError(f"{path}: a recipe is a YAML mapping with sources, stages and output")
    data = {**data, **_from_here(overrides or {})}
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        more = f" (and {len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
        raise RecipeError(_where(path, root, tuple(err["loc"]), err["msg"] + more)) from None

    # A packaged recipe's relative paths are the user's (./out/demo), never the installed package's folder.
    base = path.parent if path and not _is_packaged(path) else Path.cwd()
    recipe = recipe.model_copy(
        update={
            "sources": [s.model_copy(update={"path": _resolve_path(s.path, base)}) for s in recipe.sources],
            "output": _resolve_path(recipe.output, base),
        }
    )
    if recipe.synth is not None and recipe.synth.seeds:  # seed tasks, like sources, relative to the recipe
        recipe = recipe.model_copy(
            update={"synth": recipe.synth.model_copy(update={"seeds": _resolve_path(recipe.synth.seeds, base)})}
        )
    if recipe.synth is not None and recipe.synth.backtranslate.documents:  # documents too
        bt = recipe.synth.backtranslate
        bt = bt.model_copy(update={"documents": _resolve_path(bt.documents, base)})
        recipe = recipe.model_copy(update={"synth": recipe.synth.model_copy(update={"backtranslate": bt})})
    roots = allowed_roots()
    if roots:
        for i, s in enumerate(recipe.sources):
            _check_within(s.path, roots, path, root, ("sources", i, "path"))
        _check_within(recipe.output, roots, path, root, ("output",))
    operators = _build_operators(recipe, path, root, check_extras)
    if check_paths:
        for i, s in enumerate(recipe.sources):
            try:
                expand(s.spec())
            except (SourceError, OSError) as e:
                raise RecipeError(_where(path, root, ("sources", i, "path"), str(e))) from None
        _check_writable(recipe.output, path, root)
        try:  # the output's erasures bind this recipe too: refuse one that cannot obey them, now
            erasures.check(erasures.orders(recipe.output), operators, recipe.output)
        except erasures.ErasureOrderError as e:
            raise RecipeError(_where(path, root, ("stages",), str(e))) from None
    return LoadedRecipe(recipe, path, operators)


ROOTS_ENV = "ASSAY_ROOTS"


def allowed_roots() -> list[str]:
    """The folders (or URL prefixes) that recipes may read and write: ``$ASSAY_ROOTS``, separated by ``:`` or ``,``.

    Unset means no restriction (a laptop); a shared deployment sets it so a
    recipe cannot read or overwrite anything outside its data folders.
    """
    value = os.environ.get(ROOTS_ENV, "")
    parts = [p.strip() for p in value.replace(",", "\n").split("\n") if p.strip()]
    roots = []
    for part in parts:
        # URLs contain ':' themselves: split local entries on ':' only when no scheme is present.
        roots.extend([part] if is_url(part) else [p for p in part.split(":") if p])
    return [r if is_url(r) else os.path.realpath(os.path.expanduser(r)) for r in roots]


def _normalised(value: str) -> str:
    if not is_local(value):
        scheme, rest = value.split("://", 1)
        return f"{scheme}://{posixpath.normpath('/' + rest).lstrip('/')}"
    # Resolves '..' and symbolic links, so neither can lead outside a root.
    local = local_path(value)
    fixed = local.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]  # a glob's fixed prefix
    return os.path.realpath(fixed)


def _check_within(value: str, roots: list[str], path: Path | None, root, loc: tuple) -> None:
    target = _normalised(value)
    for allowed in roots:
        prefix = allowed.rstrip("/")
        if target == prefix or target.startswith(prefix + "/"):
            return
    raise RecipeError(_where(
        path, root, loc,
        f"{value} is outside the allowed roots ({', '.join(roots)}, from ${ROOTS_ENV}); "
        "move the data under one of them or ask whoever runs assay to add a root",
    ))


def option_path(value: str) -> str:
    """A path typed on the command line (an option or an override), absolute against the current directory.

    Paths inside a recipe file are read from the recipe's folder; paths given on
    the command line are read from where the command runs, as in every CLI.
    URLs are returned unchanged.
    """
    return _resolve_path(str(value), Path.cwd())


def _from_here(overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` with their paths made absolute against the current directory."""
    out = dict(overrides)
    if out.get("output"):
        out["output"] = option_path(out["output"])
    if isinstance(out.get("sources"), list):
        out["sources"] = [
            {**s, "path": option_path(s["path"])} if isinstance(s, dict) and isinstance(s.get("path"), str) else s
            for s in out["sources"]
        ]
    return out


def _is_packaged(path: Path) -> bool:
    return path.resolve().parent == PACKAGED_RECIPES.resolve()


def _resolve_path(value: str, base: Path) -> str:
    value = os.path.expandvars(os.path.expanduser(value))
    if is_absolute(value):
        return value
    return str((base / value).resolve())


def _build_operators(recipe: Recipe, path: Path | None, root, check_extras: bool = True) -> list[Operator]:
    operators = []
    for i, stage in enumerate(recipe.stages):
        if not stage.enabled:
            continue
        try:
            cls = registry.get(stage.op)
        except registry.UnknownOperatorError as e:
            raise RecipeError(_where(path, root, ("stages", i, "op"), e.args[0])) from None
        if check_extras and (missing := cls.missing_extra()):
            raise RecipeError(_where(path, root, ("stages", i, "op"), missing))
        try:
            operators.append(cls(stage.params))
        except ValidationError as e:
            err = e.errors()[0]
            loc = ("stages", i, "params", *err["loc"])
            raise RecipeError(_where(path, root, loc, f"{err['msg']} (operator {stage.op})")) from None
    return operators


def _check_writable(output: str, path: Path | None, root) -> None:
    if not is_local(output):
        return  # remote stores are checked by their first write
    folder = Path(local_path(output))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".assay-write-test-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise RecipeError(_where(path, root, ("output",), f"output folder {folder} is not writable: {e.strerror}")) from None
