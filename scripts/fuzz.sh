#!/usr/bin/env bash
# Coverage-guided fuzzing (atheris) of every attacker-facing parser, each for a bounded time.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 15 seconds each, all targets
#   FUZZ_WORKDIR=dir scripts/fuzz.sh 3600     keep corpora between runs (default: a temp dir)
#   FUZZ_CRASHERS=dir                         where findings are copied (default tests/fuzz/crashers)
#
# Targets: saml_sp id_token oidc_callback sts_web_identity sts_saml qbusiness_request
# (tests/fuzz/targets/). A finding (an exception other than the target's typed refusal,
# or one input slower than FUZZ_INPUT_TIMEOUT seconds) stops that target; its input is
# copied to tests/fuzz/crashers/<target>-<name> and the script exits 1.
# Needs atheris==3.0.0 in .venv (pip install atheris==3.0.0).
set -u -o pipefail

cd "$(dirname "$0")/.."
seconds="${1:-15}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(saml_sp id_token oidc_callback sts_web_identity sts_saml qbusiness_request)
fi
python="${PYTHON:-.venv/bin/python}"
input_timeout="${FUZZ_INPUT_TIMEOUT:-10}"
workdir="${FUZZ_WORKDIR:-$(mktemp -d)}"
crashers="${FUZZ_CRASHERS:-tests/fuzz/crashers}"
mkdir -p "$crashers"
status=0

for target in "${targets[@]}"; do
  corpus="$workdir/corpus/$target"
  artifacts="$workdir/artifacts/$target/"
  mkdir -p "$corpus" "$artifacts"
  echo "== fuzz $target for ${seconds}s"
  if ! "$python" -m tests.fuzz.atheris_main "$target" \
      -max_total_time="$seconds" -timeout="$input_timeout" -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" \
      >"$workdir/$target.log" 2>&1; then
    echo "!! $target: finding (log: $workdir/$target.log)"
    tail -40 "$workdir/$target.log"
    status=1
  fi
  for artifact in "$artifacts"*; do
    [ -e "$artifact" ] || continue
    cp "$artifact" "$crashers/$target-$(basename "$artifact")"
    echo "!! $target: input saved as $crashers/$target-$(basename "$artifact")"
    status=1
  done
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$workdir/$target.log" \
    | sed "s/^/   $target /" || true
done
exit "$status"
