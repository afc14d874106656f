"""A tiny local stand-in for the Hugging Face Hub HTTP API, for offline tests of push/pull code.

It speaks only the routes ``huggingface_hub`` 2.4 uses for ``create_repo``, ``upload_folder`` (without hf_xet: preupload
then one ndjson commit, every file answered "regular" so nothing goes through LFS), ``repo_info``,
``list_repo_tree``, ``hf_hub_download`` and ``snapshot_download``:

    POST /api/repos/create                                   {"name", "organization", "type", "visibility"}
    POST /api/validate-yaml                                  {"content", "repoType"}: a README.md's front matter
    POST /api/{models|datasets}/{owner}/{name}/preupload/{revision}
    POST /api/{models|datasets}/{owner}/{name}/commit/{revision}      (application/x-ndjson, base64 files)
    GET  /api/{models|datasets}/{owner}/{name}[/revision/{revision}]  (repo info: id, sha, siblings)
    GET  /api/{models|datasets}/{owner}/{name}/tree/{revision}[/{path}]?recursive=...
    HEAD|GET /[datasets/]{owner}/{name}/resolve/{revision}/{path}  (ETag, X-Repo-Commit, Content-Length)

Errors carry the ``X-Error-Code`` header (RepoNotFound, RevisionNotFound, EntryNotFound) that ``hf_raise_for_status``
maps to its exception classes. Commits are kept in memory (path -> git blob sha) and file contents on disk under the
given folder. The server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

PREFIXES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


def git_blob_sha(data: bytes) -> str:
    """The git object id of a blob (what the Hub reports as a regular file's oid / ETag)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class LocalHub:
    """Repos of a fake Hub: ``(repo_type, repo_id) -> {"commits": [(oid, {path: blob sha})], "private": bool}``."""

    def __init__(self, folder: str):
        self.blobs = os.path.join(folder, "blobs")
        os.makedirs(self.blobs, exist_ok=True)
        self.repos: dict[tuple[str, str], dict] = {}
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self.authorizations: set[str] = set()  # every Authorization header value seen
        self.valid_tokens: set[str] | None = None  # when set, writes need "Authorization: Bearer <one of them>"
        self.commit_delay = 0.0  # seconds each commit takes (to observe background uploads queueing)
        self.server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    # -- storage -----------------------------------------------------------------------------------------------------
    def _put_blob(self, data: bytes) -> str:
        sha = git_blob_sha(data)
        with open(os.path.join(self.blobs, sha), "wb") as f:
            f.write(data)
        return sha

    def read_blob(self, sha: str) -> bytes:
        with open(os.path.join(self.blobs, sha), "rb") as f:
            return f.read()

    def create(self, repo_type: str, repo_id: str, private: bool) -> bool:
        """Create a repo with an initial ``.gitattributes`` commit (as the Hub does); False when it exists."""
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                return False
            files = {".gitattributes": self._put_blob(b"*.pt filter=lfs diff=lfs merge=lfs -text\n")}
            self.repos[(repo_type, repo_id)] = {"commits": [(_new_oid(repo_id, files), files)], "private": private}
            return True

    def commit(self, repo_type: str, repo_id: str, lines: list[dict]) -> str:
        with self.lock:
            repo = self.repos[(repo_type, repo_id)]
            files = dict(repo["commits"][-1][1])
            for line in lines:
                key, value = line["key"], line["value"]
                if key == "file":
                    files[value["path"]] = self._put_blob(base64.b64decode(value["content"]))
                elif key == "deletedFile":
                    files.pop(value["path"], None)
                elif key == "deletedFolder":
                    files = {p: s for p, s in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
                elif key != "header":
                    raise ValueError(f"unsupported commit operation {key!r} (this test Hub has no LFS)")
            oid = _new_oid(repo_id, files, len(repo["commits"]))
            repo["commits"].append((oid, files))
            return oid

    def snapshot(self, repo_type: str, repo_id: str, revision: str = "main") -> tuple[str, dict] | None:
        """``(commit oid, {path: blob sha})`` at ``revision`` (a branch name or a commit oid), or None."""
        commits = self.repos[(repo_type, repo_id)]["commits"]
        if revision == "main":
            return commits[-1]
        return next(((oid, files) for oid, files in commits if oid == revision), None)

    def files(self, repo_id: str, repo_type: str = "model") -> dict[str, bytes]:
        """The contents of every file of ``repo_id`` at ``main`` (for assertions)."""
        _, files = self.snapshot(repo_type, repo_id)
        return {path: self.read_blob(sha) for path, sha in files.items()}

    def commit_count(self, repo_id: str, repo_type: str = "model") -> int:
        return len(self.repos[(repo_type, repo_id)]["commits"])


def _new_oid(repo_id: str, files: dict, n: int = 0) -> str:
    return hashlib.sha1(json.dumps([repo_id, n, sorted(files.items())]).encode()).hexdigest()


class HubHandler(BaseHTTPRequestHandler):
    hub: LocalHub  # set on the subclass made by start_hub_server

    def log_message(self, *args):  # keep test output clean
        pass

    # -- plumbing ----------------------------------------------------------------------------------------------------
    def _record(self) -> tuple[list[str], dict]:
        url = urlsplit(self.path)
        self.hub.requests.append((self.command, url.path))
        if self.headers.get("Authorization"):
            self.hub.authorizations.add(self.headers["Authorization"])
        return [unquote(p) for p in url.path.strip("/").split("/")], parse_qs(url.query)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data, status: int = 200, headers: dict | None = None):
        self._send(status, json.dumps(data).encode(), headers)

    def _error(self, status: int, code: str | None, message: str, headers: dict | None = None):
        extra = {"X-Error-Message": message, **({"X-Error-Code": code} if code else {}), **(headers or {})}
        self._json({"error": message}, status, extra)

    def _repo(self, repo_type: str, repo_id: str, revision: str):
        """The snapshot at ``revision``, or None after answering 404 with the Hub's error code."""
        if (repo_type, repo_id) not in self.hub.repos:
            self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
            return None
        found = self.hub.snapshot(repo_type, repo_id, revision)
        if found is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return found

    # -- routes ------------------------------------------------------------------------------------------------------
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        parts, query = self._record()
        if parts[:1] == ["api"] and len(parts) >= 4 and parts[1] in PREFIXES:
            return self._api_get(PREFIXES[parts[1]], "/".join(parts[2:4]), parts[4:], query)
        repo_type = PREFIXES.get(parts[0]) if parts and parts[0] in ("datasets", "spaces") else "model"
        parts = parts[1:] if repo_type != "model" else parts
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(repo_type, "/".join(parts[:2]), parts[3], "/".join(parts[4:]))
        self._error(404, None, f"no route for {self.command} {self.path}")

    def do_POST(self):
        parts, _ = self._record()
        body = self._body()
        tokens = self.hub.valid_tokens
        if tokens is not None and self.headers.get("Authorization") not in {f"Bearer {t}" for t in tokens}:
            return self._error(401, None, "Invalid credentials in Authorization header")
        if parts == ["api", "repos", "create"]:
            return self._create(json.loads(body))
        if parts == ["api", "validate-yaml"]:  # upload_folder asks before committing a README.md
            return self._validate_yaml(json.loads(body)["content"])
        if len(parts) >= 6 and parts[0] == "api" and parts[1] in PREFIXES and parts[4] in ("preupload", "commit"):
            repo_type, repo_id, revision = PREFIXES[parts[1]], "/".join(parts[2:4]), "/".join(parts[5:])
            if self._repo(repo_type, repo_id, revision) is None:
                return
            if parts[4] == "preupload":
                files = json.loads(body)["files"]
                return self._json({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                                              "oid": None} for f in files]})
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            time.sleep(self.hub.commit_delay)
            oid = self.hub.commit(repo_type, repo_id, lines)
            url = f"{self.hub.endpoint}/{URL_PREFIX[repo_type]}{repo_id}/commit/{oid}"
            return self._json({"success": True, "commitOid": oid, "commitUrl": url, "pullRequestUrl": None})
        self._error(404, None, f"no route for POST {self.path}")

    def _validate_yaml(self, content: str):
        """The Hub's check of a model card's metadata: the front matter between ``---`` lines must be a YAML mapping."""
        import yaml

        if not content.startswith("---\n"):
            return self._json({"errors": [], "warnings": [{"message": "empty or missing yaml metadata"}]})
        try:
            meta = yaml.safe_load(content.split("---\n")[1])
        except yaml.YAMLError as e:
            meta = e
        if not isinstance(meta, dict):
            return self._json({"errors": [{"message": f"metadata is not a YAML mapping: {meta}"}]}, 400)
        self._json({"errors": [], "warnings": []})

    def _create(self, payload: dict):
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload['organization'] or 'user'}/{payload['name']}"
        url = f"{self.hub.endpoint}/{URL_PREFIX[repo_type]}{repo_id}"
        if not self.hub.create(repo_type, repo_id, payload.get("visibility") == "private"):
            return self._json({"error": "You already created this repo", "url": url}, 409)
        self._json({"url": url, "name": repo_id, "id": repo_id})

    def _api_get(self, repo_type: str, repo_id: str, rest: list[str], query: dict):
        if not rest or rest[0] == "revision":
            found = self._repo(repo_type, repo_id, "/".join(rest[1:]) or "main")
            if found is not None:
                oid, files = found
                private = self.hub.repos[(repo_type, repo_id)]["private"]
                self._json({"id": repo_id, "sha": oid, "private": private,
                            "siblings": [{"rfilename": p} for p in sorted(files)]})
            return
        if rest[0] == "tree" and len(rest) >= 2:
            found = self._repo(repo_type, repo_id, rest[1])
            if found is not None:
                recursive = query.get("recursive", ["false"])[0].lower() in ("true", "1")
                self._json(_tree(self.hub, found[1], "/".join(rest[2:]), recursive))
            return
        self._error(404, None, f"no route for GET {self.path}")

    def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str):
        found = self._repo(repo_type, repo_id, revision)
        if found is None:
            return
        oid, files = found
        if path not in files:
            return self._error(404, "EntryNotFound", f"{path} does not exist", {"X-Repo-Commit": oid})
        data = self.hub.read_blob(files[path])
        self._send(200, data, {"ETag": f'"{files[path]}"', "X-Repo-Commit": oid}, "application/octet-stream")


def _tree(hub: LocalHub, files: dict, prefix: str, recursive: bool) -> list[dict]:
    """Tree entries under ``prefix``: files (path, size, oid) and folders, like ``/api/.../tree``."""
    base = prefix.rstrip("/") + "/" if prefix else ""
    entries, folders = [], set()
    for path, sha in sorted(files.items()):
        if not path.startswith(base):
            continue
        rest = path[len(base):].split("/")
        for depth in range(1, len(rest)):
            if recursive or depth == 1:
                folders.add(base + "/".join(rest[:depth]))
        if recursive or len(rest) == 1:
            entries.append({"type": "file", "path": path, "size": len(hub.read_blob(sha)), "oid": sha})
    folder_entries = [{"type": "directory", "path": p, "oid": hashlib.sha1(p.encode()).hexdigest()} for p in sorted(folders)]
    return folder_entries + entries


def start_hub_server(folder: str) -> LocalHub:
    """Start a LocalHub storing into ``folder``, serving on 127.0.0.1 on a free port in a daemon thread."""
    hub = LocalHub(folder)
    handler = type("BoundHubHandler", (HubHandler,), {"hub": hub})
    hub.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    hub.server.daemon_threads = True
    threading.Thread(target=hub.server.serve_forever, name="local-hub", daemon=True).start()
    return hub


def stop_hub_server(hub: LocalHub) -> None:
    """Stop serving and close the listening socket."""
    hub.server.shutdown()
    hub.server.server_close()
