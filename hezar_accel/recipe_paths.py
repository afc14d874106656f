"""Where the relative paths of a recipe point: next to the recipe file, whatever the current directory.

The rule (README "Recipe paths"):

1. A relative path written in the recipe file is taken relative to the recipe file's folder, so a recipe runs the same
   from any directory. Absolute paths, ``true``/``false`` and anything that is not a string are left as they are.
2. A value given as a command-line override (``trainer.output_dir=runs/x``) is typed where the command runs: it is
   taken relative to the current directory, like any other command-line argument.
3. An input (dataset, preprocessor, model, initial weights, checkpoint to resume) that does not exist next to the
   recipe is left as written: a Hub repo id (``owner/name``) stays one, and a recipe written for the current directory
   (before this rule) still finds its data there. Each such case is said in one line.
"""

from __future__ import annotations

import os

from .hub import looks_like_repo_id

# (section, field) of the recipe fields that name something to read; each may also be a Hub repo id.
INPUT_PATHS = (
    ("dataset", "path"), ("dataset", "tokenizer_path"), ("dataset", "preprocessor_path"),
    ("preprocessor", "path"), ("model", "path"),
    ("trainer", "init_weights_from"), ("trainer", "resume_from_checkpoint"),
)
# (section, field) of the recipe fields that name a folder the run creates.
OUTPUT_PATHS = (("trainer", "output_dir"),)


def resolve_recipe_paths(recipe: dict, recipe_file: str, overridden: set[tuple[str, ...]] = frozenset()
                         ) -> tuple[dict, list[str]]:
    """Apply the rule above to the path fields of ``recipe``.

    Args:
        recipe: section -> fields, as read from ``recipe_file`` (overrides already applied); not modified.
        recipe_file: the recipe's path, as given on the command line.
        overridden: key paths set by command-line overrides (``("trainer", "output_dir")``, or ``("dataset",)`` for
            a whole section); their values are left relative to the current directory.

    Returns:
        The recipe with resolved paths (new section dicts where something changed), and the lines that say where the
        paths point: first ``paths in <recipe> resolve against <folder>/``, then one line per input left as written.
    """
    folder = os.path.dirname(recipe_file)
    shown = (folder or ".") + "/"
    resolved = {name: dict(section) if isinstance(section, dict) else section for name, section in recipe.items()}
    notes = []
    for section, key in INPUT_PATHS + OUTPUT_PATHS:
        fields = resolved.get(section)
        value = fields.get(key) if isinstance(fields, dict) else None
        if not isinstance(value, str) or not value or os.path.isabs(value) or _overridden(section, key, overridden):
            continue
        candidate = os.path.normpath(os.path.join(folder, value))
        if (section, key) in OUTPUT_PATHS or os.path.exists(candidate):
            fields[key] = candidate
        elif os.path.exists(value):
            notes.append(f"  {section}.{key}: `{value}` is not in {shown}; read from the current directory "
                         f"({os.path.abspath(value)})")
        elif looks_like_repo_id(value):
            notes.append(f"  {section}.{key}: `{value}` is not a local path; read as a Hub repo id")
        else:
            fields[key] = candidate  # missing everywhere: the error will name the path the rule points at
    header = (f"paths in {recipe_file} resolve against {shown} "
              "(command-line overrides against the current directory)")
    return resolved, [header, *notes]


def _overridden(section: str, key: str, overridden) -> bool:
    return (section,) in overridden or (section, key) in overridden
