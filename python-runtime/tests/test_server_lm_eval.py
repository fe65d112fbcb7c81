"""lm-evaluation-harness's `local-completions` model against a served tiny stack, on CPU: a
log-likelihood (multiple-choice) task and a generation task, from local task files and data, run
by lm_eval.simple_evaluate with its default settings. It finds the server's own tokenizer through
/tokenizer_info and /tokenize, scores with echo + logprobs, and the log-likelihoods it reports are
the engine's own."""

import json

import openai
import pytest
import torch

from runtime_stacks import TINY_LLAMA, Server, materialize
from vibeserve_runtime.engine import Engine

SPEC = {**TINY_LLAMA, "name": "tiny", "params": {"max_model_len": 256, "max_batch_size": 4}}
DOCS = [
    {"question": "The sky is", "choices": [" blue", " green", " loud"], "label": 0},
    {"question": "Two plus two is", "choices": [" four", " five"], "label": 0},
]
TASKS = {
    "vibeserve_mc": {
        "output_type": "multiple_choice",
        "doc_to_text": "{{question}}",
        "doc_to_choice": "{{choices}}",
        "doc_to_target": "label",
        "metric_list": [{"metric": "acc"}],
    },
    "vibeserve_gen": {
        "output_type": "generate_until",
        "doc_to_text": "{{question}}",
        "doc_to_target": "{{choices[label]}}",
        "generation_kwargs": {"until": ["\n"], "max_gen_toks": 8},
        "metric_list": [{"metric": "exact_match"}],
    },
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    return materialize(tmp_path_factory.mktemp("lm-eval"), SPEC)


def _write_tasks(root):
    data = root / "docs.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    for name, body in TASKS.items():  # YAML is a superset of JSON
        task = {
            "task": name,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(data)}},
            "test_split": "test",
            **body,
        }
        (root / f"{name}.yaml").write_text(json.dumps(task))


def _engine_loglikelihood(stack, context: str, continuation: str) -> float:
    engine = Engine.from_spec(json.loads((stack / "stack.json").read_text()))
    ctx, cont = engine.tokenizer.encode(context), engine.tokenizer.encode(continuation)
    lp = torch.log_softmax(engine.teacher_forced_logits(ctx, cont[:-1]), dim=-1)
    return sum(lp[i, t].item() for i, t in enumerate(cont))


def test_lm_eval_local_completions_runs_loglikelihood_and_generation(stack, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")  # local data only: nothing may come from a hub
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import lm_eval
    from lm_eval.tasks import TaskManager

    _write_tasks(tmp_path)
    server = Server(stack)
    try:
        out = lm_eval.simple_evaluate(
            model="local-completions",
            model_args={"base_url": server.url + "/v1/completions", "model": "tiny"},
            tasks=list(TASKS),
            task_manager=TaskManager(include_path=str(tmp_path)),
            log_samples=True,
        )
        assert out["results"]["vibeserve_mc"]["acc,none"] in (0.0, 0.5, 1.0)
        assert out["results"]["vibeserve_gen"]["exact_match,none"] in (0.0, 0.5, 1.0)

        first = next(s for s in out["samples"]["vibeserve_mc"] if s["doc"]["question"] == "The sky is")
        scored = [r[0][0] for r in first["resps"]]
        want = [_engine_loglikelihood(stack, *first["arguments"][i]) for i in range(len(DOCS[0]["choices"]))]
        assert scored == pytest.approx(want, abs=1e-3)

        client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
        for sample in out["samples"]["vibeserve_gen"]:
            greedy = (
                client.completions.create(
                    model="tiny", prompt=sample["doc"]["question"], max_tokens=8, temperature=0, stop=["\n"]
                )
                .choices[0]
                .text
            )
            assert sample["resps"][0][0] == greedy
    finally:
        server.close()
