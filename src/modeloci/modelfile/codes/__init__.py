"""Every Modelfile diagnostic, with its wording, in one package: ``codes.unknown_directive(file, span, ...)``.

:mod:`.table` is the one table of codes (:class:`Code`, and :data:`CODES`, each
code with its one-line meaning, which docs/modelfile.md follows); each code is
written there once. A factory per kind of diagnostic takes what was found and
where, and words it; the factories live with the stage that reports them:
:mod:`.syntax` (the text and the grammar), :mod:`.directives` (the directive
table's checks), :mod:`.paths` (ARGs, CONFIG values, paths and roles),
:mod:`.model` (the base, weights, projector and chat template, and what a build
keeps or leaves out) and :mod:`.lint`. Keeping the wording here keeps it
consistent (DESIGN.md's rules: summaries are short phrases without a period,
user values in backticks, suggestions only for edit distance under 3).
"""

from __future__ import annotations

from modeloci.modelfile.codes.directives import (
    config_file,
    duplicate_directive,
    duplicate_key,
    empty_key,
    expected_pair,
    from_not_first,
    invalid_arg_name,
    missing_argument,
    missing_from,
    reference_not_allowed,
    reserved_label,
    too_many_arguments,
    unknown_config_key,
)
from modeloci.modelfile.codes.lint import (
    context_beyond_training,
    no_chat_template,
    no_license,
    runtime_files_left_out,
    unpinned_from,
)
from modeloci.modelfile.codes.model import (
    bad_base,
    bad_hf_config,
    base_metadata_dropped,
    exclude_unused,
    folder_skips,
    folder_without_weights,
    from_weights,
    gguf_lfs_pointer,
    missing_shard,
    modelpack_base_context_size,
    modelpack_context_size,
    modelpack_role_by_name,
    no_weights,
    not_a_projector,
    other_weights_in_folder,
    projector_lfs_pointer,
    safetensors_lfs_pointer,
    safetensors_set,
    shard_mismatch,
    template_differs,
    template_fails_optionally,
    template_not_text,
    template_raises,
    template_render,
    template_replaces_folder,
    template_syntax,
    template_too_large,
    unreadable_gguf,
    unreadable_safetensors,
)
from modeloci.modelfile.codes.paths import (
    absolute_path,
    arg_without_value,
    empty_path,
    escapes_context,
    excludes_every_weight,
    file_not_found,
    glob_matches_nothing,
    invalid_config_value,
    is_directory,
    mixed_formats,
    not_regular_file,
    path_collision,
    path_too_long,
    substitution_too_large,
    symlink_escapes,
    two_roles,
    undefined_variable,
    unknown_build_arg,
    unsafe_layer_path,
    unsupported_weights,
)
from modeloci.modelfile.codes.syntax import (
    Foreign,
    bad_reference,
    continuation_at_eof,
    control_character,
    expected_directive,
    foreign_directive,
    missing_space,
    not_utf8,
    stray_backslash,
    too_large,
    too_many_pieces,
    unexpected_character,
    unknown_directive,
    unknown_escape,
    unterminated_string,
)
from modeloci.modelfile.codes.table import CODES, Code

__all__ = [
    "CODES", "Code", "Foreign", "absolute_path", "arg_without_value", "bad_base", "bad_hf_config", "bad_reference",
    "base_metadata_dropped", "config_file", "context_beyond_training", "continuation_at_eof", "control_character",
    "duplicate_directive", "duplicate_key", "empty_key", "empty_path", "escapes_context", "exclude_unused",
    "excludes_every_weight", "expected_directive", "expected_pair", "file_not_found", "folder_skips",
    "folder_without_weights", "foreign_directive", "from_not_first", "from_weights", "gguf_lfs_pointer",
    "glob_matches_nothing", "invalid_arg_name", "invalid_config_value", "is_directory", "missing_argument",
    "missing_from", "missing_shard", "missing_space", "mixed_formats", "modelpack_base_context_size",
    "modelpack_context_size", "modelpack_role_by_name", "no_chat_template", "no_license", "no_weights",
    "not_a_projector", "not_regular_file", "not_utf8", "other_weights_in_folder", "path_collision", "path_too_long",
    "projector_lfs_pointer", "reference_not_allowed", "reserved_label", "runtime_files_left_out",
    "safetensors_lfs_pointer", "safetensors_set", "shard_mismatch", "stray_backslash", "substitution_too_large",
    "symlink_escapes", "template_differs", "template_fails_optionally", "template_not_text", "template_raises",
    "template_render", "template_replaces_folder", "template_syntax", "template_too_large", "too_large",
    "too_many_arguments", "too_many_pieces", "two_roles", "undefined_variable", "unexpected_character",
    "unknown_build_arg", "unknown_config_key", "unknown_directive", "unknown_escape", "unpinned_from",
    "unreadable_gguf", "unreadable_safetensors", "unsafe_layer_path", "unsupported_weights", "unterminated_string",
]
