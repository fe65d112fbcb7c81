"""Prometheus metrics of the server (names follow vLLM's, under the vibeserve: prefix)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0)


class ServerMetrics:
    def __init__(self, aengine):
        r = self.registry = CollectorRegistry()
        snap = lambda k, d=0: lambda: aengine.snapshot.get(k, d) or 0
        self.requests = Counter("vibeserve:request_success", "Finished requests", ["finished_reason"], registry=r)
        self.errors = Counter("vibeserve:request_errors", "Requests answered with an error", ["status"], registry=r)
        self.prompt_tokens = Counter("vibeserve:prompt_tokens", "Prompt tokens processed", registry=r)
        self.generation_tokens = Counter("vibeserve:generation_tokens", "Tokens generated", registry=r)
        self.ttft = Histogram(
            "vibeserve:time_to_first_token_seconds", "Time to first token", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.e2e = Histogram(
            "vibeserve:e2e_request_latency_seconds", "End-to-end request latency", buckets=_LATENCY_BUCKETS, registry=r
        )
        Gauge("vibeserve:num_requests_running", "Requests being decoded", registry=r).set_function(snap("num_running"))
        Gauge("vibeserve:num_requests_waiting", "Requests waiting to be scheduled", registry=r).set_function(
            snap("num_waiting")
        )
        Gauge("vibeserve:num_requests_in_flight", "Requests accepted and not finished", registry=r).set_function(
            lambda: aengine.in_flight
        )
        Gauge("vibeserve:num_requests_aborted", "Requests aborted (client gone)", registry=r).set_function(
            lambda: aengine.num_aborted
        )

        def kv_usage():
            s = aengine.snapshot
            if s.get("kv_blocks_total"):
                return s.get("kv_blocks_used", 0) / s["kv_blocks_total"]
            cap = s.get("kv_tokens_capacity") or 0
            return (s.get("kv_tokens_used", 0) / cap) if cap else 0.0

        Gauge("vibeserve:kv_cache_usage_perc", "Fraction of the KV cache in use (1 = full)", registry=r).set_function(
            kv_usage
        )
        Gauge(
            "vibeserve:prefix_cache_hit_tokens", "Prompt tokens served from the prefix cache", registry=r
        ).set_function(snap("prefix_cache_hit_tokens"))
        # speculation (engine/verify_step.py): draft tokens proposed and accepted, as vLLM's spec_decode counters
        Gauge("vibeserve:spec_decode_num_draft_tokens", "Draft tokens verified", registry=r).set_function(
            snap("spec_draft_tokens")
        )
        Gauge("vibeserve:spec_decode_num_accepted_tokens", "Draft tokens accepted", registry=r).set_function(
            snap("spec_accepted_tokens")
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
