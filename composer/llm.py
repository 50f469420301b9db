"""The LLM planner: a language model writes or revises the Plan; the code checks it.

Backends: any OpenAI-compatible chat-completions server (OpenAI, vLLM, LM Studio,
llama.cpp's llama-server), Ollama's native /api/chat, or a local transformers causal
LM folder decoded under the Plan's constraints. Every answer is parsed with the Plan
model, its chords checked and its harmony critiqued with the rules planner's table;
problems go back to the model a bounded number of times, then the rules planner takes
over with a visible warning.
"""
from __future__ import annotations

import json
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from symbolic.harmony import degree_token, parse_chord, parse_key

from .plan import MAX_BPM, MAX_SECONDS, MIN_BPM, Plan, PlanError, json_kind, parse_json, plan_from_data, plan_schema

MAX_RESPONSE_BYTES = 512 * 1024
MAX_CONFIG_BYTES = 64 * 1024   # a config file is a few lines; a larger one is a mistake
MAX_CONFIG_DEPTH = 8
MAX_TIMEOUT = 3600.0
MAX_RETRIES = 8
URL_SCHEMES = ("http", "https")  # urllib would also open file:// and ftp:// URLs: never for a model server
MAX_PLAN_SECTIONS = 24     # tighter than the Plan's own caps: what an LLM may ask for
MAX_PLAN_BARS = 512
MAX_PLAN_TRACKS = 16
BACKENDS = ("auto", "openai", "ollama", "llamacpp", "vllm")


class LLMError(RuntimeError):
    """A fault talking to the model or reading its answer; the message is one line."""


@dataclass
class LLMSettings:
    url: str | None = None
    model: str | None = None
    api_key: str | None = None
    path: str | None = None
    backend: str = "auto"
    timeout: float = 120.0
    retries: int = 3
    temperature: float = 0.4

    @property
    def configured(self) -> bool:
        return bool(self.url or self.path)


def config_path() -> Path:
    env = os.environ.get("COMPOSER_CONFIG")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "composer" / "config.json"


def read_config(cfg: Path | None = None) -> dict:
    """The config file as a JSON object ({} when there is none); LLMError naming the file and the fault."""
    cfg = cfg or config_path()
    try:
        if not cfg.exists():
            return {}
        with open(cfg, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise LLMError(f"cannot read the config file {cfg}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise LLMError(f"the config file {cfg} is larger than {MAX_CONFIG_BYTES // 1024} KB")
    try:
        data = parse_json(raw, f"config file {cfg}", MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH)
    except PlanError as exc:
        raise LLMError(str(exc)) from None
    if not isinstance(data, dict):
        raise LLMError(f"the config file {cfg} holds {json_kind(data)}; it should be an object such as "
                       f'{{"llm": {{"url": "http://localhost:11434"}}}}')
    return data


_CONFIG_TYPES: dict[str, type | tuple[type, ...]]  # the config's "llm" entries and the types they take
_CONFIG_TYPES = {"url": str, "model": str, "path": str, "api_key": str, "backend": str, "timeout": (int, float),
                 "retries": int}


def _llm_config(cfg: Path) -> dict:
    """The "llm" object of the config file, each value of the type it needs."""
    entry = read_config(cfg).get("llm")
    if entry is None:
        return {}
    if not isinstance(entry, dict):
        raise LLMError(f'the config file {cfg}: "llm" is {json_kind(entry)}; it should be an object such as '
                       f'{{"url": "http://localhost:11434", "model": "qwen2.5:7b-instruct"}}')
    for name, value in entry.items():
        want = _CONFIG_TYPES.get(name)
        if want is None:
            continue  # unknown names are left for newer versions
        if value is not None and (not isinstance(value, want) or isinstance(value, bool)):
            need = "a number" if name == "timeout" else "a whole number" if name == "retries" else "a string"
            raise LLMError(f'the config file {cfg}: "llm.{name}" is {json_kind(value)}; it should be {need}')
    return entry


def check_url(url: str, source: str = "--llm-url") -> str:
    """The URL of a model server: http or https with a host; LLMError naming where it came from otherwise."""
    parsed = urllib.parse.urlparse(url.strip())
    if parsed.scheme.lower() not in URL_SCHEMES or not parsed.hostname:
        shown = url if len(url) <= 80 else url[:77] + "..."
        raise LLMError(f"{source} {shown!r} is not an http:// or https:// URL of a model server")
    return url


def _number(value, name: str, source: str, kind=float):
    try:
        out = kind(value)
    except (TypeError, ValueError):
        raise LLMError(f"{source}: {name} {str(value)[:20]!r} is not a number") from None
    return out


def load_settings(url: str | None = None, model: str | None = None, path: str | None = None,
                  backend: str | None = None, timeout: float | None = None, retries: int | None = None) -> LLMSettings:
    """Settings from, in order of precedence: arguments, environment, the config file."""
    cfg = config_path()
    file_cfg = _llm_config(cfg)
    env = os.environ.get
    s = LLMSettings()
    s.url = url or env("COMPOSER_LLM_URL") or file_cfg.get("url")
    if s.url:
        source = "--llm-url" if url else "COMPOSER_LLM_URL" if env("COMPOSER_LLM_URL") else f"llm.url in {cfg}"
        check_url(s.url, source)
    s.model = model or env("COMPOSER_LLM_MODEL") or file_cfg.get("model")
    s.path = path or env("COMPOSER_LLM_PATH") or file_cfg.get("path")
    s.api_key = env("COMPOSER_LLM_API_KEY") or file_cfg.get("api_key")
    s.backend = backend or env("COMPOSER_LLM_BACKEND") or file_cfg.get("backend") or "auto"
    if s.backend not in BACKENDS:
        raise LLMError(f"unknown LLM backend {s.backend!r}; choose from {', '.join(BACKENDS)}")
    if timeout is not None:
        s.timeout, source = _number(timeout, "timeout", "--llm-timeout"), "--llm-timeout"
    elif env("COMPOSER_LLM_TIMEOUT"):
        s.timeout, source = _number(env("COMPOSER_LLM_TIMEOUT"), "timeout", "COMPOSER_LLM_TIMEOUT"), "COMPOSER_LLM_TIMEOUT"
    elif file_cfg.get("timeout") is not None:
        s.timeout, source = float(file_cfg["timeout"]), f"llm.timeout in {cfg}"
    else:
        s.timeout, source = 120.0, ""
    if not 0 < s.timeout <= MAX_TIMEOUT:  # also false for NaN
        raise LLMError(f"{source}: the LLM timeout {s.timeout:g} s is out of range (above 0, at most {MAX_TIMEOUT:g} s)")
    if retries is not None:
        s.retries, source = _number(retries, "retries", "--llm-retries", int), "--llm-retries"
    else:
        s.retries, source = file_cfg.get("retries", 3), f"llm.retries in {cfg}"
        s.retries = 3 if s.retries is None else s.retries
    if not 0 <= s.retries <= MAX_RETRIES:
        raise LLMError(f"{source}: {s.retries} LLM retries is outside 0-{MAX_RETRIES}")
    return s


# --- prompts -----------------------------------------------------------------------------

def compact_schema() -> dict:
    """The Plan's JSON schema without titles and descriptions, to keep prompts short."""
    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in ("title",)}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node
    return strip(plan_schema())


RULES = f"""Rules:
- Answer with one JSON object that follows the schema, and nothing else.
- key like "D minor" or "Bb major"; meter like "3/4"; tempo in quarter notes per minute ({MIN_BPM:g}-{MAX_BPM:g}).
- tracks: 1 to {MAX_PLAN_TRACKS}; role is one of melody, counter-melody, chords, pad, arpeggio, bass, drums;
  program is a General MIDI program 0-127; drums use role "drums".
- sections: 1 to {MAX_PLAN_SECTIONS}, at most {MAX_PLAN_BARS} bars in all and at most {MAX_SECONDS // 60} minutes.
  Each section has exactly `bars` entries in `chords`, one list per bar.
- A bar is a list of {{"symbol": chord, "beats": n}}; the beats of a bar add up to the meter's numerator
  (4 in 4/4, 3 in 3/4, 6 in 6/8). Chord symbols: C, Dm, F#m7, Bbmaj7, G7, Eø, Adim7, Csus4, G/B.
- Sections with the same label (A, A', B) share material; energy is 1-5.
- End sections with cadences; when a section changes key, set its "key" and come back explicitly.
"""


def messages_for_brief(brief: str) -> list[dict]:
    return [
        {"role": "system", "content": "You are a composer's assistant who writes form and chord plans as JSON.\n"
                                      + RULES + "Schema:\n" + json.dumps(compact_schema(), separators=(",", ":"))},
        {"role": "user", "content": f"Brief: {brief}\nWrite the plan."},
    ]


def messages_for_revision(plan: Plan, instruction: str) -> list[dict]:
    return [
        {"role": "system", "content": "You are a composer's assistant who edits form and chord plans given as JSON.\n"
                                      + RULES + "Schema:\n" + json.dumps(compact_schema(), separators=(",", ":"))},
        {"role": "user", "content": "Current plan:\n" + plan.model_dump_json(exclude_none=True)
                                    + f"\nEdit: {instruction}\nReturn the whole edited plan."},
    ]


# --- HTTP backends ------------------------------------------------------------------------------

def detect_backend(url: str) -> str:
    parsed = urllib.parse.urlparse(url)
    if parsed.port == 11434 or parsed.path.rstrip("/").endswith("/api"):
        return "ollama"
    if "openai.com" in (parsed.hostname or ""):
        return "openai"
    if parsed.port == 8080:
        return "llamacpp"
    if parsed.port == 8000:
        return "vllm"
    return "openai"


def _post(url: str, payload: dict, settings: LLMSettings) -> dict:
    data = json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=settings.timeout) as resp:
            body = resp.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        detail = ""
        try:
            detail = exc.read(300).decode("utf-8", "replace").replace("\n", " ").strip()
        except Exception:  # noqa: BLE001 - the status is what matters
            pass
        raise LLMError(f"the LLM server answered HTTP {exc.code} {exc.reason}" + (f": {detail[:160]}" if detail else "")) from None
    except (socket.timeout, TimeoutError):
        raise LLMError(f"the LLM server did not answer within {settings.timeout:g} s ({url})") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise LLMError(f"the LLM server did not answer within {settings.timeout:g} s ({url})") from None
        raise LLMError(f"cannot reach the LLM server at {url}: {reason}") from None
    except (ConnectionError, OSError) as exc:
        raise LLMError(f"cannot reach the LLM server at {url}: {exc}") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise LLMError(f"the LLM answer is larger than {MAX_RESPONSE_BYTES // 1024} KB; refusing it")
    try:
        reply = parse_json(body, "LLM server's answer", MAX_RESPONSE_BYTES)
    except PlanError as exc:
        if "not valid JSON" in str(exc) or "not UTF-8" in str(exc):
            raise LLMError("the LLM server's answer is not JSON (is the URL an OpenAI-compatible API?)") from None
        raise LLMError(str(exc)) from None
    if not isinstance(reply, dict):
        raise LLMError("the LLM server's answer is not a JSON object (is the URL an OpenAI-compatible API?)")
    return reply


def chat(messages: list[dict], settings: LLMSettings, schema: dict | None = None) -> str:
    """One chat completion; the model's text. Structured output is asked for in the backend's own way."""
    url = check_url(settings.url or "", "the LLM URL").rstrip("/")
    backend = settings.backend if settings.backend != "auto" else detect_backend(url)
    if backend == "ollama":
        base = url[: -len("/api")] if url.endswith("/api") else url.removesuffix("/v1")
        payload = {"model": settings.model or "llama3.2", "messages": messages, "stream": False,
                   "options": {"temperature": settings.temperature}}
        if schema is not None:
            payload["format"] = schema
        reply = _post(base + "/api/chat", payload, settings)
        try:
            return str(reply["message"]["content"])
        except (KeyError, TypeError):
            raise LLMError("the Ollama answer has no message content") from None
    endpoint = url if url.endswith("/chat/completions") else (url + ("/chat/completions" if url.endswith("/v1") else "/v1/chat/completions"))
    payload = {"model": settings.model or "default", "messages": messages, "temperature": settings.temperature}
    if schema is not None:
        payload["response_format"] = {"type": "json_schema", "json_schema": {"name": "plan", "schema": schema}}
        if backend == "llamacpp":
            payload["json_schema"] = schema
        elif backend == "vllm":
            payload["guided_json"] = schema
    reply = _post(endpoint, payload, settings)
    try:
        choice = reply["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LLMError("the LLM answer has no choices[0].message.content") from None
    if content is None:
        raise LLMError("the LLM answer is empty")
    if choice.get("finish_reason") == "length":
        raise LLMError("the LLM answer was cut off (finish_reason=length); the plan is incomplete")
    return str(content)


# --- reading and checking answers ---------------------------------------------------------------

def extract_json(text: str) -> dict:
    """The JSON object in a model's answer (fenced or bare)."""
    if len(text) > MAX_RESPONSE_BYTES:
        raise LLMError("the LLM answer is too large")
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.S)
    candidate = fenced.group(1) if fenced else text
    start, end = candidate.find("{"), candidate.rfind("}")
    if start < 0 or end <= start:
        raise LLMError("the LLM answer holds no JSON object")
    try:
        # The same guarded reader as plan files: size and nesting are capped before json.loads.
        data = parse_json(candidate[start:end + 1], "LLM answer", MAX_RESPONSE_BYTES)
    except PlanError as exc:
        msg = str(exc)
        raise LLMError(msg + ("; it may be truncated" if "not valid JSON" in msg else "")) from None
    if not isinstance(data, dict):
        raise LLMError("the LLM answer is not a JSON object")
    return data


def check_caps(data: dict) -> list[str]:
    """Problems with sizes, before building the Plan (so an absurd answer costs nothing)."""
    problems = []
    sections = data.get("sections")
    tracks = data.get("tracks")
    if isinstance(sections, list):
        if len(sections) > MAX_PLAN_SECTIONS:
            problems.append(f"{len(sections)} sections; use at most {MAX_PLAN_SECTIONS}")
        bars = 0
        for s in sections:
            if isinstance(s, dict) and isinstance(s.get("bars"), int):
                bars += s["bars"]
        if bars > MAX_PLAN_BARS:
            problems.append(f"{bars} bars in all; use at most {MAX_PLAN_BARS}")
    if isinstance(tracks, list) and len(tracks) > MAX_PLAN_TRACKS:
        problems.append(f"{len(tracks)} tracks; use at most {MAX_PLAN_TRACKS}")
    return problems


def critique(plan: Plan) -> list[str]:
    """Harmony problems worth sending back: chords outside the key with no modulation, and sections
    that end without a cadence, judged with the rules planner's table of real songs; and harmony that leaves the
    plan's style (planner.idiom_problems)."""
    from .tables import load_table

    table = load_table()["chords"]
    problems = []
    key = parse_key(plan.key)
    for si, sec in enumerate(plan.sections):
        key = parse_key(sec.key) if sec.key else key
        style = table.get("pop", {})
        stats = style.get(key.mode, {})
        vocab = set(stats.get("next", {})) | set(stats.get("start", {}))
        cadences = stats.get("cadence", {})
        outside = []
        for bi, bar in enumerate(sec.chords):
            for c in bar:
                chord = parse_chord(c.symbol)
                tok = degree_token(chord, key)
                off = (chord.root - key.tonic) % 12
                diatonic = off in ((0, 2, 3, 5, 7, 8, 10, 11) if key.mode == "minor" else (0, 2, 4, 5, 7, 9, 11))
                if tok not in vocab and not diatonic:
                    outside.append(f"bar {bi + 1} {c.symbol}")
        if len(outside) > max(1, sec.bars // 4):
            problems.append(f"section {si + 1} {sec.name!r} is in {key.name} but has chords outside it with no "
                            f"key change: {', '.join(outside[:4])}")
        last = parse_chord(sec.chords[-1][-1].symbol)
        tok = degree_token(last, key)
        total = sum(cadences.values()) or 1
        final = si == len(plan.sections) - 1
        if final and (last.root != key.tonic):
            problems.append(f"the last section {sec.name!r} ends on {last.text}, not on the tonic of {key.name}")
        elif cadences and cadences.get(tok, 0) / total < 0.002 and not sec.key:
            problems.append(f"section {si + 1} {sec.name!r} ends on {last.text}: no cadence")
    from .planner import idiom_problems
    return problems + idiom_problems(plan)


@dataclass
class LLMResult:
    plan: Plan
    warnings: list[str] = field(default_factory=list)
    attempts: int = 0
    fell_back: bool = False


def _validate(data: dict) -> tuple[Plan | None, list[str]]:
    problems = check_caps(data)
    if problems:
        return None, problems
    try:
        plan = plan_from_data(data)  # the checks every plan file gets
    except PlanError as exc:
        return None, [str(exc)]
    return plan, []


def ask_for_plan(messages: list[dict], settings: LLMSettings, ask: Callable[[list[dict]], str] | None = None,
                 progress: Callable[[str], None] = lambda m: None) -> LLMResult:
    """Ask, validate, critique and re-ask up to settings.retries times. Raises LLMError when every
    answer was unusable or the server failed (the caller decides whether to fall back)."""
    ask = ask or (lambda msgs: chat(msgs, settings, compact_schema()))
    msgs = list(messages)
    last_problems: list[str] = []
    best: Plan | None = None
    for attempt in range(1, settings.retries + 2):
        progress(f"asking the model (attempt {attempt})")
        text = ask(msgs)
        try:
            data = extract_json(text)
        except LLMError as exc:
            last_problems = [str(exc)]
        else:
            plan, problems = _validate(data)
            if plan is not None:
                problems = critique(plan)
                best = plan
                if not problems:
                    return LLMResult(plan, [], attempt)
            last_problems = problems
        progress("the answer has problems: " + "; ".join(last_problems)[:200])
        msgs = msgs + [{"role": "assistant", "content": text[:4000]},
                       {"role": "user", "content": "The plan has these problems:\n- " + "\n- ".join(last_problems)
                                                  + "\nReturn the whole corrected plan as JSON."}]
    if best is not None:
        # Valid but with harmony remarks left: keep it and say so.
        return LLMResult(best, [f"the plan still has remarks: {'; '.join(last_problems)}"], settings.retries + 1)
    raise LLMError(f"no usable plan after {settings.retries + 1} answers: {'; '.join(last_problems)[:300]}")
