"""The chat templates llama.cpp tests itself against, from the ``llama-cpp-python`` source distribution.

They are not vendored: :func:`templates_folder` downloads the pinned sdist
once with pip (about 77 MB, a few seconds), extracts only
``vendor/llama.cpp/models/templates/*.jinja`` into a cache folder outside the
repository (``$MODELOCI_TEST_CACHE``, else the system's temporary folder),
keyed by version, and reuses it afterwards. The version is pinned so that the
test ids below stay what they are; a new version means a new name list.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "0.3.36"  # the version ../shared/corpus was taken from
_MEMBER = re.compile(r"^llama_cpp_python-[^/]+/vendor/llama\.cpp/models/templates/([^/]+\.jinja)$")

NAMES = (
    "Apertus-8B-Instruct", "Apriel-1.6-15b-Thinker-fixed", "Bielik-11B-v3.0-Instruct", "ByteDance-Seed-OSS",
    "Cohere2MoE", "CohereForAI-c4ai-command-r-plus-tool_use", "CohereForAI-c4ai-command-r7b-12-2024-tool_use",
    "GLM-4.6", "GLM-4.7-Flash", "GigaChat3-10B-A1.8B", "GigaChat3.1-10B-A1.8B", "HuggingFaceTB-SmolLM3-3B",
    "Kimi-K2-Instruct", "Kimi-K2-Thinking", "Kimi-K3", "LFM2-8B-A1B", "LFM2.5-8B-A1B", "LFM2.5-Instruct", "MiMo-VL",
    "MiniMax-M1", "MiniMax-M2", "MiniMax-M3", "Mistral-Small-3.2-24B-Instruct-2506",
    "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "NVIDIA-Nemotron-Nano-v2", "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use",
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use", "Qwen-QwQ-32B", "Qwen-Qwen2.5-7B-Instruct", "Qwen-Qwen3-0.6B",
    "Qwen3-Coder", "Qwen3.5-4B", "Reka-Edge", "Spark2.5", "StepFun3.5-Flash",
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B",
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", "deepseek-ai-DeepSeek-V3.1", "deepseek-ai-DeepSeek-V3.2",
    "deepseek-ai-DeepSeek-V4-Flash-0731", "deepseek-ai-DeepSeek-V4", "fireworks-ai-llama-3-firefunction-v2",
    "google-gemma-2-2b-it", "google-gemma-4-31B-it-interleaved", "google-gemma-4-31B-it",
    "ibm-granite-granite-3.3-2B-Instruct", "ibm-granite-granite-4.0", "ibm-granite-granite-4.1",
    "inclusionai-ling-3.0-flash", "llama-cpp-deepseek-r1", "llama-cpp-rwkv-world", "meetkai-functionary-medium-v3.1",
    "meetkai-functionary-medium-v3.2", "meta-llama-Llama-3.1-8B-Instruct", "meta-llama-Llama-3.2-3B-Instruct",
    "meta-llama-Llama-3.3-70B-Instruct", "microsoft-Phi-3.5-mini-instruct", "mistralai-Ministral-3-14B-Reasoning-2512",
    "mistralai-Mistral-Nemo-Instruct-2407", "moonshotai-Kimi-K2", "muse-glimmer", "openai-gpt-oss-120b",
    "openbmb-MiniCPM5-1B", "poolside-Laguna-S-2.1", "poolside-Laguna-XS-2.1", "poolside-Laguna-XS.2", "tencent-Hy3",
    "unsloth-Apriel-1.5", "unsloth-mistral-Devstral-Small-2507", "upstage-Solar-Open-100B",
)  # fmt: skip


class Unavailable(Exception):
    """The sdist could not be downloaded or read; the message says why."""


def cache_root() -> Path:
    return Path(os.environ.get("MODELOCI_TEST_CACHE") or Path(tempfile.gettempdir()) / "modeloci-test-cache")


def templates_folder(timeout: float = 600) -> Path:
    """The folder holding the sdist's ``*.jinja`` templates, downloaded and extracted on first use."""
    target = cache_root() / f"llama-cpp-python-{VERSION}-templates"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--retries", "2", "--no-deps",
                   "--no-binary", ":all:", f"llama-cpp-python=={VERSION}", "-d", tmp]
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout)
        except subprocess.CalledProcessError as exc:
            lines = (exc.stderr or exc.stdout or "").strip().splitlines()
            last = lines[-1] if lines else exc
            raise Unavailable(f"`pip download llama-cpp-python=={VERSION}` failed: {last}") from exc
        except (subprocess.TimeoutExpired, OSError) as exc:
            raise Unavailable(f"`pip download llama-cpp-python=={VERSION}` did not finish: {exc}") from exc
        staging = Path(tmp) / "templates"
        staging.mkdir()
        try:
            _extract(next(Path(tmp).glob("llama_cpp_python-*.tar.gz")), staging)
        except (StopIteration, tarfile.TarError, OSError) as exc:
            raise Unavailable(f"cannot read the llama-cpp-python {VERSION} sdist: {exc!r}") from exc
        try:
            staging.rename(target)  # whole or not at all; a concurrent run may have put it there first
        except OSError:
            if not target.is_dir():
                raise
    return target


def _extract(sdist: Path, into: Path) -> None:
    """Only the templates, each written under its base name (no path from the archive is used)."""
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar:
            match = _MEMBER.match(member.name)
            if match and member.isfile():
                source = tar.extractfile(member)
                assert source is not None
                (into / match[1]).write_bytes(source.read())
