"""The LLM planner against a real local HTTP server with scripted answers, and a tiny local model."""
import json
import socket

import pytest

from composer.cli import main
from composer.llm import LLMError, LLMSettings, ask_for_plan, chat, extract_json, messages_for_brief
from composer.pipeline import make_plan
from composer.plan import Plan

from .llm_server import LLMServer

BRIEF = "a calm waltz in D minor for violin, cello and piano, about one minute"

GOOD = {
    "title": "Waltz", "key": "D minor", "meter": "3/4", "tempo": 140, "style": "waltz",
    "tracks": [{"name": "Violin", "role": "melody", "program": 40}, {"name": "Piano", "role": "chords", "program": 0},
               {"name": "Cello", "role": "bass", "program": 42}],
    "sections": [
        {"name": "A", "label": "A", "bars": 8, "chords": ["Dm", "Gm", "A7", "Dm", "Bb", "Gm", "A7", "Dm"], "energy": 2},
        {"name": "B", "label": "B", "bars": 8, "chords": ["F", "C", "Dm", "A", "Bb", "Gm", "E7", "A7"], "energy": 3},
        {"name": "A'", "label": "A'", "bars": 8, "chords": ["Dm", "Gm", "A7", "Dm", "Bb", "Gm", "A7", "Dm"], "energy": 2},
    ],
}


def settings(url, **kw):
    return LLMSettings(url=url, model="test", timeout=kw.pop("timeout", 5), retries=kw.pop("retries", 2), **kw)


def test_valid_plan_first_time_with_structured_output():
    with LLMServer([{"content": json.dumps(GOOD)}]) as srv:
        res = ask_for_plan(messages_for_brief(BRIEF), settings(srv.url))
        req = srv.script.requests[0]
    assert res.plan.key == "D minor" and res.attempts == 1 and not res.warnings
    assert srv.script.paths == ["/v1/chat/completions"]
    assert req["response_format"]["type"] == "json_schema"
    assert req["response_format"]["json_schema"]["schema"]["properties"]["sections"]
    assert "Schema:" in req["messages"][0]["content"]  # the schema is in the prompt too
    assert BRIEF in req["messages"][1]["content"]


def test_invalid_then_valid_feeds_the_problem_back():
    bad = json.loads(json.dumps(GOOD))
    bad["sections"][1]["chords"][2] = "Hm7"
    with LLMServer([{"content": "Sure! ```json\n" + json.dumps(bad) + "\n```"}, {"content": json.dumps(GOOD)}]) as srv:
        res = ask_for_plan(messages_for_brief(BRIEF), settings(srv.url))
        second = srv.script.requests[1]["messages"][-1]["content"]
    assert res.attempts == 2
    assert "section 2 'B' bar 3 chord 'Hm7'" in second


def test_wrong_types_are_named_and_repaired():
    bad = json.loads(json.dumps(GOOD))
    bad["sections"][0]["bars"] = "eight"
    bad["tempo"] = "fast"
    with LLMServer([{"content": json.dumps(bad)}, {"content": json.dumps(GOOD)}]) as srv:
        res = ask_for_plan(messages_for_brief(BRIEF), settings(srv.url))
        feedback = srv.script.requests[1]["messages"][-1]["content"]
    assert res.attempts == 2 and "tempo" in feedback


def test_harmony_critique_is_sent_back():
    odd = json.loads(json.dumps(GOOD))
    odd["sections"][2]["chords"] = ["Dm", "Gm", "A7", "Dm", "Bb", "Gm", "A7", "C#"]  # no cadence on the tonic
    with LLMServer([{"content": json.dumps(odd)}, {"content": json.dumps(GOOD)}]) as srv:
        res = ask_for_plan(messages_for_brief(BRIEF), settings(srv.url))
        feedback = srv.script.requests[1]["messages"][-1]["content"]
    assert res.attempts == 2 and "not on the tonic" in feedback


def test_absurd_sizes_are_refused_then_the_rules_planner_takes_over():
    huge = json.loads(json.dumps(GOOD))
    huge["sections"] = [dict(GOOD["sections"][0], name=f"S{i}") for i in range(500)]
    warnings = []
    with LLMServer([{"content": json.dumps(huge)}] * 3) as srv:
        plan = make_plan(BRIEF, planner="llm", llm=settings(srv.url), warn=warnings.append)
        feedback = srv.script.requests[1]["messages"][-1]["content"]
    assert "500 sections" in feedback
    assert warnings and "rules planner" in warnings[-1]
    assert plan.key == "D minor" and plan.meter == "3/4"  # from the rules planner


@pytest.mark.parametrize("answers,needle", [
    ([{"sleep": 1.5, "content": json.dumps(GOOD)}], "did not answer within 0.5 s"),
    ([{"status": 500}], "HTTP 500"),
    ([{"status": 401}], "HTTP 401"),
    ([{"raw": b"<html>not json</html>"}], "not JSON"),
    ([{"content": json.dumps(GOOD)[:200], "finish_reason": "length"}], "cut off"),
    ([{"raw": b'{"choices": []}'}], "no choices"),
    ([{"raw": b"x" * (600 * 1024)}], "larger than"),
])
@pytest.mark.slow
def test_faults_are_one_line(answers, needle):
    with LLMServer(answers) as srv:
        with pytest.raises(LLMError) as err:
            chat(messages_for_brief(BRIEF), settings(srv.url, timeout=0.5))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_truncated_and_non_json_answers_end_in_an_error_after_retries():
    with LLMServer([{"content": "I cannot do that"}, {"content": '{"key": "D minor", "sect'}, {"content": "nope"}]) as srv:
        with pytest.raises(LLMError, match="no usable plan after 3 answers"):
            ask_for_plan(messages_for_brief(BRIEF), settings(srv.url))


def test_refused_connection():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(LLMError, match="cannot reach"):
        chat(messages_for_brief(BRIEF), settings(f"http://127.0.0.1:{port}/v1"))


def test_backends_ask_for_structured_output_their_own_way():
    with LLMServer([{"content": json.dumps(GOOD)}]) as srv:
        chat(messages_for_brief(BRIEF), settings(srv.url.replace("/v1", "/api"), backend="ollama"),
             schema={"type": "object"})
        assert srv.script.paths == ["/api/chat"] and srv.script.requests[0]["format"] == {"type": "object"}
        assert srv.script.requests[0]["stream"] is False
    with LLMServer([{"content": json.dumps(GOOD)}]) as srv:
        chat(messages_for_brief(BRIEF), settings(srv.url, backend="llamacpp"), schema={"type": "object"})
        assert srv.script.requests[0]["json_schema"] == {"type": "object"}
    with LLMServer([{"content": json.dumps(GOOD)}]) as srv:
        chat(messages_for_brief(BRIEF), settings(srv.url, backend="vllm"), schema={"type": "object"})
        assert srv.script.requests[0]["guided_json"] == {"type": "object"}


def test_extract_json_from_chatty_answers():
    assert extract_json('Here you go:\n```json\n{"a": 1}\n```\nEnjoy')["a"] == 1
    assert extract_json('text {"a": {"b": 2}} more')["a"]["b"] == 2
    with pytest.raises(LLMError):
        extract_json("no braces here")


def test_cli_with_scripted_server_and_fallback_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COMPOSER_CONFIG", str(tmp_path / "none.json"))
    with LLMServer([{"content": json.dumps(GOOD)}]) as srv:
        assert main(["-q", "plan", BRIEF, "--planner", "llm", "--llm-url", srv.url, "-o", str(tmp_path / "p.json")]) == 0
    assert Plan.model_validate_json((tmp_path / "p.json").read_text()).title == "Waltz"
    with LLMServer([{"status": 500}] * 5) as srv:
        assert main(["-q", "plan", BRIEF, "--planner", "llm", "--llm-url", srv.url, "-o", str(tmp_path / "q.json")]) == 0
        err = capsys.readouterr().err
        assert "HTTP 500" in err and "using the rules planner instead" in err
        assert main(["-q", "plan", BRIEF, "--planner", "llm", "--llm-url", srv.url, "--no-fallback",
                     "-o", str(tmp_path / "r.json")]) == 2
        assert "composer: error: the LLM server answered HTTP 500" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_settings_from_env_and_config_file(tmp_path, monkeypatch):
    from composer.llm import load_settings
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"llm": {"url": "http://file:1/v1", "model": "from-file", "timeout": 7}}))
    monkeypatch.setenv("COMPOSER_CONFIG", str(cfg))
    monkeypatch.delenv("COMPOSER_LLM_URL", raising=False)
    monkeypatch.delenv("COMPOSER_LLM_MODEL", raising=False)
    s = load_settings()
    assert (s.url, s.model, s.timeout) == ("http://file:1/v1", "from-file", 7)
    monkeypatch.setenv("COMPOSER_LLM_URL", "http://env:2/v1")
    monkeypatch.setenv("COMPOSER_LLM_API_KEY", "sekret")
    s = load_settings(model="from-arg")
    assert (s.url, s.model, s.api_key) == ("http://env:2/v1", "from-arg", "sekret")


def test_api_key_is_sent(monkeypatch):
    with LLMServer([{"content": json.dumps(GOOD)}]) as srv:
        s = settings(srv.url)
        s.api_key = "abc"
        # The handler records bodies only; check the header through a real request.
        import urllib.request
        seen = {}
        orig = urllib.request.urlopen

        def spy(req, timeout=None):
            seen["auth"] = req.get_header("Authorization")
            return orig(req, timeout=timeout)
        monkeypatch.setattr(urllib.request, "urlopen", spy)
        chat(messages_for_brief(BRIEF), s)
    assert seen["auth"] == "Bearer abc"


# --- hostile config files, URLs and answers ----------------------------------------------------------

@pytest.mark.parametrize("text,needle", [
    ('{"llm": [1, 2]}', '"llm" is a list; it should be an object'),
    ('{"llm": 5}', '"llm" is a number; it should be an object'),
    ('[{"llm": {}}]', "holds a list; it should be an object"),
    ('"http://x"', "holds a string"),
    ('{"llm": {"url": 5}}', '"llm.url" is a number; it should be a string'),
    ('{"llm": {"timeout": "soon"}}', '"llm.timeout" is a string; it should be a number'),
    ('{"llm": {"retries": 2.5}}', '"llm.retries" is a number; it should be a whole number'),
    ('{"llm": {"retries": 99}}', "99 LLM retries is outside 0-8"),
    ('{"llm": {"timeout": -1}}', "timeout -1 s is out of range (above 0, at most 3600 s)"),
    ('{"llm": {"url": "file:///etc/passwd"}}', "'file:///etc/passwd' is not an http:// or https:// URL"),
    ('{"llm": ' * 5000 + "1" + "}" * 5000, "nests deeper than 8 levels"),
    ("[" * 100000 + "]" * 100000, "larger than 64 KB"),
    ('{"llm": {"url": "http://x"}', "is not valid JSON"),
])
def test_bad_config_files_are_one_line_errors_naming_the_file(tmp_path, monkeypatch, text, needle):
    from composer.llm import load_settings
    cfg = tmp_path / "config.json"
    cfg.write_text(text)
    monkeypatch.setenv("COMPOSER_CONFIG", str(cfg))
    for name in ("COMPOSER_LLM_URL", "COMPOSER_LLM_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(LLMError) as err:
        load_settings()
    assert needle in str(err.value) and str(cfg) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/v1", "gopher://h:70", "http://", "localhost:11434"])
def test_only_http_urls_reach_a_model_server(tmp_path, monkeypatch, capsys, url):
    from composer.llm import load_settings
    monkeypatch.setenv("COMPOSER_CONFIG", str(tmp_path / "none.json"))
    monkeypatch.delenv("COMPOSER_LLM_URL", raising=False)
    with pytest.raises(LLMError, match="is not an http:// or https:// URL"):
        load_settings(url=url)
    with pytest.raises(LLMError, match="is not an http:// or https:// URL"):
        chat(messages_for_brief(BRIEF), settings(url))
    assert main(["-q", "plan", BRIEF, "--planner", "llm", "--llm-url", url, "-o", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("composer: error: --llm-url ") and "\n" not in err
    assert not (tmp_path / "p.json").exists()
    monkeypatch.setenv("COMPOSER_LLM_URL", url)
    with pytest.raises(LLMError, match="COMPOSER_LLM_URL"):
        load_settings()


def test_bad_timeout_and_retries_are_refused_not_clamped(tmp_path, monkeypatch):
    from composer.llm import load_settings
    monkeypatch.setenv("COMPOSER_CONFIG", str(tmp_path / "none.json"))
    monkeypatch.setenv("COMPOSER_LLM_TIMEOUT", "soon")
    with pytest.raises(LLMError, match="COMPOSER_LLM_TIMEOUT: timeout 'soon' is not a number"):
        load_settings(url="http://h:1")
    monkeypatch.delenv("COMPOSER_LLM_TIMEOUT")
    with pytest.raises(LLMError, match="--llm-retries: 50 LLM retries is outside 0-8"):
        load_settings(url="http://h:1", retries=50)
    with pytest.raises(LLMError, match=r"timeout 0 s is out of range \(above 0, at most 3600 s\)"):
        load_settings(url="http://h:1", timeout=0)
    assert load_settings(url="https://h:1/v1", retries=0, timeout=30).retries == 0


def test_deeply_nested_answers_go_through_the_guarded_reader():
    deep = "{" + '"a":{' * 5000 + "}" * 5001
    with pytest.raises(LLMError, match="nests deeper than 32"):
        extract_json(deep)
    with LLMServer([{"raw": b"[" * 400000 + b"]" * 100000}]) as srv:
        with pytest.raises(LLMError, match="nests deeper than 32"):
            chat(messages_for_brief(BRIEF), settings(srv.url))
    # A nested answer costs one retry, like any other unusable answer; a good one after it is used.
    with LLMServer([{"content": deep}, {"content": json.dumps(GOOD)}]) as srv:
        res = ask_for_plan(messages_for_brief(BRIEF), settings(srv.url))
        feedback = srv.script.requests[1]["messages"][-1]["content"]
    assert res.attempts == 2 and "nests deeper than 32" in feedback


def test_control_characters_in_an_answer_are_sent_back():
    bad = json.loads(json.dumps(GOOD))
    bad["tracks"][0]["name"] = "Violin\x1b[31m"
    with LLMServer([{"content": json.dumps(bad)}, {"content": json.dumps(GOOD)}]) as srv:
        res = ask_for_plan(messages_for_brief(BRIEF), settings(srv.url))
        feedback = srv.script.requests[1]["messages"][-1]["content"]
    assert res.attempts == 2 and "track 1 name: contains the control character U+001B" in feedback


def test_the_critique_knows_each_styles_harmony():
    """A jazz chart of plain triads, a reel with extended chords and a blues on a triad tonic are sent back
    with the reason; the rules planner's own plans pass."""
    from composer.llm import critique
    from composer.pipeline import make_plan
    from composer.plan import Plan

    def with_chords(plan, symbols):
        data = plan.model_dump(mode="json", exclude_none=True)
        for sec in data["sections"]:
            sec["chords"] = [[{"symbol": symbols[i % len(symbols)], "beats": sum(c["beats"] for c in bar)}]
                             for i, bar in enumerate(sec["chords"])]
        return Plan.model_validate(data)

    jazz = make_plan("a jazz tune in F major, AABA, for tenor sax, piano, upright bass and drums, one minute")
    reel = make_plan("an Irish reel in D major for fiddle and guitar, one minute")
    blues = make_plan("a 12-bar shuffle blues in A with guitar, bass and drums, one minute")
    assert not [p for p in critique(jazz) + critique(reel) + critique(blues) if "idiom" in p or "seventh" in p]
    said = " ".join(critique(with_chords(jazz, ["F", "Dm", "Bb", "C"])))
    assert "sevenths" in said and "ii-V" in said
    said = " ".join(critique(with_chords(reel, ["D", "Bb", "G", "F#7"])))
    assert "outside the reel idiom" in said and "Bb" in said
    said = " ".join(critique(with_chords(blues, ["A", "D7", "A", "E7"])))
    assert "blues tonic is a dominant seventh" in said
