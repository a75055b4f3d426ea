#!/usr/bin/env bash
# Mutation testing (mutmut): does a test fail when the code it guards is changed?
#
#   scripts/mutate.sh [identity|web|sts]...   (no argument: all three areas)
#
# Each area runs in its own copy of src/, tests/ and pyproject.toml under build/mutate/<area>/,
# so mutmut's mutants/ tree never lands in the work tree and areas do not share state (a second
# run re-tests only what changed). Each mutant runs only the unit and adversarial tests that
# call the mutated function (mutmut records this first), chosen from the area's unit and
# adversarial test files (no browser, no third-party peers), with a per-test timeout.
# Lines that are only message prose (a string literal alone on its line, or remedy="...") are
# not mutated: wording is not behaviour, and tests pin reasons and message fragments instead.
# Prints killed/total per area; exits 0 whatever the score.
# A second run keeps earlier verdicts, tests new mutants, and re-tests the earlier survivors
# and untested mutants against the current tests (so a test written for a survivor shows up
# in the figure).
# Environment: MUTATE_CHILDREN (parallel mutants, default 1), MUTATE_TEST_TIMEOUT (seconds, 60),
# MUTATE_BASELINE=1 (a fresh run without the tests written for mutants, tests/unit/
# test_mutation_<area>.py: the "before" figure).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MUTMUT="$ROOT/.venv/bin/mutmut"
if [[ ! -x $MUTMUT ]]; then
  echo "mutate: $MUTMUT is missing: run 'make install' first" >&2
  exit 2
fi

# What each area mutates (mutmut only_mutate globs, one a line).
area_globs() {
  case $1 in
    identity) printf '%s\n' "src/qbizfed/identity/*" src/qbizfed/url_policy.py ;;
    web)
      # Sign-in (OIDC relying party, SAML service provider, their routes) and CSRF.
      printf '%s\n' src/qbizfed/web/csrf.py src/qbizfed/web/oidc_relying_party.py \
        src/qbizfed/web/saml_service_provider.py src/qbizfed/web/routes_oidc.py \
        src/qbizfed/web/routes_saml.py ;;
    sts)
      # The local STS's validation; the HTTP plumbing (service.py, responses.py) is left out.
      printf '%s\n' src/qbizfed/local/sts/authorization.py src/qbizfed/local/sts/conditions.py \
        src/qbizfed/local/sts/jwks.py src/qbizfed/local/sts/parameters.py \
        src/qbizfed/local/sts/saml_response.py src/qbizfed/local/sts/saml_xml.py \
        src/qbizfed/local/sts/session_tags.py src/qbizfed/local/sts/trust_policy.py \
        src/qbizfed/local/sts/web_identity.py ;;
    *) echo "mutate: unknown area '$1' (identity, web, sts)" >&2; exit 2 ;;
  esac
}

# Which unit and adversarial test files exercise an area (those importing it or its drivers).
# Keep this list stable between runs: a changed selection makes mutmut re-test everything.
area_tests() {
  local pattern
  case $1 in
    identity)
      # Only the fast in-process identity tests: the web, creds and STS tests that also reach
      # identity/ cost seconds per mutant each (the run would take hours on 2 shared cores).
      (cd "$ROOT" && ls tests/unit/test_identity_*.py tests/unit/test_mutation_identity*.py \
        tests/adversarial/test_identity_*.py)
      return ;;
    web) pattern='qbizfed\.web|dev_idp_broker' ;;
    sts) pattern='qbizfed\.local\.sts|saml_assertions|oidc_issuer|local_aws|admin_client' ;;
  esac
  # The tests written for one area's mutants (tests/unit/test_mutation_<area>.py) join only
  # that area, so adding them never changes another area's selection (which would reset it).
  (cd "$ROOT" && grep -lE "$pattern" tests/unit/test_*.py tests/adversarial/test_*.py) \
    | awk -v own="tests/unit/test_mutation_$1.py" '!/\/test_mutation_/ || $0 == own'
}

run_area() {
  local area=$1 work="$ROOT/build/mutate/$1"
  local globs tests; globs=$(area_globs "$area"); tests=$(area_tests "$area")
  local rerun=0
  [[ -d $work/mutants ]] && rerun=1
  mkdir -p "$work"
  # cp -p keeps the files' times, so a second run re-mutates only what changed.
  rm -rf "$work/src" "$work/tests"
  cp -Rp "$ROOT/src" "$ROOT/tests" "$ROOT/pyproject.toml" "$work/"
  find "$work/src" "$work/tests" -name __pycache__ -prune -exec rm -rf {} +
  if [[ ${MUTATE_BASELINE:-0} == 1 ]]; then
    find "$work/tests" -name 'test_mutation_*.py' \
      -exec sh -c 'echo "\"\"\"Left out of the baseline run.\"\"\"" >"$1"' _ {} \;
  fi
  {
    echo "[mutmut]"
    echo "source_paths = src"
    echo "only_mutate ="
    sed 's/^/    /' <<<"$globs"
    echo "do_not_mutate_patterns ="
    echo "    ^\\s*f?\"[^\"]* [^\"]*\"\\s*[,)]?\\s*\$"
    echo "    ^\\s*f?'[^']* [^']*'\\s*[,)]?\\s*\$"
    echo "    ^\\s*remedy=f?[\"']"
    echo "pytest_add_cli_args_test_selection ="
    sed 's/^/    /' <<<"$tests"
    echo "pytest_add_cli_args ="
    echo "    -p"
    echo "    no:cacheprovider"
    echo "    -m"
    echo "    not browser and not peers"
    echo "    --timeout=${MUTATE_TEST_TIMEOUT:-60}"
    echo "use_git_change_detection = false"
  } >"$work/setup.cfg"
  echo "== mutate $area"
  (cd "$work" && "$MUTMUT" run --max-children "${MUTATE_CHILDREN:-1}" >"$work/run.log" 2>&1) || {
    echo "mutate: mutmut failed for $area; see $work/run.log" >&2
    tail -20 "$work/run.log" >&2
    return 1
  }
  if [[ $rerun == 1 ]]; then
    local survivors
    # and those no test reached before (a new test may reach them now).
    survivors=$(cd "$work" && "$MUTMUT" results | sed -n 's/^ *\(.*\): \(survived\|no tests\)$/\1/p')
    if [[ -n $survivors ]]; then
      # shellcheck disable=SC2086  # one argument per mutant name
      (cd "$work" && "$MUTMUT" run --max-children "${MUTATE_CHILDREN:-1}" $survivors \
        >>"$work/run.log" 2>&1) || true
    fi
  fi
  (cd "$work" && "$MUTMUT" export-cicd-stats >/dev/null && "$MUTMUT" results >"$work/survivors.txt")
  "$ROOT/.venv/bin/python" - "$area" "$work/mutants/mutmut-cicd-stats.json" <<'EOF'
import json, sys
area, path = sys.argv[1], sys.argv[2]
s = json.load(open(path))
killed = s["killed"] + s["timeout"]
print(f"{area}: {killed}/{s['total']} killed "
      f"({s['survived']} survived, {s['no_tests']} without a test, {s['timeout']} by timeout, "
      f"{s['suspicious']} suspicious, {s['skipped']} skipped)")
EOF
  if [[ -s $work/survivors.txt ]]; then
    echo "   survivors: $work/survivors.txt (see one: cd $work && $MUTMUT show NAME)"
  fi
}

areas=("$@")
[[ ${#areas[@]} -gt 0 ]] || areas=(identity web sts)
for area in "${areas[@]}"; do run_area "$area"; done
