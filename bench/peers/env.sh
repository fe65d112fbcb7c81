# Source on the GPU host before running vLLM (install_vllm.sh and serve_vllm.sh do):
#   source bench/peers/env.sh
# The vLLM bundle lives outside the host's Python, in a tree that install_vllm.sh unpacks.
export VIBESERVE_PEERS=${VIBESERVE_PEERS:-/tmp/vibeserve-peers}
export PYTHONPATH=$VIBESERVE_PEERS/site${PYTHONPATH:+:$PYTHONPATH}
# the host has no network: never try the Hub, never report usage
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
# flashinfer is not in the bundle: vLLM's own PyTorch/Triton top-k/top-p sampler instead (attention uses FA3)
export VLLM_USE_FLASHINFER_SAMPLER=0
# compile and kernel caches in /tmp, which the host keeps while it stays up
export VLLM_CACHE_ROOT=$VIBESERVE_PEERS/cache/vllm XDG_CACHE_HOME=$VIBESERVE_PEERS/cache/xdg
export TRITON_CACHE_DIR=$VIBESERVE_PEERS/cache/triton TORCHINDUCTOR_CACHE_DIR=$VIBESERVE_PEERS/cache/inductor
export PYTHONUNBUFFERED=1
