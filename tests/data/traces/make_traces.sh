#!/usr/bin/env bash
# Regenerates the small stored traces the trace-reader tests read, from real runs on this
# machine's CPU (one short trace window each; a few seconds per framework):
#   torch_convnet.trace.json.gz     torch.profiler Chrome trace (shapes + memory events)
#   jax_mlp.xplane.pb.gz            jax.profiler XPlane (read through xprof)
#   jax_mlp.trace.json.gz           the Chrome trace jax.profiler writes beside it
#   tf_mlp.xplane.pb.gz             tf.profiler XPlane (tf.function + XLA)
#   tf_mlp_noxla.xplane.pb.gz       tf.profiler XPlane (tf.function without XLA: real TF ops)
# XPlanes are stored gzipped; the reader opens `.xplane.pb.gz` directly.
# Usage: tests/data/traces/make_traces.sh   (from anywhere; needs the project's .venv)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
py="$root/.venv/bin/python"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"

run() {  # run <name> <args...>: one real run whose artifacts land in $work/<name>
  local name="$1"; shift
  "$py" main.py run "$@" --steps 1 --warmup 1 --trace-steps 2 --no-eval \
    --out-dir "$work/$name" --session "$work/session.stepscope" >"$work/$name.log" 2>&1 \
    || { cat "$work/$name.log" >&2; exit 1; }
}

run torch --framework torch --workload convnet --batch-size 4
run jax --framework jax --workload mlp --batch-size 4
run tf --framework tf --workload mlp --batch-size 4
run tfnoxla --framework tf --workload mlp --batch-size 4 --variant compiled

one() {  # one <glob>: the single file a run wrote
  local matches=( $1 )
  [ "${#matches[@]}" -eq 1 ] && [ -f "${matches[0]}" ] || { echo "expected one file for $1, got: ${matches[*]}" >&2; exit 1; }
  echo "${matches[0]}"
}

gzip -d -c "$(one "$work/torch/torch.trace.json.gz")" | gzip -9 -n > "$here/torch_convnet.trace.json.gz"  # -n: no name/time in the header
gzip -9 -n -c "$(one "$work/jax/plugins/profile/*/*.xplane.pb")" > "$here/jax_mlp.xplane.pb.gz"
gzip -d -c "$(one "$work/jax/plugins/profile/*/*.trace.json.gz")" | gzip -9 -n > "$here/jax_mlp.trace.json.gz"
gzip -9 -n -c "$(one "$work/tf/plugins/profile/*/*.xplane.pb")" > "$here/tf_mlp.xplane.pb.gz"
gzip -9 -n -c "$(one "$work/tfnoxla/plugins/profile/*/*.xplane.pb")" > "$here/tf_mlp_noxla.xplane.pb.gz"
ls -l "$here"
