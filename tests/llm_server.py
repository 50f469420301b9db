"""A real local HTTP server that speaks the OpenAI chat-completions protocol (and Ollama's /api/chat)
with scripted answers, for the LLM planner's tests."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Scripted:
    """Answers in order; each is a dict: {"content": str} or {"status": int} or {"sleep": s, ...} or {"raw": bytes}."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests: list[dict] = []
        self.paths: list[str] = []


def make_handler(script: Scripted):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            script.requests.append(body)
            script.paths.append(self.path)
            answer = script.answers.pop(0) if script.answers else {"status": 500}
            if "sleep" in answer:
                time.sleep(answer["sleep"])
            if "status" in answer:
                self.send_response(answer["status"])
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"error": {"message": "scripted failure"}}')
                return
            if "raw" in answer:
                payload = answer["raw"]
            elif self.path.startswith("/api/chat"):
                payload = json.dumps({"model": body.get("model"), "message": {"role": "assistant", "content": answer["content"]},
                                      "done": True}).encode()
            else:
                payload = json.dumps({"id": "x", "object": "chat.completion", "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": answer["content"]},
                     "finish_reason": answer.get("finish_reason", "stop")}]}).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


class LLMServer:
    def __init__(self, answers):
        self.script = Scripted(answers)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.script))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
