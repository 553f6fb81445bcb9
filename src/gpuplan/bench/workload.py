"""Request shapes: synthetic prompts of about I tokens, or a JSONL dataset read with bounds.

Synthetic prompts are drawn from a fixed list of short, common English words (assumption: about one token per word
in the usual BPE vocabularies; the chat template adds a few), seeded per request so runs are reproducible and
prompts differ (no accidental prefix-cache hits). The server's ``usage.prompt_tokens`` reports the true count when
it sends usage, and the results use it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from gpuplan.errors import InvalidInputError, MalformedFileError

WORDS = (
    "the of and to in is you that it he was for on are as with his they at be this have from or one had by word but "
    "not what all were we when your can said there use an each which she do how their if will up other about out "
    "many then them these so some her would make like him into time has look two more write go see number no way "
    "could people my than first water been call who oil its now find long down day did get come made may part"
).split()

MAX_DATASET_BYTES = 256 * 2**20
MAX_DATASET_LINES = 1_000_000
MAX_PROMPT_CHARS = 4 * 2**20
MAX_OUTPUT_TOKENS = 1_000_000


class RequestSpec(BaseModel):
    """One request to send: the prompt text, its nominal token count, and the output tokens to ask for."""

    model_config = ConfigDict(frozen=True)

    prompt: str
    input_tokens: int | None
    output_tokens: int


def synthetic_prompt(num_tokens: int, seed: int) -> str:
    """About ``num_tokens`` tokens: that many words from ``WORDS``, chosen by a seeded RNG."""
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(max(num_tokens, 1)))


def synthetic_requests(num_requests: int, input_tokens: int, output_tokens: int, seed: int) -> list[RequestSpec]:
    """``num_requests`` synthetic requests, request i seeded with (seed, i)."""
    return [
        RequestSpec(prompt=synthetic_prompt(input_tokens, seed * 1_000_003 + i), input_tokens=input_tokens,
                    output_tokens=output_tokens)
        for i in range(num_requests)
    ]


def load_dataset(path: str | Path, default_output_tokens: int) -> list[RequestSpec]:
    """JSONL, one ``{"prompt": str, "output_tokens": int}`` per line (``output_tokens`` optional); bounded size."""
    from gpuplan.safeio import read_bytes

    p = Path(path)
    if not p.exists():
        raise InvalidInputError("bench.dataset_missing", path=str(p))
    if p.is_file() and p.stat().st_size > MAX_DATASET_BYTES:
        raise MalformedFileError("bench.dataset_too_big", path=str(p), limit_mib=MAX_DATASET_BYTES // 2**20)
    text = read_bytes(p, MAX_DATASET_BYTES).decode("utf-8", errors="replace")  # regular file, bounded
    out: list[RequestSpec] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if line_no > MAX_DATASET_LINES:
            raise MalformedFileError("bench.dataset_too_many", path=str(p), limit=MAX_DATASET_LINES)
        if not line.strip():
            continue
        out.append(_dataset_row(line, line_no, str(p), default_output_tokens))
    if not out:
        raise MalformedFileError("bench.dataset_empty", path=str(p))
    return out


def _dataset_row(line: str, line_no: int, path: str, default_output_tokens: int) -> RequestSpec:
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        raise MalformedFileError("bench.dataset_bad_line", path=path, line=line_no) from None
    if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) or not row["prompt"]:
        raise MalformedFileError("bench.dataset_bad_line", path=path, line=line_no)
    if len(row["prompt"]) > MAX_PROMPT_CHARS:
        raise MalformedFileError("bench.dataset_bad_line", path=path, line=line_no)
    out_tokens = row.get("output_tokens", default_output_tokens)
    if not isinstance(out_tokens, int) or isinstance(out_tokens, bool) or not 1 <= out_tokens <= MAX_OUTPUT_TOKENS:
        raise MalformedFileError("bench.dataset_bad_line", path=path, line=line_no)
    in_tokens = row.get("input_tokens")
    return RequestSpec(prompt=row["prompt"], input_tokens=in_tokens if isinstance(in_tokens, int) else None,
                       output_tokens=out_tokens)
